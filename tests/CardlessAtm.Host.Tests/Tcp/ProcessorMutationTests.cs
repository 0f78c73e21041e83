using CardlessAtm.Host.Processing;
using CardlessAtm.Host.Seeding;
using CardlessAtm.Host.Tests.Support;
using CardlessAtm.Iso8583;
using CardlessAtm.Network;

namespace CardlessAtm.Host.Tests.Tcp;

/// <summary>
/// The processor's edges that the other tests leave open: the amount bounds, what sign-on, sign-off and key
/// change leave in the ATM record and the audit, which refusals count in the day report, and the log sanitiser.
/// </summary>
public sealed class ProcessorMutationTests : IAsyncLifetime
{
    private HostHarness _h = null!;

    public async Task InitializeAsync() => _h = await HostHarness.StartAsync();

    public async Task DisposeAsync() => await _h.DisposeAsync();

    [Theory]
    [InlineData(null, "-")]
    [InlineData("ATM 0001~", "ATM 0001~")]
    [InlineData("a\nb\tc\u007f", "a?b?c?")]
    [InlineData("0123456789012345678901234567890123456789", "0123456789012345678901234567890123456789")]
    [InlineData("0123456789012345678901234567890123456789X", "0123456789012345678901234567890123456789…")]
    public void Hostile_text_is_cut_to_40_printable_characters(string? text, string expected) =>
        Assert.Equal(expected, HostProcessor.Safe(text));

    [Fact]
    public async Task The_largest_allowed_amount_is_not_refused_as_an_invalid_amount()
    {
        var response = await _h.Atm.SendCheckedAsync(_h.Withdrawal(0, 1_000_000)); // the policy's maximum, more than the balance

        Assert.Equal(ResponseCodes.InsufficientFunds, response.ResponseCode);
    }

    [Fact]
    public async Task The_smallest_amount_is_approved_and_debited()
    {
        var before = await _h.BalanceAsync(0);

        var response = await _h.Atm.SendCheckedAsync(_h.Withdrawal(0, 1));

        Assert.Equal(ResponseCodes.Approved, response.ResponseCode);
        Assert.Equal(before - 1, await _h.BalanceAsync(0));
    }

    [Fact]
    public async Task Sign_off_and_sign_on_are_recorded_on_the_atm_and_audited()
    {
        var off = await _h.Atm.SendAsync(_h.Atm.NetworkManagement(NetworkManagementCodes.SignOff));
        Assert.Equal(ResponseCodes.Approved, off.ResponseCode);
        Assert.False((await _h.Host.Store.ReadAsync(r => r.GetAtm(DemoSeed.AtmId)))!.SignedOn);
        var audit = (await _h.AuditAsync(1))[0];
        Assert.Equal(("atm.sign-off", "signed off", DemoSeed.AtmId), (audit.Event, audit.Detail, audit.AtmId));

        await _h.Atm.SendAsync(_h.Atm.NetworkManagement(NetworkManagementCodes.SignOn));
        Assert.True((await _h.Host.Store.ReadAsync(r => r.GetAtm(DemoSeed.AtmId)))!.SignedOn);
        audit = (await _h.AuditAsync(1))[0];
        Assert.Equal(("atm.sign-on", "signed on"), (audit.Event, audit.Detail));
    }

    [Fact]
    public async Task Each_key_change_raises_the_session_key_version_by_one_and_is_audited()
    {
        var before = (await _h.Host.Store.ReadAsync(r => r.GetAtm(DemoSeed.AtmId)))!;

        await _h.Atm.SignOnAndChangeKeysAsync();
        await _h.Atm.SignOnAndChangeKeysAsync();

        var after = (await _h.Host.Store.ReadAsync(r => r.GetAtm(DemoSeed.AtmId)))!;
        Assert.Equal(before.SessionKeyVersion + 2, after.SessionKeyVersion);
        Assert.Equal($"mac-{DemoSeed.AtmId}-v{after.SessionKeyVersion}", after.SessionKeyRef);
        var audit = (await _h.AuditAsync(1))[0];
        Assert.Equal("atm.key-change", audit.Event);
        Assert.StartsWith($"session keys version {after.SessionKeyVersion}, MAC key KCV ", audit.Detail, StringComparison.Ordinal);
        Assert.Equal(ResponseCodes.Approved, (await _h.Atm.SendCheckedAsync(_h.Withdrawal(0, 1_000))).ResponseCode); // the newest keys work
    }

    [Fact]
    public async Task Refused_withdrawals_count_in_the_day_report_and_refused_reversals_do_not()
    {
        var today = DateOnly.FromDateTime(DateTime.UtcNow);
        var declinedBefore = (await _h.Host.Store.ReadAsync(r => r.GetDayReport(today))).SingleOrDefault(l => l.AtmId == DemoSeed.AtmId)?.DeclinedCount ?? 0;
        var withdrawal = _h.Withdrawal(0, 1_000);
        withdrawal.ProcessingCode = "310000"; // refused 12 before any transaction row
        Iso8583.Mac.MessageMac.Apply(withdrawal, _h.Atm.IsoMac);
        Assert.Equal(ResponseCodes.InvalidTransaction, (await _h.Atm.SendAsync(withdrawal)).ResponseCode);
        var reversal = _h.Atm.Reversal(_h.Withdrawal(0, 1_000), reasonCode: "99"); // unknown reason: refused 30
        Assert.Equal(ResponseCodes.FormatError, (await _h.Atm.SendAsync(reversal)).ResponseCode);

        var line = (await _h.Host.Store.ReadAsync(r => r.GetDayReport(today))).Single(l => l.AtmId == DemoSeed.AtmId);
        Assert.Equal(declinedBefore + 1, line.DeclinedCount);
        var audit = (await _h.AuditAsync(2)).Select(a => (a.Event, a.ResponseCode)).ToList();
        Assert.Equal([("request.declined", ResponseCodes.FormatError), ("request.declined", ResponseCodes.InvalidTransaction)], audit);
    }
}
