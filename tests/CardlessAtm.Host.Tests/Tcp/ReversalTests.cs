using CardlessAtm.Host.Storage;
using CardlessAtm.Host.Tests.Support;
using CardlessAtm.Iso8583;

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
}
