using CardlessAtm.Host.Storage;
using CardlessAtm.Host.Tests.Support;

namespace CardlessAtm.Host.Tests.Storage;

/// <summary>
/// What every <see cref="IHostStore"/> promises, written once and run by one subclass per engine
/// (<see cref="SqliteHostStoreTests"/>, <see cref="PostgresHostStoreTests"/>) against the real database.
/// A "database" is named, so a test can open a second store on the same one, as a second host process would.
/// </summary>
public abstract class HostStoreContractTests
{
    /// <summary>Opens a store on the named database, creating it the first time.</summary>
    protected abstract IHostStore Open(string database = "host");

    /// <summary>Writes a schema version newer than the program's into the named database, behind the store's back.</summary>
    protected abstract void RecordSchemaVersion(string database, int version);

    protected static AccountRecord Account(string id, long balance) =>
        new(id, "Test Holder", 978, balance, AccountStatus.Active, 100_000, 10);

    private static readonly DateOnly Day = new(2026, 1, 5);

    private static TransactionRecord Approved(string stan, string accountId, long amount) =>
        new(0, new RequestKey("ATM00001", stan, "0105120000"), "rrn" + stan, accountId, new Money(amount, Currency.FromNumericCode(978)), "00", "A" + stan[1..], 0, Day, DateTimeOffset.UnixEpoch);

    [StoreFact]
    public async Task Reopening_keeps_the_data_and_the_ledger_balances()
    {
        await using (var store = Open())
        {
            await store.WriteAsync(w =>
            {
                w.InsertAccount(Account("ACC1", 5000));
                return 0;
            });
        }

        await using var reopened = Open();
        var account = await reopened.ReadAsync(r => r.GetAccount("ACC1"));
        Assert.NotNull(account);
        Assert.Equal(5000, account.BalanceMinor);
        Assert.True((await reopened.ReadAsync(r => r.GetLedgerTotals())).Balances);
    }

    [StoreFact]
    public async Task A_database_from_a_newer_program_is_refused()
    {
        await using (Open("newer"))
        {
        }

        RecordSchemaVersion("newer", 99);
        var ex = Record.Exception(() => Open("newer"));
        Assert.NotNull(ex);
        Assert.True(ex is StoreUnavailableException or ConfigurationException, $"unexpected {ex.GetType()}");
        Assert.Contains("schema version 99", ex.Message, StringComparison.Ordinal);
    }

    [StoreFact]
    public async Task A_failing_write_rolls_back_only_its_own_changes()
    {
        await using var store = Open();
        await store.WriteAsync(w =>
        {
            w.InsertAccount(Account("ACC1", 1000));
            return 0;
        });

        // Queue many writes at once so that they share commits (or connections); every third one fails half-way.
        var tasks = Enumerable.Range(0, 60).Select(i => store.WriteAsync(w =>
        {
            w.PostLedgerEntry("ACC1", 10, LedgerEntryKind.Credit, null);
            if (i % 3 == 0)
            {
                throw new InvalidOperationException("fail " + i);
            }

            return i;
        })).ToList();

        var failures = 0;
        foreach (var task in tasks)
        {
            try
            {
                await task;
            }
            catch (InvalidOperationException)
            {
                failures++;
            }
        }

        Assert.Equal(20, failures);
        var account = await store.ReadAsync(r => r.GetAccount("ACC1"));
        Assert.Equal(1000 + (40 * 10), account!.BalanceMinor);
        Assert.True((await store.ReadAsync(r => r.GetLedgerTotals())).Balances);
    }

    [StoreFact]
    public async Task Racing_consumers_of_one_session_nonce_let_exactly_one_through()
    {
        await using var store = Open();
        var results = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => Task.Run(() =>
            store.WriteAsync(w => w.TryConsumeSessionNonce("ATM00001:ABCDEFGHIJKLMNOP", "ATM00001")))));
        Assert.Equal(1, results.Count(r => r));
    }

    [StoreFact]
    public async Task Two_stores_on_one_database_racing_for_one_session_nonce_let_exactly_one_through()
    {
        await using var first = Open();
        await using var second = Open();
        var results = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Task.Run(() =>
            (i % 2 == 0 ? first : second).WriteAsync(w => w.TryConsumeSessionNonce("ATM00001:QRSTUVWXYZABCDEF", "ATM00001")))));
        Assert.Equal(1, results.Count(r => r));
    }

    [StoreFact]
    public async Task Two_stores_racing_to_debit_one_balance_never_overdraw_it()
    {
        await using var first = Open();
        await using var second = Open();
        await first.WriteAsync(w =>
        {
            w.InsertAccount(Account("ACC1", 1000));
            return 0;
        });

        // 40 withdrawals of 100 from a balance of 1000, half through each store: exactly 10 can be approved.
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Task.Run(async () =>
        {
            try
            {
                return await (i % 2 == 0 ? first : second).WriteAsync(w =>
                {
                    var transaction = w.TryInsertTransaction(Approved(i.ToString("D6", System.Globalization.CultureInfo.InvariantCulture), "ACC1", 100), null)!;
                    w.PostLedgerEntry("ACC1", -100, LedgerEntryKind.Withdrawal, transaction.TransactionId);
                    return transaction.ResponseCode;
                });
            }
            catch (StoreConflictException)
            {
                return "51";
            }
        })));

        Assert.Equal(10, outcomes.Count(c => c == "00"));
        Assert.Equal(30, outcomes.Count(c => c == "51"));
        Assert.Equal(0, (await second.ReadAsync(r => r.GetAccount("ACC1")))!.BalanceMinor);
        var totals = await first.ReadAsync(r => r.GetLedgerTotals());
        Assert.Equal((0L, 1000L, 1000L, 0L), (totals.SumOfBalancesMinor, totals.OpeningAndCreditsMinor, totals.ApprovedWithdrawalsMinor, totals.ReversalsMinor));
        Assert.True(totals.Balances);
    }

    [StoreFact]
    public async Task Two_stores_racing_to_reverse_one_withdrawal_credit_it_once()
    {
        await using var first = Open();
        await using var second = Open();
        var original = await first.WriteAsync(w =>
        {
            w.InsertAccount(Account("ACC1", 1000));
            var transaction = w.TryInsertTransaction(Approved("000001", "ACC1", 400), null)!;
            w.PostLedgerEntry("ACC1", -400, LedgerEntryKind.Withdrawal, transaction.TransactionId);
            return transaction;
        });

        // The same 0420 arriving 20 times through two host processes: one reversal row, one credit.
        var applied = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => Task.Run(() =>
            (i % 2 == 0 ? first : second).WriteAsync(w =>
            {
                var transaction = w.FindTransaction(original.Key)!;
                var left = transaction.Amount.MinorUnits - transaction.ReversedMinor;
                var reversal = w.TryInsertReversal(new ReversalRecord(0, original.Key, transaction.TransactionId, 0, left, left > 0 ? ReversalOutcomeKind.Applied : ReversalOutcomeKind.NoEffect, w.UtcNow));
                if (reversal is null || left == 0)
                {
                    return false;
                }

                w.AddReversedAmount(transaction.TransactionId, left);
                w.PostLedgerEntry("ACC1", left, LedgerEntryKind.Reversal, transaction.TransactionId);
                return true;
            }))));

        Assert.Equal(1, applied.Count(a => a));
        Assert.Equal(1000, (await first.ReadAsync(r => r.GetAccount("ACC1")))!.BalanceMinor);
        var reversal = await second.ReadAsync(r => r.FindReversal(original.Key));
        Assert.Equal((400L, ReversalOutcomeKind.Applied), (reversal!.CreditedMinor, reversal.Outcome));
        var totals = await second.ReadAsync(r => r.GetLedgerTotals());
        Assert.Equal((1000L, 400L, 400L), (totals.SumOfBalancesMinor, totals.ApprovedWithdrawalsMinor, totals.ReversalsMinor));
        Assert.True(totals.Balances);
    }

    [StoreFact]
    public async Task Two_stores_racing_past_a_daily_count_limit_approve_only_what_it_allows()
    {
        await using var first = Open();
        await using var second = Open();
        await first.WriteAsync(w =>
        {
            w.InsertAccount(Account("ACC1", 100_000));
            return 0;
        });

        // A decision that reads (today's usage) before it writes: no unique key or row lock covers the rows it sums,
        // so only a serialisable store (SQLite's one writer; PostgreSQL's SERIALIZABLE with re-run) keeps it at 3.
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => Task.Run(() =>
            (i % 2 == 0 ? first : second).WriteAsync(w =>
            {
                if (w.GetDailyUsage("ACC1", Day).Count >= 3)
                {
                    return "65";
                }

                var transaction = w.TryInsertTransaction(Approved((100 + i).ToString("D6", System.Globalization.CultureInfo.InvariantCulture), "ACC1", 1_000), null)!;
                w.PostLedgerEntry("ACC1", -1_000, LedgerEntryKind.Withdrawal, transaction.TransactionId);
                return transaction.ResponseCode;
            }))));

        Assert.Equal(3, outcomes.Count(c => c == "00"));
        Assert.Equal(17, outcomes.Count(c => c == "65"));
        Assert.Equal(new DailyUsage(3_000, 3), await first.ReadAsync(r => r.GetDailyUsage("ACC1", Day)));
        Assert.Equal(97_000, (await second.ReadAsync(r => r.GetAccount("ACC1")))!.BalanceMinor);
        Assert.True((await second.ReadAsync(r => r.GetLedgerTotals())).Balances);
    }

    [StoreFact]
    public async Task A_duplicate_request_key_finds_the_first_decision()
    {
        await using var store = Open();
        var (first, again) = await store.WriteAsync(w =>
        {
            w.InsertAccount(Account("ACC1", 1000));
            return (w.TryInsertTransaction(Approved("000007", "ACC1", 100), null), w.TryInsertTransaction(Approved("000007", "ACC1", 200), null));
        });
        Assert.NotNull(first);
        Assert.Null(again);
        var found = await store.ReadAsync(r => r.FindTransaction(first.Key));
        Assert.Equal((first.TransactionId, 100L, "00", Day), (found!.TransactionId, found.Amount.MinorUnits, found.ResponseCode, found.BusinessDay));
    }

    [StoreFact]
    public async Task A_debit_that_would_overdraw_is_refused_and_changes_nothing()
    {
        await using var store = Open();
        await store.WriteAsync(w =>
        {
            w.InsertAccount(Account("ACC1", 100));
            return 0;
        });
        await Assert.ThrowsAsync<StoreConflictException>(() => store.WriteAsync(w =>
        {
            w.PostLedgerEntry("ACC1", -101, LedgerEntryKind.Withdrawal, null);
            return 0;
        }));
        Assert.Equal(100, (await store.ReadAsync(r => r.GetAccount("ACC1")))!.BalanceMinor);
    }

    [StoreFact]
    public async Task Sql_looking_text_is_stored_as_data()
    {
        await using var store = Open();
        const string hostile = "x'); DROP TABLE accounts; --";
        await store.WriteAsync(w =>
        {
            w.AppendAudit("test", "ATM00001", "30", hostile);
            return 0;
        });
        var audit = await store.ReadAsync(r => r.GetRecentAudit(1));
        Assert.Equal(hostile, audit[0].Detail);
        await store.WriteAsync(w =>
        {
            w.InsertAccount(Account("ACC2", 1));
            return 0;
        });
    }
}
