using CardlessAtm.Host.Tests.Support;
using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Mac;
using CardlessAtm.Network;

namespace CardlessAtm.Host.Tests.Tcp;

/// <summary>
/// Issue 12, finding M2 (b) and (c), through the real listener on loopback: a signed-off connection kept its
/// authenticated slot (never evicted, no sign-on deadline), and a sign-off had no freshness and could be replayed.
/// Now a valid 0800/002 returns the connection to "before sign-on", and a sign-off must carry field 7 within
/// Host:Policy:SignOnFreshness and is accepted once.
/// </summary>
public sealed class SignOffTests
{
    [Fact]
    public async Task A_signed_off_connection_cannot_withdraw_and_is_evictable_again()
    {
        await using var h = await HostHarness.StartAsync(o => o.MaxConnectionsBeforeSignOn = 1);

        // A second ATM, so the demo ATM's link stays signed on (a superseded link would reconnect and take the one
        // slot before sign-on itself, racing the newcomer below).
        var added = await h.Host.Administration.AddAtmAsync("ATM00002", "test", 978);
        using var masterKey = added.MasterKey;
        await using var second = new SimulatedAtm(h.Host.Profile, "ATM00002", masterKey, h.Host.LocalEndPoint); // builds messages, never connects
        await using var link = await RawLink.ConnectAsync(h.Host.LocalEndPoint);
        Assert.Equal(ResponseCodes.Approved, (await link.SendAsync(second.NetworkManagement(NetworkManagementCodes.SignOn)))?.ResponseCode);
        Assert.Equal(ResponseCodes.Approved, (await link.SendAsync(second.NetworkManagement(NetworkManagementCodes.SignOff)))?.ResponseCode);
        var withdrawal = h.Withdrawal(0, 1_000);
        withdrawal.TerminalId = "ATM00002";
        Assert.Equal(ResponseCodes.SecurityViolation, (await link.SendAsync(withdrawal))?.ResponseCode); // not signed on any more

        // One slot before sign-on: the newcomer takes the signed-off connection's.
        await using var newcomer = await RawLink.ConnectAsync(h.Host.LocalEndPoint);
        Assert.NotNull(await newcomer.SendAsync(SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.EchoTest, "ATM00002")));

        Assert.True(await link.IsClosedByHostAsync());
    }

    [Fact]
    public async Task A_replayed_sign_off_is_refused_and_the_connection_stays_signed_on()
    {
        await using var h = await HostHarness.StartAsync();
        await using var link = await RawLink.ConnectAsync(h.Host.LocalEndPoint);
        var signOff = h.Atm.NetworkManagement(NetworkManagementCodes.SignOff); // what a tap records
        Assert.Equal(ResponseCodes.Approved, (await link.SendAsync(h.Atm.NetworkManagement(NetworkManagementCodes.SignOn)))?.ResponseCode);
        Assert.Equal(ResponseCodes.Approved, (await link.SendAsync(signOff))?.ResponseCode);
        Assert.Equal(ResponseCodes.Approved, (await link.SendAsync(h.Atm.NetworkManagement(NetworkManagementCodes.SignOn)))?.ResponseCode);

        Assert.Equal(ResponseCodes.SecurityViolation, (await link.SendAsync(signOff))?.ResponseCode);

        Assert.Contains(await h.AuditAsync(5), a => a.Event == "security.sign-off-refused" && a.Detail.Contains("replayed", StringComparison.Ordinal));
        Assert.Equal(ResponseCodes.Approved, (await link.SendAsync(h.Withdrawal(0, 1_000)))?.ResponseCode);
    }

    [Fact]
    public async Task A_stale_or_undated_sign_off_is_refused_and_the_connection_stays_signed_on()
    {
        await using var h = await HostHarness.StartAsync();
        await using var link = await RawLink.ConnectAsync(h.Host.LocalEndPoint);
        Assert.Equal(ResponseCodes.Approved, (await link.SendAsync(h.Atm.NetworkManagement(NetworkManagementCodes.SignOn)))?.ResponseCode);
        var stale = h.Atm.NetworkManagement(NetworkManagementCodes.SignOff);
        stale.SetTransmissionDateTime(DateTimeOffset.UtcNow - TimeSpan.FromMinutes(10));
        MessageMac.Apply(stale, h.Atm.KeyChangeMac); // authentic, only old
        var undated = h.Atm.NetworkManagement(NetworkManagementCodes.SignOff);
        undated.Remove(7);
        MessageMac.Apply(undated, h.Atm.KeyChangeMac);

        Assert.Equal(ResponseCodes.SecurityViolation, (await link.SendAsync(stale))?.ResponseCode);
        Assert.Equal(ResponseCodes.FormatError, (await link.SendAsync(undated))?.ResponseCode);

        Assert.Contains(await h.AuditAsync(5), a => a.Event == "security.sign-off-refused" && a.Detail.Contains("stale", StringComparison.Ordinal));
        Assert.Equal(ResponseCodes.Approved, (await link.SendAsync(h.Withdrawal(0, 1_000)))?.ResponseCode);
    }
}
