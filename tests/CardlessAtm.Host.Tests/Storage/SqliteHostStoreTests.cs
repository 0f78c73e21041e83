using CardlessAtm.Host.Storage;
using CardlessAtm.Host.Storage.Sqlite;
using CardlessAtm.Host.Tests.Support;
using Microsoft.Data.Sqlite;

namespace CardlessAtm.Host.Tests.Storage;

public sealed class SqliteHostStoreTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static AccountRecord Account(string id, long balance) =>
        new(id, "Test Holder", 978, balance, AccountStatus.Active, 100_000, 10);

    [Fact]
    public async Task Open_creates_the_schema_in_wal_mode_and_reopening_keeps_data()
    {
        var path = _dir.File("host.db");
        await using (var store = SqliteHostStore.Open(path))
        {
            Assert.Equal(SqliteMigrations.All[^1].Version, store.SchemaVersion);
            await store.WriteAsync(w =>
            {
                w.InsertAccount(Account("ACC1", 5000));
                return 0;
            });
        }

        using (var raw = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            raw.Open();
            using var cmd = raw.CreateCommand();
            cmd.CommandText = "PRAGMA journal_mode;";
            Assert.Equal("wal", (string)cmd.ExecuteScalar()!);
            cmd.CommandText = "SELECT COUNT(*) FROM schema_version;";
            Assert.Equal((long)SqliteMigrations.All.Count, (long)cmd.ExecuteScalar()!);
        }

        await using (var reopened = SqliteHostStore.Open(path))
        {
            var account = await reopened.ReadAsync(r => r.GetAccount("ACC1"));
            Assert.NotNull(account);
            Assert.Equal(5000, account.BalanceMinor);
            Assert.True((await reopened.ReadAsync(r => r.GetLedgerTotals())).Balances);
        }
    }

    [Fact]
    public async Task A_new_database_and_its_wal_are_owner_only()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var path = _dir.File("private.db");
        await using var store = SqliteHostStore.Open(path);
        await store.WriteAsync(w =>
        {
            w.InsertAccount(Account("ACC1", 5000));
            return 0;
        });

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.True(File.Exists(path + "-wal"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path + "-wal"));
    }

    [Fact]
    public async Task A_host_db_created_by_schema_version_1_is_migrated_and_keeps_its_reversals()
    {
        // A host.db as the previous program left it: schema 1 only, with a day's withdrawal and reversal.
        var path = _dir.File("v1.db");
        using (var raw = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            raw.Open();
            using var cmd = raw.CreateCommand();
            cmd.CommandText = "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_utc TEXT NOT NULL) STRICT;"
                + SqliteMigrations.All[0].Sql
                + """
                INSERT INTO schema_version VALUES (1, 'v1', '2025-01-01T00:00:00Z');
                INSERT INTO atms (atm_id, location, currency, status, master_key_ref, created_utc, updated_utc)
                    VALUES ('ATM00001', 'x', 978, 'active', 'tmk', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z');
                INSERT INTO transactions (atm_id, stan, transmission, rrn, account_id, amount_minor, currency, response_code, reversed_minor, business_day, created_utc)
                    VALUES ('ATM00001', '000001', '0101000000', 'r', NULL, 5000, 978, '00', 5000, '2025-01-01', '2025-01-01T00:00:00Z');
                INSERT INTO reversals (atm_id, orig_stan, orig_transmission, transaction_id, dispensed_minor, credited_minor, outcome, business_day, created_utc)
                    VALUES ('ATM00001', '000001', '0101000000', 1, 0, 5000, 'applied', '2025-01-01', '2025-01-01T00:00:00Z');
                """;
            cmd.ExecuteNonQuery();
        }

        await using var store = SqliteHostStore.Open(path);
        Assert.Equal(SqliteMigrations.All[^1].Version, store.SchemaVersion);
        var reversal = await store.ReadAsync(r => r.FindReversal(new RequestKey("ATM00001", "000001", "0101000000")));
        Assert.NotNull(reversal);
        Assert.Equal((5_000L, (string?)null, 0L), (reversal.CreditedMinor, reversal.ReasonCode, reversal.SuspectMinor));
        var line = Assert.Single(await store.ReadAsync(r => r.GetDayReport(new DateOnly(2025, 1, 1))));
        Assert.Equal((1, 5_000L, 0, 0L, 0), (line.ReversedCount, line.ReversedMinor, line.SuspectCount, line.SuspectMinor, line.DeclinedCount));
    }

    [Fact]
    public async Task A_database_from_a_newer_program_is_refused()
    {
        var path = _dir.File("newer.db");
        await using (SqliteHostStore.Open(path))
        {
        }

        using (var raw = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            raw.Open();
            using var cmd = raw.CreateCommand();
            cmd.CommandText = "INSERT INTO schema_version (version, description, applied_utc) VALUES (99, 'future', 'x');";
            cmd.ExecuteNonQuery();
        }

        var ex = Assert.Throws<StoreUnavailableException>(() => SqliteHostStore.Open(path));
        Assert.Contains("schema version 99", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_failing_write_rolls_back_only_its_own_changes_in_a_group_commit()
    {
        await using var store = SqliteHostStore.Open(_dir.File("batch.db"));
        await store.WriteAsync(w =>
        {
            w.InsertAccount(Account("ACC1", 1000));
            return 0;
        });

        // Queue many writes at once so that they share commits; every third one fails half-way.
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

    [Fact]
    public async Task Racing_consumers_of_one_session_nonce_let_exactly_one_through()
    {
        await using var store = SqliteHostStore.Open(_dir.File("nonce.db"));
        var results = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => Task.Run(() =>
            store.WriteAsync(w => w.TryConsumeSessionNonce("ATM00001:ABCDEFGHIJKLMNOP", "ATM00001")))));
        Assert.Equal(1, results.Count(r => r));
    }

    [Fact]
    public async Task A_debit_that_would_overdraw_is_refused_and_changes_nothing()
    {
        await using var store = SqliteHostStore.Open(_dir.File("overdraw.db"));
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

    [Fact]
    public async Task Sql_looking_text_is_stored_as_data()
    {
        await using var store = SqliteHostStore.Open(_dir.File("sql.db"));
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
