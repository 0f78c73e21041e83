using CardlessAtm.Host.Authorisation;
using CardlessAtm.Host.Storage;
using CardlessAtm.Host.Storage.Sqlite;
using CardlessAtm.Host.Tests.Support;
using CardlessAtm.Iso8583;

namespace CardlessAtm.Host.Tests.Storage;

/// <summary>The money rules against a real SQLite file, below the message layer.</summary>
public sealed class LedgerDecisionTests : IAsyncLifetime, IDisposable
{
    private const string Atm = "ATM00001";
    private const string Account = "100000000001";
    private const string Phone = "0000B00112345678";
    private static readonly byte[] PinHash = [1, 2, 3, 4];
    private readonly TempDirectory _dir = new();
    private readonly HostPolicy _policy = new();
    private SqliteHostStore _store = null!;
    private int _stan;
    private long _counter;

    public async Task InitializeAsync()
    {
        _store = SqliteHostStore.Open(_dir.File("ledger.db"));
        await _store.WriteAsync(w =>
        {
            w.InsertAccount(new AccountRecord(Account, "Holder", 978, 10_000, AccountStatus.Active, 5_000, 3));
            w.UpsertPinRecord(new PinRecord(Account, "test", 1, [0], PinHash, 0, false));
            w.InsertPhone(new PhoneEnrolment(Phone, "bdk", Account, PhoneStatus.Active, null));
            return 0;
        });
    }

    public async Task DisposeAsync() => await _store.DisposeAsync();

    public void Dispose() => _dir.Dispose();

    private VerifiedWithdrawal Request(long amount, bool pinOk = true, string? nonce = null, int currency = 978) => new(
        new RequestKey(Atm, (++_stan).ToString("D6"), "1125120000"),
        "RRN" + _stan.ToString("D9"),
        new Money(amount, Currency.FromNumericCode(currency)),
        nonce ?? Guid.NewGuid().ToString("N"),
        Account,
        Phone,
        ++_counter,
        new PinCheck(pinOk, PinHash));

    private Task<WithdrawalOutcome> Decide(VerifiedWithdrawal request) =>
        _store.WriteAsync(w => LedgerDecisions.DecideWithdrawal(w, request, _policy));

    private async Task<long> Balance() => (await _store.ReadAsync(r => r.GetAccount(Account)))!.BalanceMinor;

    [Fact]
    public async Task Approval_debits_once_and_records_the_transaction()
    {
        var request = Request(2_000);
        var outcome = await Decide(request);
        Assert.True(outcome.IsApproved);
        Assert.Matches("^[0-9]{6}$", outcome.AuthCode!);
        Assert.Equal(8_000, await Balance());
        var tx = await _store.ReadAsync(r => r.FindTransaction(request.Key));
        Assert.Equal(ResponseCodes.Approved, tx!.ResponseCode);

        // The same session again (a replay with a new STAN and KSN): 94, no second debit.
        var replay = await Decide(Request(2_000, nonce: request.SessionNonce));
        Assert.Equal(ResponseCodes.DuplicateTransmission, replay.ResponseCode);
        Assert.Equal(8_000, await Balance());
    }

    [Fact]
    public async Task Declines_carry_their_codes_and_leave_the_balance_alone()
    {
        Assert.Equal(ResponseCodes.InsufficientFunds, (await Decide(Request(10_001))).ResponseCode);
        Assert.Equal(ResponseCodes.ExceedsAmountLimit, (await Decide(Request(5_001))).ResponseCode);
        Assert.Equal(ResponseCodes.InvalidAmount, (await Decide(Request(100, currency: 840))).ResponseCode);
        Assert.Equal(10_000, await Balance());
        for (var i = 0; i < 3; i++)
        {
            Assert.True((await Decide(Request(10))).IsApproved);
        }

        Assert.Equal(ResponseCodes.ExceedsFrequencyLimit, (await Decide(Request(10))).ResponseCode);
        Assert.Equal(9_970, await Balance());
        Assert.True((await _store.ReadAsync(r => r.GetLedgerTotals())).Balances);
    }

    [Fact]
    public async Task Three_wrong_pins_lock_and_a_locked_pin_declines_even_when_right()
    {
        Assert.Equal(ResponseCodes.IncorrectPin, (await Decide(Request(10, pinOk: false))).ResponseCode);
        Assert.Equal(ResponseCodes.IncorrectPin, (await Decide(Request(10, pinOk: false))).ResponseCode);
        Assert.Equal(ResponseCodes.PinTriesExceeded, (await Decide(Request(10, pinOk: false))).ResponseCode);
        Assert.Equal(ResponseCodes.PinTriesExceeded, (await Decide(Request(10, pinOk: true))).ResponseCode);
        Assert.Equal(10_000, await Balance());
    }

    [Fact]
    public async Task A_right_pin_resets_the_try_counter()
    {
        await Decide(Request(10, pinOk: false));
        await Decide(Request(10, pinOk: false));
        Assert.True((await Decide(Request(10))).IsApproved);
        Assert.Equal(0, (await _store.ReadAsync(r => r.GetPinRecord(Account)))!.FailedTries);
    }

    [Fact]
    public async Task A_stale_phone_counter_is_refused_without_using_the_session()
    {
        Assert.True((await Decide(Request(10))).IsApproved);
        var stale = Request(10) with { PhoneCounter = 1 };
        Assert.Equal(ResponseCodes.SecurityViolation, (await Decide(stale)).ResponseCode);
        Assert.True((await _store.ReadAsync(r => r.FindTransaction(stale.Key))) is null);
    }

    [Fact]
    public async Task Reversal_twice_credits_once_and_partial_credits_the_undispensed_part()
    {
        var full = Request(1_000);
        await Decide(full);
        var partial = Request(3_000);
        await Decide(partial);
        Assert.Equal(6_000, await Balance());

        var first = await _store.WriteAsync(w => LedgerDecisions.DecideReversal(w, new VerifiedReversal(full.Key, "0420", 1_000, null)));
        var again = await _store.WriteAsync(w => LedgerDecisions.DecideReversal(w, new VerifiedReversal(full.Key, "0421", 1_000, null)));
        Assert.Equal((1_000L, false), (first.CreditedMinor, first.Repeat));
        Assert.Equal((0L, true), (again.CreditedMinor, again.Repeat));

        var part = await _store.WriteAsync(w => LedgerDecisions.DecideReversal(w, new VerifiedReversal(partial.Key, "0420", 3_000, 2_000)));
        Assert.Equal(1_000, part.CreditedMinor);
        Assert.Equal(8_000, await Balance());

        var unknown = await _store.WriteAsync(w => LedgerDecisions.DecideReversal(w, new VerifiedReversal(new RequestKey(Atm, "999999", "1125120000"), "0420", 50, null)));
        Assert.Equal(ReversalOutcomeKind.Unmatched, unknown.Outcome);
        Assert.Equal(ResponseCodes.Approved, unknown.ResponseCode);

        var totals = await _store.ReadAsync(r => r.GetLedgerTotals());
        Assert.True(totals.Balances);
        Assert.Equal(4_000, totals.ApprovedWithdrawalsMinor);
        Assert.Equal(2_000, totals.ReversalsMinor);
        var report = await _store.ReadAsync(r => r.GetDayReport(DateOnly.FromDateTime(DateTime.UtcNow)));
        var line = Assert.Single(report);
        Assert.Equal((2, 4_000L, 2, 2_000L, 1), (line.ApprovedCount, line.ApprovedMinor, line.ReversedCount, line.ReversedMinor, line.UnmatchedReversals));
    }

    [Fact]
    public async Task An_original_arriving_after_its_reversal_is_not_approved()
    {
        var late = Request(500);
        await _store.WriteAsync(w => LedgerDecisions.DecideReversal(w, new VerifiedReversal(late.Key, "0420", 500, null)));
        var outcome = await Decide(late);
        Assert.False(outcome.IsApproved);
        Assert.Equal(10_000, await Balance());
    }
}
