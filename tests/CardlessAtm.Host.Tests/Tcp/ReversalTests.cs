using CardlessAtm.Host.Storage;
using CardlessAtm.Host.Tests.Support;
using CardlessAtm.Iso8583;
using CardlessAtm.Network;

namespace CardlessAtm.Host.Tests.Tcp;

public sealed class ReversalTests : IAsyncLifetime
{
    private HostHarness _h = null!;

    public async Task InitializeAsync() => _h = await HostHarness.StartAsync();

    public async Task DisposeAsync() => await _h.DisposeAsync();

    [Fact]
    public async Task A_reversal_delivered_twice_credits_once()
    {
        var original = _h.Withdrawal(0, 20_000);
        Assert.Equal(ResponseCodes.Approved, (await _h.Atm.SendCheckedAsync(original)).ResponseCode);
        Assert.Equal(230_000, await _h.BalanceAsync(0));

        var first = await _h.Atm.SendCheckedAsync(_h.Atm.Reversal(original));
        var repeat = await _h.Atm.SendCheckedAsync(_h.Atm.Reversal(original, repeat: true));

        Assert.Equal((Mti.ReversalAdviceResponse, ResponseCodes.Approved), (first.Mti, first.ResponseCode));
        Assert.Equal((Mti.ReversalAdviceResponse, ResponseCodes.Approved), (repeat.Mti, repeat.ResponseCode));
        Assert.Equal(250_000, await _h.BalanceAsync(0));
        var totals = await _h.TotalsAsync();
        Assert.True(totals.Balances);
        Assert.Equal(20_000, totals.ReversalsMinor);
        Assert.Contains(await _h.AuditAsync(), a => a.Event == "reversal.repeat");
    }

    [Fact]
    public async Task A_partial_dispense_credits_what_was_not_dispensed()
    {
        var original = _h.Withdrawal(0, 20_000);
        await _h.Atm.SendCheckedAsync(original);
        var response = await _h.Atm.SendCheckedAsync(_h.Atm.Reversal(original, dispensedMinor: 15_000));
        Assert.Equal(ResponseCodes.Approved, response.ResponseCode);
        Assert.Equal(250_000 - 15_000, await _h.BalanceAsync(0));
    }

    [Fact]
    public async Task A_reversal_for_an_unknown_transaction_is_acknowledged_and_kept_for_investigation()
    {
        var neverSent = _h.Withdrawal(0, 1_000);
        var response = await _h.Atm.SendCheckedAsync(_h.Atm.Reversal(neverSent));
        Assert.Equal(ResponseCodes.Approved, response.ResponseCode);
        Assert.Equal(250_000, await _h.BalanceAsync(0));
        Assert.Contains(await _h.AuditAsync(), a => a.Event == "reversal.unmatched");
        var report = await _h.Host.Administration.GetDayReportAsync();
        Assert.Equal(1, Assert.Single(report).UnmatchedReversals);

        // The original arriving after its reversal must not be approved.
        Assert.NotEqual(ResponseCodes.Approved, (await _h.Atm.SendCheckedAsync(neverSent)).ResponseCode);
        Assert.Equal(250_000, await _h.BalanceAsync(0));
    }

    [Fact]
    public async Task A_reversal_with_a_bad_mac_changes_nothing()
    {
        var original = _h.Withdrawal(0, 3_000);
        await _h.Atm.SendCheckedAsync(original);
        var reversal = _h.Atm.Reversal(original);
        var mac = reversal.GetBytes(128)!;
        mac[0] ^= 0xFF;
        reversal.SetBytes(128, mac);

        var response = await _h.Atm.SendCheckedAsync(reversal);
        Assert.Equal(ResponseCodes.SecurityViolation, response.ResponseCode);
        Assert.Equal(247_000, await _h.BalanceAsync(0));
        Assert.Null(await _h.Host.Store.ReadAsync(r => r.FindReversal(new RequestKey(_h.Atm.AtmId, original.GetString(11)!, original.GetString(7)!))));
    }

    [Fact]
    public async Task The_day_report_reconciles_per_atm()
    {
        var a = _h.Withdrawal(0, 10_000);
        var b = _h.Withdrawal(0, 5_000);
        await _h.Atm.SendCheckedAsync(a);
        await _h.Atm.SendCheckedAsync(b);
        await _h.Atm.SendCheckedAsync(_h.Withdrawal(1, 999_999));
        await _h.Atm.SendCheckedAsync(_h.Atm.Reversal(b, dispensedMinor: 2_000));

        var line = Assert.Single(await _h.Host.Administration.GetDayReportAsync());
        Assert.Equal(_h.Atm.AtmId, line.AtmId);
        Assert.Equal((2, 15_000L, 1, 3_000L, 12_000L), (line.ApprovedCount, line.ApprovedMinor, line.ReversedCount, line.ReversedMinor, line.NetDispensedMinor));
    }

    [Fact]
    public async Task A_suspect_reversal_credits_exactly_is_reported_as_suspect_and_its_repeat_adds_nothing()
    {
        var original = _h.Withdrawal(0, 20_000);
        Assert.Equal(ResponseCodes.Approved, (await _h.Atm.SendCheckedAsync(original)).ResponseCode);
        Assert.Equal(230_000, await _h.BalanceAsync(0));

        // The dispenser vouches for 5 000 presented and cannot say what happened to the rest.
        var first = await _h.Atm.SendCheckedAsync(_h.Atm.Reversal(original, dispensedMinor: 5_000, reasonCode: ReversalReasons.SuspectedMalfunction));
        Assert.Equal((Mti.ReversalAdviceResponse, ResponseCodes.Approved), (first.Mti, first.ResponseCode));
        Assert.Equal(245_000, await _h.BalanceAsync(0));

        var key = new RequestKey(_h.Atm.AtmId, original.GetString(11)!, original.GetString(7)!);
        var row = await _h.Host.Store.ReadAsync(r => r.FindReversal(key));
        Assert.NotNull(row);
        Assert.Equal((ReversalReasons.SuspectedMalfunction, 15_000L, 15_000L), (row.ReasonCode, row.CreditedMinor, row.SuspectMinor));

        var line = Assert.Single(await _h.Host.Administration.GetDayReportAsync());
        Assert.Equal((1, 15_000L, 1, 15_000L), (line.ReversedCount, line.ReversedMinor, line.SuspectCount, line.SuspectMinor));

        // The 0421 repeat: acknowledged, nothing more credited, no second suspect amount.
        var repeat = await _h.Atm.SendCheckedAsync(_h.Atm.Reversal(original, dispensedMinor: 5_000, repeat: true, reasonCode: ReversalReasons.SuspectedMalfunction));
        Assert.Equal((Mti.ReversalAdviceResponse, ResponseCodes.Approved), (repeat.Mti, repeat.ResponseCode));
        Assert.Equal(245_000, await _h.BalanceAsync(0));
        line = Assert.Single(await _h.Host.Administration.GetDayReportAsync());
        Assert.Equal((1, 15_000L, 1, 15_000L), (line.ReversedCount, line.ReversedMinor, line.SuspectCount, line.SuspectMinor));
        var totals = await _h.TotalsAsync();
        Assert.True(totals.Balances);
        Assert.Equal(15_000, totals.ReversalsMinor);
    }

    [Fact]
    public async Task Only_reason_22_makes_a_reversal_suspect()
    {
        var timedOut = _h.Withdrawal(0, 4_000);
        var partial = _h.Withdrawal(0, 6_000);
        await _h.Atm.SendCheckedAsync(timedOut);
        await _h.Atm.SendCheckedAsync(partial);
        await _h.Atm.SendCheckedAsync(_h.Atm.Reversal(timedOut, reasonCode: ReversalReasons.Timeout));
        await _h.Atm.SendCheckedAsync(_h.Atm.Reversal(partial, dispensedMinor: 2_000, reasonCode: ReversalReasons.PartialDispense));

        Assert.Equal(250_000 - 2_000, await _h.BalanceAsync(0));
        var line = Assert.Single(await _h.Host.Administration.GetDayReportAsync());
        Assert.Equal((2, 8_000L, 0, 0L), (line.ReversedCount, line.ReversedMinor, line.SuspectCount, line.SuspectMinor));
    }

    [Fact]
    public async Task A_reversal_with_an_unknown_reason_code_is_refused_30_and_changes_nothing()
    {
        var original = _h.Withdrawal(0, 20_000);
        await _h.Atm.SendCheckedAsync(original);
        Assert.Equal(230_000, await _h.BalanceAsync(0));

        var response = await _h.Atm.SendCheckedAsync(_h.Atm.Reversal(original, reasonCode: "99"));

        Assert.Equal((Mti.ReversalAdviceResponse, ResponseCodes.FormatError), (response.Mti, response.ResponseCode));
        Assert.Equal(230_000, await _h.BalanceAsync(0));
        Assert.Null(await _h.Host.Store.ReadAsync(r => r.FindReversal(new RequestKey(_h.Atm.AtmId, original.GetString(11)!, original.GetString(7)!))));
        Assert.Equal(0, (await _h.TotalsAsync()).ReversalsMinor);
    }

    [Fact]
    public async Task The_day_report_counts_declines_refused_before_a_transaction_row()
    {
        // Recorded as a transaction: a wrong PIN.
        Assert.Equal(ResponseCodes.IncorrectPin, (await _h.Atm.SendCheckedAsync(_h.Withdrawal(0, 1_000, pin: "0000"))).ResponseCode);

        // Refused before any transaction row: the phone names an account it is not enrolled for...
        var qr = _h.Atm.IssueSession(1_000);
        var otherAccount = _h.Atm.Withdrawal(_h.Phones[0].Request(qr, _h.Customer(1).AccountId, _h.Customer(0).Pin));
        Assert.Equal(ResponseCodes.InvalidAccount, (await _h.Atm.SendCheckedAsync(otherAccount)).ResponseCode);

        // ...and the ATM's message MAC does not verify.
        var badMac = _h.Withdrawal(0, 1_000);
        var macField = badMac.Has(128) ? 128 : 64;
        var mac = badMac.GetBytes(macField)!;
        mac[0] ^= 0xFF;
        badMac.SetBytes(macField, mac);
        Assert.Equal(ResponseCodes.SecurityViolation, (await _h.Atm.SendCheckedAsync(badMac)).ResponseCode);

        var line = Assert.Single(await _h.Host.Administration.GetDayReportAsync());
        Assert.Equal((0, 3), (line.ApprovedCount, line.DeclinedCount));
        Assert.Equal(250_000, await _h.BalanceAsync(0));
    }
}
