using CardlessAtm.Host.Authorisation;
using CardlessAtm.Host.Storage;
using CardlessAtm.Host.Storage.Sqlite;
using CardlessAtm.Host.Tests.Support;
using CardlessAtm.Iso8583;

namespace CardlessAtm.Host.Tests.Storage;

/// <summary>
/// The money rules at their edges, each asserting what the ledger holds afterwards: the response code, the
/// balance in minor units, whether a transaction row was recorded (and with what), the PIN try counter, the
/// reversal record and the audit line an operator reads. Written to kill the mutants Stryker found alive.
/// </summary>
public sealed class DecisionMutationTests : IAsyncLifetime, IDisposable
{
    private const string Atm = "ATM00001";
    private const string Account = "100000000001";
    private const string Small = "200000000002";
    private const string NoPin = "300000000003";
    private const string Blocked = "400000000004";
    private const string Phone = "0000B00112345678";
    private const string SmallPhone = "0000B00187654321";
    private const string NoPinPhone = "0000B001AAAA0000";
    private const string BlockedPhone = "0000B001BBBB0000";
    private const string RevokedPhone = "0000B001CCCC0000";
    private static readonly byte[] PinHash = [1, 2, 3, 4];
    private readonly TempDirectory _dir = new();
    private SqliteHostStore _store = null!;
    private int _stan;
    private long _counter = 10;

    public async Task InitializeAsync()
    {
        _store = SqliteHostStore.Open(_dir.File("ledger.db"));
        await _store.WriteAsync(w =>
        {
            w.InsertAccount(new AccountRecord(Account, "Holder", 978, 10_000, AccountStatus.Active, 5_000, 3));
            w.InsertAccount(new AccountRecord(Small, "Small", 978, 3_000, AccountStatus.Active, 5_000, 3));
            w.InsertAccount(new AccountRecord(NoPin, "No pin", 978, 3_000, AccountStatus.Active, 5_000, 3));
            w.InsertAccount(new AccountRecord(Blocked, "Blocked", 978, 3_000, AccountStatus.Active, 5_000, 3));
            w.UpdateAccountStatus(Blocked, AccountStatus.Blocked);
            foreach (var account in new[] { Account, Small, Blocked })
            {
                w.UpsertPinRecord(new PinRecord(account, "test", 1, [0], PinHash, 0, false));
            }

            w.InsertPhone(new PhoneEnrolment(Phone, "bdk", Account, PhoneStatus.Active, null));
            w.InsertPhone(new PhoneEnrolment(SmallPhone, "bdk", Small, PhoneStatus.Active, null));
            w.InsertPhone(new PhoneEnrolment(NoPinPhone, "bdk", NoPin, PhoneStatus.Active, null));
            w.InsertPhone(new PhoneEnrolment(BlockedPhone, "bdk", Blocked, PhoneStatus.Active, null));
            w.InsertPhone(new PhoneEnrolment(RevokedPhone, "bdk", Account, PhoneStatus.Active, null));
            w.UpdatePhoneStatus(RevokedPhone, PhoneStatus.Revoked);
            return 0;
        });
    }

    public async Task DisposeAsync() => await _store.DisposeAsync();

    public void Dispose() => _dir.Dispose();

    private VerifiedWithdrawal Request(long amount, string account = Account, string phone = Phone, bool pinOk = true, byte[]? checkedHash = null, int currency = 978) => new(
        new RequestKey(Atm, (++_stan).ToString("D6"), "1125120000"),
        "RRN" + _stan.ToString("D9"),
        new Money(amount, Currency.FromNumericCode(currency)),
        Guid.NewGuid().ToString("N"),
        account,
        phone,
        ++_counter,
        new PinCheck(pinOk, checkedHash ?? PinHash));

    private Task<WithdrawalOutcome> Decide(VerifiedWithdrawal request, HostPolicy? policy = null) =>
        _store.WriteAsync(w => LedgerDecisions.DecideWithdrawal(w, request, policy ?? new HostPolicy()));

    private Task<ReversalOutcome> Reverse(RequestKey key, long amount, long? dispensed = null, string? reason = null, string mti = "0420") =>
        _store.WriteAsync(w => LedgerDecisions.DecideReversal(w, new VerifiedReversal(key, mti, amount, dispensed, reason)));

    private async Task<long> Balance(string account = Account) => (await _store.ReadAsync(r => r.GetAccount(account)))!.BalanceMinor;

    private Task<TransactionRecord?> Transaction(RequestKey key) => _store.ReadAsync(r => r.FindTransaction(key));

    private Task<ReversalRecord?> ReversalOf(RequestKey key) => _store.ReadAsync(r => r.FindReversal(key));

    private async Task<AuditEntry> LastAudit() => (await _store.ReadAsync(r => r.GetRecentAudit(1)))[0];

    private Task<PinRecord?> Pin(string account = Account) => _store.ReadAsync(r => r.GetPinRecord(account));

    [Theory]
    [InlineData(null, "-")]
    [InlineData("", "")]
    [InlineData("1234", "****")]
    [InlineData("12345", "****2345")]
    [InlineData("100000000001", "****0001")]
    public void Mask_shows_only_the_last_four_characters(string? account, string expected) =>
        Assert.Equal(expected, LedgerDecisions.Mask(account));

    [Fact]
    public async Task An_approval_debits_the_amount_records_the_auth_code_and_audits_the_debit()
    {
        var request = Request(2_500);

        var outcome = await Decide(request);

        Assert.Equal(ResponseCodes.Approved, outcome.ResponseCode);
        Assert.Equal("approved", outcome.Reason);
        Assert.Equal(7_500, await Balance());
        var tx = await Transaction(request.Key);
        Assert.NotNull(tx);
        Assert.Equal(outcome.TransactionId, tx.TransactionId);
        Assert.Equal((ResponseCodes.Approved, outcome.AuthCode, 2_500L, Account, request.Rrn, 0L), (tx.ResponseCode, tx.AuthCode, tx.Amount.MinorUnits, tx.AccountId, tx.Rrn, tx.ReversedMinor));
        var audit = await LastAudit();
        Assert.Equal(("withdrawal.approved", Atm, ResponseCodes.Approved), (audit.Event, audit.AtmId, audit.ResponseCode));
        Assert.Equal($"stan {request.Key.Stan}: 2500 debited from account ****0001, transaction {tx.TransactionId}", audit.Detail);
        Assert.True((await _store.ReadAsync(r => r.GetLedgerTotals())).Balances);
    }

    [Fact]
    public async Task Exactly_the_balance_and_exactly_the_daily_amount_limit_are_approved()
    {
        Assert.True((await Decide(Request(3_000, Small, SmallPhone))).IsApproved);
        Assert.Equal(0, await Balance(Small));

        Assert.True((await Decide(Request(4_000))).IsApproved);
        Assert.True((await Decide(Request(1_000))).IsApproved); // 4,000 + 1,000 = the 5,000 limit
        Assert.Equal(5_000, await Balance());
        var over = await Decide(Request(1));
        Assert.Equal(ResponseCodes.ExceedsAmountLimit, over.ResponseCode);
        Assert.Equal("daily amount limit 5000 reached (5000 used)", over.Reason);
        Assert.Equal(5_000, await Balance());
    }

    [Fact]
    public async Task One_minor_unit_over_the_balance_is_declined_and_recorded_as_51()
    {
        var request = Request(3_001, Small, SmallPhone);

        var outcome = await Decide(request);

        Assert.Equal((ResponseCodes.InsufficientFunds, "insufficient funds"), (outcome.ResponseCode, outcome.Reason));
        Assert.Equal(3_000, await Balance(Small));
        var tx = await Transaction(request.Key);
        Assert.Equal((ResponseCodes.InsufficientFunds, (string?)null, outcome.TransactionId), (tx!.ResponseCode, tx.AuthCode, (long?)tx.TransactionId));
        Assert.Null(outcome.AuthCode);
        var audit = await LastAudit();
        Assert.Equal(("withdrawal.declined", ResponseCodes.InsufficientFunds, $"stan {request.Key.Stan}: insufficient funds"), (audit.Event, audit.ResponseCode, audit.Detail));
    }

    [Fact]
    public async Task The_daily_count_limit_allows_exactly_that_many_withdrawals()
    {
        for (var i = 0; i < 3; i++)
        {
            Assert.True((await Decide(Request(10))).IsApproved);
        }

        var fourth = await Decide(Request(10));

        Assert.Equal((ResponseCodes.ExceedsFrequencyLimit, "daily count limit 3 reached"), (fourth.ResponseCode, fourth.Reason));
        Assert.Equal(9_970, await Balance());
    }

    [Fact]
    public async Task A_currency_other_than_the_accounts_is_declined_with_both_named()
    {
        var outcome = await Decide(Request(100, currency: 840));

        Assert.Equal((ResponseCodes.InvalidAmount, "currency 840 is not the account's (978)"), (outcome.ResponseCode, outcome.Reason));
        Assert.Equal(10_000, await Balance());
    }

    [Fact]
    public async Task A_blocked_account_is_declined_05_after_the_session_is_used()
    {
        var request = Request(100, Blocked, BlockedPhone);

        var outcome = await Decide(request);

        Assert.Equal((ResponseCodes.DoNotHonour, "account ****0004 is blocked"), (outcome.ResponseCode, outcome.Reason));
        Assert.Equal(ResponseCodes.DoNotHonour, (await Transaction(request.Key))!.ResponseCode);
        Assert.Equal(3_000, await Balance(Blocked));
    }

    [Fact]
    public async Task An_account_without_a_pin_record_is_declined_14_and_recorded()
    {
        var request = Request(100, NoPin, NoPinPhone);

        var outcome = await Decide(request);

        Assert.Equal((ResponseCodes.InvalidAccount, "no PIN verification record for account ****0003"), (outcome.ResponseCode, outcome.Reason));
        Assert.Equal(ResponseCodes.InvalidAccount, (await Transaction(request.Key))!.ResponseCode);
        Assert.Equal(3_000, await Balance(NoPin));
    }

    [Fact]
    public async Task A_pin_record_changed_since_the_check_declines_96_without_counting_a_try()
    {
        var changed = Request(100, checkedHash: [9, 9, 9, 9]);
        var missing = Request(100) with { Pin = new PinCheck(true, null) };

        var first = await Decide(changed);
        var second = await Decide(missing with { Pin = new PinCheck(false, null) });

        Assert.Equal((ResponseCodes.SystemMalfunction, "PIN record changed during the request"), (first.ResponseCode, first.Reason));
        Assert.Equal(ResponseCodes.SystemMalfunction, second.ResponseCode);
        Assert.Equal(ResponseCodes.SystemMalfunction, (await Transaction(changed.Key))!.ResponseCode);
        Assert.Equal((0, false), ((await Pin())!.FailedTries, (await Pin())!.Locked));
        Assert.Equal(10_000, await Balance());
    }

    [Fact]
    public async Task Wrong_pins_count_tries_and_lock_exactly_at_the_policy_limit()
    {
        var first = await Decide(Request(10, pinOk: false));
        Assert.Equal((ResponseCodes.IncorrectPin, "wrong PIN, try 1 of 3"), (first.ResponseCode, first.Reason));
        Assert.Equal((1, false), ((await Pin())!.FailedTries, (await Pin())!.Locked));

        await Decide(Request(10, pinOk: false));
        var third = Request(10, pinOk: false);
        var locked = await Decide(third);
        Assert.Equal((ResponseCodes.PinTriesExceeded, "wrong PIN, try 3 of 3: PIN now locked"), (locked.ResponseCode, locked.Reason));
        Assert.Equal((3, true), ((await Pin())!.FailedTries, (await Pin())!.Locked));
        Assert.Equal(ResponseCodes.PinTriesExceeded, (await Transaction(third.Key))!.ResponseCode);

        var afterLock = await Decide(Request(10));
        Assert.Equal((ResponseCodes.PinTriesExceeded, "PIN locked for account ****0001"), (afterLock.ResponseCode, afterLock.Reason));
        Assert.Equal(10_000, await Balance());
    }

    [Fact]
    public async Task With_one_try_allowed_the_first_wrong_pin_locks()
    {
        var outcome = await Decide(Request(10, pinOk: false), new HostPolicy { MaxPinTries = 1 });

        Assert.Equal(ResponseCodes.PinTriesExceeded, outcome.ResponseCode);
        Assert.Equal((1, true), ((await Pin())!.FailedTries, (await Pin())!.Locked));
    }

    [Fact]
    public async Task A_right_pin_after_a_wrong_one_resets_the_counter_and_debits()
    {
        await Decide(Request(10, pinOk: false));

        Assert.True((await Decide(Request(10))).IsApproved);

        Assert.Equal((0, false), ((await Pin())!.FailedTries, (await Pin())!.Locked));
        Assert.Equal(9_990, await Balance());
    }

    [Fact]
    public async Task Refusals_before_the_session_is_used_record_no_transaction_and_are_audited()
    {
        var revoked = Request(10, phone: RevokedPhone);
        var unknown = Request(10, phone: "0000B001FFFFFFFF");
        var otherAccount = Request(10, account: Small);

        var a = await Decide(revoked);
        var b = await Decide(unknown);
        var c = await Decide(otherAccount);

        Assert.Equal((ResponseCodes.NotPermittedToCardholder, "phone enrolment missing or revoked"), (a.ResponseCode, a.Reason));
        Assert.Equal(ResponseCodes.NotPermittedToCardholder, b.ResponseCode);
        Assert.Equal((ResponseCodes.InvalidAccount, $"account ****0002 is not the one phone {Phone} is enrolled for"), (c.ResponseCode, c.Reason));
        foreach (var (request, outcome) in new[] { (revoked, a), (unknown, b), (otherAccount, c) })
        {
            Assert.Null(await Transaction(request.Key));
            Assert.Null(outcome.TransactionId);
            Assert.Null(outcome.AuthCode);
        }

        var audit = await LastAudit();
        Assert.Equal(("withdrawal.declined", Atm, ResponseCodes.InvalidAccount), (audit.Event, audit.AtmId, audit.ResponseCode));
        Assert.Equal($"stan {otherAccount.Key.Stan}: account ****0002 is not the one phone {Phone} is enrolled for", audit.Detail);
        Assert.Equal(10_000, await Balance());
        Assert.Null((await _store.ReadAsync(r => r.GetPhone(Phone)))!.LastCounter); // none of them reached the counter
    }

    [Fact]
    public async Task A_phone_counter_equal_to_the_last_one_seen_is_refused_63_and_a_higher_one_is_accepted()
    {
        var first = Request(10);
        Assert.True((await Decide(first)).IsApproved);
        Assert.Equal(first.PhoneCounter, (await _store.ReadAsync(r => r.GetPhone(Phone)))!.LastCounter);

        var same = Request(10) with { PhoneCounter = first.PhoneCounter };
        var refused = await Decide(same);

        Assert.Equal(ResponseCodes.SecurityViolation, refused.ResponseCode);
        Assert.Equal($"phone key serial counter {first.PhoneCounter} is not above the last one seen ({first.PhoneCounter})", refused.Reason);
        Assert.Null(await Transaction(same.Key));
        Assert.True((await Decide(Request(10) with { PhoneCounter = first.PhoneCounter + 1 })).IsApproved);
        Assert.Equal(9_980, await Balance());
    }

    [Fact]
    public async Task A_used_session_is_refused_94_without_a_transaction_row()
    {
        var first = Request(10);
        await Decide(first);
        var replay = Request(10) with { SessionNonce = first.SessionNonce };

        var outcome = await Decide(replay);

        Assert.Equal((ResponseCodes.DuplicateTransmission, "QR session already used"), (outcome.ResponseCode, outcome.Reason));
        Assert.Null(await Transaction(replay.Key));
        Assert.Equal(9_990, await Balance());
    }

    [Fact]
    public async Task The_same_stan_and_time_again_is_refused_94_and_keeps_the_first_decision()
    {
        var first = Request(10);
        await Decide(first);
        var again = first with { SessionNonce = Guid.NewGuid().ToString("N"), PhoneCounter = ++_counter, Amount = Money.Of(20, "EUR") };

        var outcome = await Decide(again);

        Assert.Equal(ResponseCodes.DuplicateTransmission, outcome.ResponseCode);
        Assert.Equal("the ATM already sent a request with this STAN and transmission time", outcome.Reason);
        Assert.Equal(10, (await Transaction(first.Key))!.Amount.MinorUnits);
        Assert.Equal(9_990, await Balance());
    }

    [Fact]
    public async Task A_late_original_after_its_reversal_is_refused_12_and_not_recorded()
    {
        var late = Request(500);
        await Reverse(late.Key, 500);

        var outcome = await Decide(late);

        Assert.Equal((ResponseCodes.InvalidTransaction, "the ATM already reversed this request (late original after its reversal)"), (outcome.ResponseCode, outcome.Reason));
        Assert.Null(await Transaction(late.Key));
        Assert.Equal(10_000, await Balance());
    }

    [Fact]
    public async Task A_full_reversal_credits_the_amount_marks_the_transaction_and_audits_the_credit()
    {
        var original = Request(2_000);
        await Decide(original);

        var outcome = await Reverse(original.Key, 2_000);

        Assert.Equal((ResponseCodes.Approved, 2_000L, ReversalOutcomeKind.Applied, false, "full reversal"), (outcome.ResponseCode, outcome.CreditedMinor, outcome.Outcome, outcome.Repeat, outcome.Reason));
        Assert.Equal(10_000, await Balance());
        Assert.Equal(2_000, (await Transaction(original.Key))!.ReversedMinor);
        var record = await ReversalOf(original.Key);
        Assert.Equal((0L, 2_000L, ReversalOutcomeKind.Applied, 0L, (string?)null), (record!.DispensedMinor, record.CreditedMinor, record.Outcome, record.SuspectMinor, record.ReasonCode));
        var audit = await LastAudit();
        Assert.Equal(("reversal.applied", Atm, ResponseCodes.Approved), (audit.Event, audit.AtmId, audit.ResponseCode));
        Assert.Equal($"reversal 0420 of stan {original.Key.Stan} at 1125120000: full reversal; credited 2000 to account ****0001", audit.Detail);
        Assert.True((await _store.ReadAsync(r => r.GetLedgerTotals())).Balances);
    }

    [Fact]
    public async Task A_repeat_credits_nothing_and_reports_the_first_outcome()
    {
        var original = Request(2_000);
        await Decide(original);
        await Reverse(original.Key, 2_000, 500);

        var repeat = await Reverse(original.Key, 2_000, 500, ReversalReasons.Timeout, "0421");

        Assert.Equal((ResponseCodes.Approved, 0L, ReversalOutcomeKind.Applied, true, "repeat of a processed reversal"), (repeat.ResponseCode, repeat.CreditedMinor, repeat.Outcome, repeat.Repeat, repeat.Reason));
        Assert.Equal(9_500, await Balance());
        var audit = await LastAudit();
        Assert.Equal(("reversal.repeat", ResponseCodes.Approved), (audit.Event, audit.ResponseCode));
        Assert.StartsWith($"reversal 0421 of stan {original.Key.Stan} at 1125120000 (reason {ReversalReasons.Timeout}): already processed as reversal ", audit.Detail);
        Assert.EndsWith("(Applied); nothing credited", audit.Detail);
    }

    [Fact]
    public async Task A_reversal_of_a_declined_original_credits_nothing()
    {
        var declined = Request(20_000);
        Assert.Equal(ResponseCodes.InsufficientFunds, (await Decide(declined)).ResponseCode);

        var outcome = await Reverse(declined.Key, 20_000, reason: ReversalReasons.SuspectedMalfunction);

        Assert.Equal((0L, ReversalOutcomeKind.NoEffect, "the original was declined; nothing to credit"), (outcome.CreditedMinor, outcome.Outcome, outcome.Reason));
        Assert.Equal(10_000, await Balance());
        var record = await ReversalOf(declined.Key);
        Assert.Equal((ReversalOutcomeKind.NoEffect, 0L, 0L), (record!.Outcome, record.CreditedMinor, record.SuspectMinor));
        Assert.Equal("reversal.no-effect", (await LastAudit()).Event);
    }

    [Fact]
    public async Task A_dispensed_amount_above_the_approved_one_credits_nothing_and_is_kept_for_investigation()
    {
        var original = Request(2_000);
        await Decide(original);

        var outcome = await Reverse(original.Key, 2_000, 2_001);

        Assert.Equal((0L, ReversalOutcomeKind.NoEffect), (outcome.CreditedMinor, outcome.Outcome));
        Assert.Equal("dispensed amount 2001 exceeds the approved 2000; nothing credited, to investigate", outcome.Reason);
        Assert.Equal(8_000, await Balance());
        Assert.Equal(2_001, (await ReversalOf(original.Key))!.DispensedMinor);
    }

    [Fact]
    public async Task A_dispensed_amount_equal_to_the_approved_one_is_a_partial_of_everything_crediting_nothing()
    {
        var original = Request(2_000);
        await Decide(original);

        var outcome = await Reverse(original.Key, 2_000, 2_000);

        Assert.Equal((0L, ReversalOutcomeKind.NoEffect, "partial dispense of 2000"), (outcome.CreditedMinor, outcome.Outcome, outcome.Reason));
        Assert.Equal(8_000, await Balance());
        Assert.Equal(0, (await Transaction(original.Key))!.ReversedMinor);
    }

    [Fact]
    public async Task A_partial_reversal_credits_only_the_undispensed_part_from_the_stored_amount()
    {
        var original = Request(3_000);
        await Decide(original);

        var outcome = await Reverse(original.Key, 9_999, 1_000); // the advice misnames the amount: the stored one counts

        Assert.Equal(2_000, outcome.CreditedMinor);
        Assert.Equal("partial dispense of 1000 (advice names amount 9999, the transaction was 3000: the stored amount was used)", outcome.Reason);
        Assert.Equal(9_000, await Balance());
        Assert.Equal(2_000, (await Transaction(original.Key))!.ReversedMinor);
        Assert.Equal((1_000L, 2_000L), ((await ReversalOf(original.Key))!.DispensedMinor, (await ReversalOf(original.Key))!.CreditedMinor));
    }

    [Fact]
    public async Task A_suspect_reversal_marks_exactly_the_credit_as_suspect_for_the_cash_count()
    {
        var original = Request(3_000);
        await Decide(original);

        var outcome = await Reverse(original.Key, 3_000, 1_000, ReversalReasons.SuspectedMalfunction);

        Assert.Equal(2_000, outcome.CreditedMinor);
        Assert.Equal("partial dispense of 1000; 2000 suspect (the dispenser could not say what it presented): for the cash count", outcome.Reason);
        var record = await ReversalOf(original.Key);
        Assert.Equal((2_000L, 2_000L, ReversalReasons.SuspectedMalfunction), (record!.CreditedMinor, record.SuspectMinor, record.ReasonCode));
        Assert.Equal(9_000, await Balance());
        Assert.Contains("(reason 22)", (await LastAudit()).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_reversal_for_another_reason_marks_nothing_suspect()
    {
        var original = Request(3_000);
        await Decide(original);

        var outcome = await Reverse(original.Key, 3_000, 1_000, ReversalReasons.PartialDispense);

        Assert.Equal("partial dispense of 1000", outcome.Reason);
        Assert.Equal((2_000L, 0L), ((await ReversalOf(original.Key))!.CreditedMinor, (await ReversalOf(original.Key))!.SuspectMinor));
    }

    [Fact]
    public async Task An_unmatched_reversal_is_acknowledged_and_kept_with_what_the_atm_said()
    {
        var key = new RequestKey(Atm, "999999", "1125120000");

        var outcome = await Reverse(key, 700, 300, ReversalReasons.PartialDispense);

        Assert.Equal((ResponseCodes.Approved, 0L, ReversalOutcomeKind.Unmatched, false, "no such transaction"), (outcome.ResponseCode, outcome.CreditedMinor, outcome.Outcome, outcome.Repeat, outcome.Reason));
        var record = await ReversalOf(key);
        Assert.Equal((300L, 0L, ReversalOutcomeKind.Unmatched, ReversalReasons.PartialDispense, (long?)null), (record!.DispensedMinor, record.CreditedMinor, record.Outcome, record.ReasonCode, record.TransactionId));
        var audit = await LastAudit();
        Assert.Equal(("reversal.unmatched", Atm, ResponseCodes.Approved), (audit.Event, audit.AtmId, audit.ResponseCode));
        Assert.Equal($"reversal 0420 of stan 999999 at 1125120000 (reason {ReversalReasons.PartialDispense}): no such transaction; acknowledged and kept for investigation", audit.Detail);
        Assert.Equal(0, (await Reverse(new RequestKey(Atm, "999998", "1125120000"), 700)).CreditedMinor);
        Assert.Equal(0, (await ReversalOf(new RequestKey(Atm, "999998", "1125120000")))!.DispensedMinor);
        Assert.Equal(10_000, await Balance());
    }
}
