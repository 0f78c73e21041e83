using CardlessAtm.Host.Authorisation;
using CardlessAtm.Host.Processing;
using CardlessAtm.Host.Storage;
using CardlessAtm.Host.Tests.Support;
using CardlessAtm.Iso8583;
using CardlessAtm.Network;

namespace CardlessAtm.Host.Tests.InProcess;

/// <summary>
/// What the adversary read of the sign-on hardening found (issue 12), each seen passing as an attack on the code before
/// its fix: a failed sign-on write left the session signed on, a blocked ATM's replayed sign-on wrote a row per replay,
/// a spent row budget hid a second ATM's flapping alert, and a connection signed on as two ATMs was closed by the first's.
/// </summary>
public sealed class SignOnAdversaryTests
{
    [Fact]
    public async Task A_sign_on_whose_ledger_write_fails_is_answered_91_and_leaves_the_connection_not_signed_on()
    {
        await using var h = await InProcessHost.StartAsync();
        h.Processor.BeforeSignOnRecorded = _ => throw new StoreUnavailableException("simulated: the write never commits");
        var session = new HostSession("10.0.0.1");
        var signedOff = 0;
        session.SignedOff += () => signedOff++;

        var answer = await h.Processor.HandleAsync(h.Atm.NetworkManagement(NetworkManagementCodes.SignOn), session);

        Assert.Equal(ResponseCodes.IssuerUnavailable, answer?.ResponseCode);
        Assert.False(session.IsSignedOnAs(h.Atm.AtmId));
        Assert.Equal(1, signedOff); // the listener un-authenticates the connection: evictable, on the sign-on deadline again

        // The ATM signs on again once the ledger is back, over the same connection.
        h.Processor.BeforeSignOnRecorded = null;
        Assert.Equal(ResponseCodes.Approved, (await h.Processor.HandleAsync(h.Atm.NetworkManagement(NetworkManagementCodes.SignOn), session))?.ResponseCode);
        Assert.True(session.IsSignedOnAs(h.Atm.AtmId));
    }

    [Fact]
    public async Task Replays_of_a_blocked_atms_sign_on_are_audited_through_the_throttle_not_once_each()
    {
        await using var h = await InProcessHost.StartAsync(new HostPolicy { RefusalAuditMaxRows = 5 });
        var captured = h.Atm.NetworkManagement(NetworkManagementCodes.SignOn);
        await h.Host.Administration.SetAtmStatusAsync(h.Atm.AtmId, AtmStatus.Blocked);
        var before = (await h.Host.Store.ReadAsync(r => r.GetRecentAudit(100_000))).Count;

        for (var i = 0; i < 200; i++)
        {
            var answer = await h.Processor.HandleAsync(captured, new HostSession("10.6.6.6"));
            Assert.Equal(ResponseCodes.InvalidTransaction, answer?.ResponseCode);
        }

        var rows = (await h.Host.Store.ReadAsync(r => r.GetRecentAudit(100_000))).Count - before;
        Assert.InRange(rows, 1, 5);
    }

    [Fact]
    public async Task A_spent_row_budget_does_not_hide_a_second_atms_flapping_alert()
    {
        await using var h = await InProcessHost.StartAsync(new HostPolicy { RefusalAuditMaxRows = 1, SupersedeAlertThreshold = 2 });
        var atm2 = h.NewAtm("ATM00002", (await h.Host.Administration.AddAtmAsync("ATM00002", "second", 978)).MasterKey);
        await h.Processor.HandleAsync(SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.SignOn, "ZZZ99999"), new HostSession("10.6.6.6")); // spends the budget

        foreach (var atm in new[] { h.Atm, atm2 })
        {
            for (var i = 0; i < 3; i++)
            {
                Assert.Equal(ResponseCodes.Approved, (await h.Processor.HandleAsync(atm.NetworkManagement(NetworkManagementCodes.SignOn), new HostSession("10.0.0." + i)))?.ResponseCode);
            }
        }

        var alerts = (await h.Host.Store.ReadAsync(r => r.GetRecentAudit(10_000))).Where(a => a.Event == "security.sign-on-flapping").ToList();
        Assert.Contains(alerts, a => a.AtmId == h.Atm.AtmId);
        Assert.Contains(alerts, a => a.AtmId == "ATM00002");
    }

    [Fact]
    public async Task A_connection_signed_on_as_one_atm_then_another_is_not_closed_when_the_first_signs_on_elsewhere()
    {
        await using var h = await InProcessHost.StartAsync();
        var atm2 = h.NewAtm("ATM00002", (await h.Host.Administration.AddAtmAsync("ATM00002", "second", 978)).MasterKey);
        var shared = new HostSession("10.0.0.9");
        var superseded = 0;
        shared.Superseded += () => superseded++;

        Assert.Equal(ResponseCodes.Approved, (await h.Processor.HandleAsync(h.Atm.NetworkManagement(NetworkManagementCodes.SignOn), shared))?.ResponseCode);
        Assert.Equal(ResponseCodes.Approved, (await h.Processor.HandleAsync(atm2.NetworkManagement(NetworkManagementCodes.SignOn), shared))?.ResponseCode);
        Assert.Equal(ResponseCodes.Approved, (await h.Processor.HandleAsync(h.Atm.NetworkManagement(NetworkManagementCodes.SignOn), new HostSession("10.0.0.10")))?.ResponseCode);

        Assert.Equal(0, superseded);
        Assert.True(shared.IsSignedOnAs("ATM00002"));
    }
}
