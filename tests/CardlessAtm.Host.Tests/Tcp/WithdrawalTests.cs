using CardlessAtm.Host.Tests.Support;
using CardlessAtm.Iso8583;
using CardlessAtm.Network;

namespace CardlessAtm.Host.Tests.Tcp;

/// <summary>Withdrawals through the host's TCP interface, with messages built by the codec.</summary>
public sealed class WithdrawalTests : IAsyncLifetime
{
    private HostHarness _h = null!;

    public async Task InitializeAsync() => _h = await HostHarness.StartAsync();

    public async Task DisposeAsync() => await _h.DisposeAsync();

    [Fact]
    public async Task An_approved_withdrawal_debits_once_and_the_response_carries_auth_code_and_a_valid_mac()
    {
        var before = await _h.BalanceAsync(0);
        var response = await _h.Atm.SendCheckedAsync(_h.Withdrawal(0, 10_000));

        Assert.Equal(Mti.FinancialResponse, response.Mti);
        Assert.Equal(ResponseCodes.Approved, response.ResponseCode);
        Assert.Matches("^[0-9]{6}$", response.AuthorizationCode!);
        Assert.Equal(before - 10_000, await _h.BalanceAsync(0));
        Assert.True((await _h.TotalsAsync()).Balances);
    }

    [Fact]
    public async Task A_replayed_request_is_refused_as_duplicate_and_debits_nothing_more()
    {
        var request = _h.Withdrawal(0, 5_000);
        Assert.Equal(ResponseCodes.Approved, (await _h.Atm.SendCheckedAsync(request)).ResponseCode);
        var afterFirst = await _h.BalanceAsync(0);

        // Exactly the same bytes again.
        Assert.Equal(ResponseCodes.DuplicateTransmission, (await _h.Atm.SendCheckedAsync(request)).ResponseCode);

        // The same phone request re-wrapped by the ATM with a new STAN.
        var rewrapped = request.Clone();
        rewrapped.Stan = SimulatedAtm.NextStan();
        Iso8583.Mac.MessageMac.Apply(rewrapped, _h.Atm.IsoMac);
        var second = await _h.Atm.SendCheckedAsync(rewrapped);
        Assert.NotEqual(ResponseCodes.Approved, second.ResponseCode);

        Assert.Equal(afterFirst, await _h.BalanceAsync(0));
    }

    [Fact]
    public async Task Two_concurrent_requests_for_one_session_approve_exactly_one()
    {
        var qr = _h.Atm.IssueSession(1_000);
        var customer = _h.Customer(0);

        // Two phone requests (two DUKPT transactions) for the same QR session, sent at once over the ATM's connection
        // (an ATM is signed on over one connection at most; the link carries both at once).
        var first = _h.Atm.Withdrawal(_h.Phones[0].Request(qr, customer.AccountId, customer.Pin));
        var second = _h.Atm.Withdrawal(_h.Phones[0].Request(qr, customer.AccountId, customer.Pin));
        var before = await _h.BalanceAsync(0);

        var responses = await Task.WhenAll(_h.Atm.SendAsync(first), _h.Atm.SendAsync(second));

        // The loser is refused either because the session is used (94) or, if it carries the phone's
        // older DUKPT counter and lost the race, as a stale key serial number (63).
        Assert.Equal(1, responses.Count(r => r.ResponseCode == ResponseCodes.Approved));
        Assert.Contains(responses, r => r.ResponseCode is ResponseCodes.DuplicateTransmission or ResponseCodes.SecurityViolation);
        Assert.Equal(before - 1_000, await _h.BalanceAsync(0));
    }

    [Fact]
    public async Task Insufficient_funds_is_51()
    {
        var response = await _h.Atm.SendCheckedAsync(_h.Withdrawal(1, 5_001));
        Assert.Equal(ResponseCodes.InsufficientFunds, response.ResponseCode);
        Assert.Null(response.AuthorizationCode);
        Assert.Equal(5_000, await _h.BalanceAsync(1));
    }

    [Fact]
    public async Task Wrong_pin_is_55_and_the_third_locks_with_75()
    {
        Assert.Equal(ResponseCodes.IncorrectPin, (await _h.Atm.SendCheckedAsync(_h.Withdrawal(0, 100, pin: "0000"))).ResponseCode);
        Assert.Equal(ResponseCodes.IncorrectPin, (await _h.Atm.SendCheckedAsync(_h.Withdrawal(0, 100, pin: "0001"))).ResponseCode);
        Assert.Equal(ResponseCodes.PinTriesExceeded, (await _h.Atm.SendCheckedAsync(_h.Withdrawal(0, 100, pin: "0002"))).ResponseCode);
        Assert.Equal(ResponseCodes.PinTriesExceeded, (await _h.Atm.SendCheckedAsync(_h.Withdrawal(0, 100))).ResponseCode);
        Assert.Equal(250_000, await _h.BalanceAsync(0));

        await _h.Host.Administration.UnlockPinAsync(_h.Customer(0).AccountId);
        Assert.Equal(ResponseCodes.Approved, (await _h.Atm.SendCheckedAsync(_h.Withdrawal(0, 100))).ResponseCode);
    }

    [Fact]
    public async Task Blocked_account_is_05()
    {
        await _h.Host.Administration.SetAccountStatusAsync(_h.Customer(0).AccountId, Host.Storage.AccountStatus.Blocked);
        Assert.Equal(ResponseCodes.DoNotHonour, (await _h.Atm.SendCheckedAsync(_h.Withdrawal(0, 100))).ResponseCode);
    }

    [Fact]
    public async Task Daily_amount_limit_is_61_and_daily_count_limit_is_65()
    {
        Assert.Equal(ResponseCodes.Approved, (await _h.Atm.SendCheckedAsync(_h.Withdrawal(0, 90_000))).ResponseCode);
        Assert.Equal(ResponseCodes.ExceedsAmountLimit, (await _h.Atm.SendCheckedAsync(_h.Withdrawal(0, 10_001))).ResponseCode);
        for (var i = 0; i < 9; i++)
        {
            Assert.Equal(ResponseCodes.Approved, (await _h.Atm.SendCheckedAsync(_h.Withdrawal(0, 100))).ResponseCode);
        }

        Assert.Equal(ResponseCodes.ExceedsFrequencyLimit, (await _h.Atm.SendCheckedAsync(_h.Withdrawal(0, 100))).ResponseCode);
        Assert.Equal(250_000 - 90_000 - 900, await _h.BalanceAsync(0));
    }

    [Fact]
    public async Task Echo_sign_off_and_an_unsupported_mti_are_answered()
    {
        Assert.Equal(ResponseCodes.Approved, (await _h.Atm.SendAsync(_h.Atm.NetworkManagement(NetworkManagementCodes.EchoTest))).ResponseCode);
        Assert.Equal(ResponseCodes.Approved, (await _h.Atm.SendAsync(_h.Atm.NetworkManagement(NetworkManagementCodes.SignOff))).ResponseCode);
        Assert.False((await _h.Host.Administration.ListAtmsAsync()).Single().SignedOn);
        var balanceInquiry = new IsoMessage(NetworkSpec.Messages, "0100");
        balanceInquiry.Stan = SimulatedAtm.NextStan();
        balanceInquiry.TerminalId = _h.Atm.AtmId;
        Assert.Equal(ResponseCodes.InvalidTransaction, (await _h.Atm.SendAsync(balanceInquiry)).ResponseCode);
    }
}
