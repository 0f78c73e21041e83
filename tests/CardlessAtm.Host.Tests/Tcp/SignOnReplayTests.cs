using CardlessAtm.Host.Seeding;
using CardlessAtm.Host.Tests.Support;
using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Mac;
using CardlessAtm.Network;

namespace CardlessAtm.Host.Tests.Tcp;

/// <summary>
/// Adversary review of issue 12, finding 1, through the real listener on loopback: an 0800/001 has no nonce, so one
/// sign-on recorded on a plain link verified again on every socket it was replayed on, marked each connection signed on
/// and authenticated (never evicted), and a handful of replays filled the host's slots and locked the real ATM out. Now
/// a sign-on must be fresh (field 7 within Host:Policy:SignOnFreshness of the host's clock) and unused (the host keeps
/// the MACs of the sign-ons it accepted until they go stale), and an ATM holds at most one signed-on connection: a newer
/// valid sign-on supersedes the older connection, which the host closes.
/// </summary>
public sealed class SignOnReplayTests
{
    [Fact]
    public async Task Replayed_sign_ons_on_many_sockets_are_refused_and_do_not_lock_the_real_ATM_out()
    {
        const int slots = 6;
        await using var h = await HostHarness.StartAsync(o =>
        {
            o.MaxConnections = slots;
            o.MaxConnectionsBeforeSignOn = slots;
            o.MaxConnectionsPerAddress = slots;
        });
        var recorded = h.Atm.LastSignOn!; // the ATM's authentic sign-on, as a tap on the plain link saw it

        var replayers = new List<RawLink>();
        var answers = new List<IsoMessage?>();
        for (var i = 0; i < slots - 1; i++)
        {
            var link = await RawLink.ConnectAsync(h.Host.LocalEndPoint);
            replayers.Add(link);
            answers.Add(await link.SendAsync(recorded));
        }

        Assert.All(answers, a => Assert.Equal(ResponseCodes.SecurityViolation, a?.ResponseCode));
        Assert.Contains(await h.AuditAsync(10), a => a.Event == "security.sign-on-refused" && a.AtmId == DemoSeed.AtmId);

        // The real ATM dials in again (every slot is taken): it evicts a replaying socket, signs on and withdraws.
        await using var atm = await h.ConnectAtmAsync();
        var balance = await h.BalanceAsync(0);
        var request = atm.Withdrawal(h.Phones[0].Request(atm.IssueSession(2_000), h.Customer(0).AccountId, h.Customer(0).Pin));
        Assert.Equal(ResponseCodes.Approved, (await atm.SendCheckedAsync(request)).ResponseCode);
        Assert.Equal(balance - 2_000, await h.BalanceAsync(0));

        foreach (var link in replayers)
        {
            await link.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_sign_on_recorded_before_a_host_restart_is_refused_after_it()
    {
        // Issue 12, finding M2 (a): the single-use memory was held in memory only, so right after a restart a sign-on
        // recorded within Host:Policy:SignOnFreshness was accepted once more and superseded the real ATM's link.
        using var dir = new TempDirectory();
        var options = HostHarness.Options(dir);
        IsoMessage recorded;
        DemoSeedResult seed;
        await using (var before = await Server.HostServer.StartAsync(options))
        {
            seed = await DemoSeed.SeedAsync(before);
            await using var atm = new SimulatedAtm(before.Profile, DemoSeed.AtmId, seed.Atm.MasterKey, before.LocalEndPoint);
            await atm.ConnectAsync();
            await atm.SignOnAndChangeKeysAsync();
            recorded = atm.LastSignOn!; // what a tap on the link saw
        }

        using (seed)
        {
            await using var after = await Server.HostServer.StartAsync(options);
            await using var replayer = await RawLink.ConnectAsync(after.LocalEndPoint);

            Assert.Equal(ResponseCodes.SecurityViolation, (await replayer.SendAsync(recorded))?.ResponseCode);

            var audit = await after.Store.ReadAsync(r => r.GetRecentAudit(5));
            Assert.Contains(audit, a => a.Event == "security.sign-on-refused" && a.Detail.Contains("already accepted once", StringComparison.Ordinal));
            await using var atm = new SimulatedAtm(after.Profile, DemoSeed.AtmId, seed.Atm.MasterKey, after.LocalEndPoint);
            await atm.ConnectAsync();
            await atm.SignOnAndChangeKeysAsync(); // the real ATM signs on afresh: 00
        }
    }

    [Fact]
    public async Task An_authentic_but_stale_sign_on_is_refused_and_changes_nothing()
    {
        await using var h = await HostHarness.StartAsync();
        var stale = h.Atm.NetworkManagement(NetworkManagementCodes.SignOn);
        stale.SetTransmissionDateTime(DateTimeOffset.UtcNow - TimeSpan.FromMinutes(10));
        MessageMac.Apply(stale, h.Atm.KeyChangeMac); // authentic: MACed under the ATM's key, only old
        await using var link = await RawLink.ConnectAsync(h.Host.LocalEndPoint);

        var answer = await link.SendAsync(stale);

        Assert.Equal(ResponseCodes.SecurityViolation, answer?.ResponseCode);
        Assert.Contains(await h.AuditAsync(5), a => a.Event == "security.sign-on-refused" && a.Detail.Contains("stale", StringComparison.Ordinal));
        Assert.Equal(ResponseCodes.Approved, (await h.Atm.SendCheckedAsync(h.Withdrawal(0, 1_000))).ResponseCode);
    }

    [Fact]
    public async Task A_sign_on_without_field_7_is_refused_30_naming_the_field()
    {
        await using var h = await HostHarness.StartAsync();
        var undated = h.Atm.NetworkManagement(NetworkManagementCodes.SignOn);
        undated.Remove(7);
        MessageMac.Apply(undated, h.Atm.KeyChangeMac);
        await using var link = await RawLink.ConnectAsync(h.Host.LocalEndPoint);

        var answer = await link.SendAsync(undated);

        Assert.Equal(ResponseCodes.FormatError, answer?.ResponseCode);
        Assert.Contains(await h.AuditAsync(5), a => a.Event == "security.sign-on-refused" && a.Detail.Contains("field 7", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_newer_sign_on_of_the_same_ATM_supersedes_the_older_connection()
    {
        await using var h = await HostHarness.StartAsync();
        var request = h.Withdrawal(0, 1_000);
        await using var oldLink = await RawLink.ConnectAsync(h.Host.LocalEndPoint);
        Assert.Equal(ResponseCodes.Approved, (await oldLink.SendAsync(h.Atm.NetworkManagement(NetworkManagementCodes.SignOn)))?.ResponseCode);

        await using var newLink = await RawLink.ConnectAsync(h.Host.LocalEndPoint);
        Assert.Equal(ResponseCodes.Approved, (await newLink.SendAsync(h.Atm.NetworkManagement(NetworkManagementCodes.SignOn)))?.ResponseCode);

        // The older connection is closed by the host; a withdrawal on it is never served.
        Assert.True(await oldLink.IsClosedByHostAsync());
        Assert.Null(await oldLink.SendAsync(request));
        var balance = await h.BalanceAsync(0);
        Assert.Equal(ResponseCodes.Approved, (await newLink.SendAsync(request))?.ResponseCode);
        Assert.Equal(balance - 1_000, await h.BalanceAsync(0));
    }
}

/// <summary>
/// Issue 12, finding M1 (host side): two devices holding the same terminal master key supersede each other's link on
/// every sign-on, for ever, and nothing told an operator. Now the host counts supersedes per ATM within
/// Host:Policy:SupersedeAlertWindow and, at Host:Policy:SupersedeAlertThreshold, writes a throttled security alert.
/// The listener's clock is a FakeTimeProvider that does not move: every sign-on falls in one window.
/// </summary>
public sealed class SignOnFlappingTests
{
    [Fact]
    public async Task An_ATM_superseded_again_and_again_raises_one_throttled_alert_naming_it()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = await HostHarness.StartAsync(o => o.Policy = new Authorisation.HostPolicy { SupersedeAlertThreshold = 5 }, time);

        // Each sign-on on a new socket supersedes (and closes) the one before, as two key holders would.
        for (var i = 0; i < 20; i++)
        {
            await using var link = await RawLink.ConnectAsync(h.Host.LocalEndPoint);
            Assert.Equal(ResponseCodes.Approved, (await link.SendAsync(h.Atm.NetworkManagement(NetworkManagementCodes.SignOn)))?.ResponseCode);
        }

        var alerts = (await h.AuditAsync(200)).Where(a => a.Event == "security.sign-on-flapping").ToList();
        var alert = Assert.Single(alerts); // throttled: one row per address and interval
        Assert.Equal(DemoSeed.AtmId, alert.AtmId);
        Assert.Contains("superseded 5 times", alert.Detail, StringComparison.Ordinal);
        Assert.Contains("master key", alert.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_supersede_alert_setting_out_of_range_is_refused_naming_it()
    {
        Assert.Contains("Host:Policy:SupersedeAlertThreshold", Assert.Throws<ArgumentOutOfRangeException>(() => new Authorisation.HostPolicy { SupersedeAlertThreshold = 1 }.Validate()).Message, StringComparison.Ordinal);
        Assert.Contains("Host:Policy:SupersedeAlertWindow", Assert.Throws<ArgumentOutOfRangeException>(() => new Authorisation.HostPolicy { SupersedeAlertWindow = TimeSpan.Zero }.Validate()).Message, StringComparison.Ordinal);
    }
}
