using CardlessAtm.Host.Storage;
using CardlessAtm.Host.Tests.Support;
using CardlessAtm.Iso8583;
using CardlessAtm.Network;

namespace CardlessAtm.Host.Tests.InProcess;

/// <summary>
/// The terminal answers an authentic 94 (or 96, 91, …) to its 0200 with a full reversal, reason 06 (unknown outcome):
/// the host must credit it when an attacker's earlier copy of the same 0200 was approved, acknowledge it without
/// crediting when it never approved one, and acknowledge its repeat without crediting twice. Balances, reversal rows
/// and the ledger invariant are asserted.
/// </summary>
public sealed class UnknownOutcomeReversalTests : IAsyncLifetime
{
    private InProcessHost _h = null!;

    public async Task InitializeAsync() => _h = await InProcessHost.StartAsync();

    public async Task DisposeAsync() => await _h.DisposeAsync();

    [Fact]
    public async Task The_reversal_after_a_94_for_a_front_run_copy_credits_the_attackers_approval_once()
    {
        var before = await _h.BalanceAsync(0);
        var request = _h.Withdrawal(0, 8_000);
        Assert.Equal(ResponseCodes.Approved, (await _h.SendAsync(request)).ResponseCode); // the attacker's copy, first
        Assert.Equal(ResponseCodes.DuplicateTransmission, (await _h.SendAsync(request)).ResponseCode); // the ATM's own 0200
        Assert.Equal(before - 8_000, await _h.BalanceAsync(0));

        var answer = await _h.SendAsync(_h.Atm.Reversal(request, reasonCode: ReversalReasons.UnknownOutcome));

        Assert.Equal((Mti.ReversalAdviceResponse, ResponseCodes.Approved), (answer.Mti, answer.ResponseCode));
        Assert.Equal(before, await _h.BalanceAsync(0));
        var reversal = (await _h.ReversalAsync(request))!;
        Assert.Equal((ReversalOutcomeKind.Applied, 8_000L, 0L, 0L, ReversalReasons.UnknownOutcome), (reversal.Outcome, reversal.CreditedMinor, reversal.DispensedMinor, reversal.SuspectMinor, reversal.ReasonCode));

        var repeat = await _h.SendAsync(_h.Atm.Reversal(request, repeat: true, reasonCode: ReversalReasons.UnknownOutcome));

        Assert.Equal(ResponseCodes.Approved, repeat.ResponseCode);
        Assert.Equal(before, await _h.BalanceAsync(0));
        Assert.True((await _h.TotalsAsync()).Balances);
    }

    [Fact]
    public async Task The_reversal_after_an_unknown_outcome_the_host_never_approved_is_acknowledged_and_credits_nothing()
    {
        var before = await _h.BalanceAsync(0);
        var neverApproved = _h.Withdrawal(0, 8_000);

        var answer = await _h.SendAsync(_h.Atm.Reversal(neverApproved, reasonCode: ReversalReasons.UnknownOutcome));

        Assert.Equal((Mti.ReversalAdviceResponse, ResponseCodes.Approved), (answer.Mti, answer.ResponseCode));
        Assert.Equal(before, await _h.BalanceAsync(0));
        var reversal = (await _h.ReversalAsync(neverApproved))!;
        Assert.Equal((ReversalOutcomeKind.Unmatched, 0L, ReversalReasons.UnknownOutcome), (reversal.Outcome, reversal.CreditedMinor, reversal.ReasonCode));
        Assert.True((await _h.TotalsAsync()).Balances);
    }
}
