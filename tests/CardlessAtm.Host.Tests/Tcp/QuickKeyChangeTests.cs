using CardlessAtm.Host.Seeding;
using CardlessAtm.Host.Tests.Support;
using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Mac;
using CardlessAtm.Network;
using Microsoft.Extensions.Time.Testing;

namespace CardlessAtm.Host.Tests.Tcp;

/// <summary>
/// Issue 12, old finding 7, through the real listener and the real SQLite store: the host kept one previous key version
/// for in-flight messages, so two key changes in quick succession pruned the version a still-in-flight 0200 (or a
/// queued reversal) was MACed under. Now every replaced version is kept for Host:Policy:PreviousKeyGrace from its
/// supersession (a bounded number of them), whatever happens in between. The listener's clock is a FakeTimeProvider.
/// </summary>
public sealed class QuickKeyChangeTests
{
    [Fact]
    public async Task A_withdrawal_maced_before_two_quick_key_changes_is_still_served_and_refused_after_the_grace()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = await HostHarness.StartAsync(o => o.IdleTimeout = TimeSpan.FromHours(1), time);
        var inFlight = h.Withdrawal(0, 1_000); // MACed under the ATM's key version 1
        var lateEcho = SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.EchoTest, DemoSeed.AtmId);
        MessageMac.Apply(lateEcho, h.Atm.IsoMac);

        await h.Atm.SignOnAndChangeKeysAsync(); // version 2
        await h.Atm.SignOnAndChangeKeysAsync(); // version 3, a moment later
        var balance = await h.BalanceAsync(0);

        Assert.Equal(ResponseCodes.Approved, (await h.Atm.SendAsync(inFlight)).ResponseCode);
        Assert.Equal(balance - 1_000, await h.BalanceAsync(0));

        time.Advance(TimeSpan.FromMinutes(2) + TimeSpan.FromSeconds(1)); // Host:Policy:PreviousKeyGrace of version 1 is over
        Assert.Equal(ResponseCodes.SecurityViolation, (await h.Atm.SendAsync(lateEcho)).ResponseCode);
    }
}
