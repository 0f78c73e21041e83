using CardlessAtm.Host.Storage;
using CardlessAtm.Host.Storage.Sqlite;
using CardlessAtm.Host.Tests.Support;
using Microsoft.Data.Sqlite;

namespace CardlessAtm.Host.Tests.Storage;

/// <summary>The store contract on SQLite (a file per named database), and what only SQLite has: WAL, file modes, its migrations.</summary>
public sealed class SqliteHostStoreTests : HostStoreContractTests, IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    protected override IHostStore Open(string database = "host") => SqliteHostStore.Open(_dir.File(database + ".db"));

    protected override void RecordSchemaVersion(string database, int version)
    {
        using var raw = new SqliteConnection($"Data Source={_dir.File(database + ".db")};Pooling=False");
        raw.Open();
        using var cmd = raw.CreateCommand();
        cmd.CommandText = $"INSERT INTO schema_version (version, description, applied_utc) VALUES ({version}, 'future', 'x');";
        cmd.ExecuteNonQuery();
    }

    [Fact]
    public async Task Open_creates_the_schema_in_wal_mode()
    {
        var path = _dir.File("host.db");
        await using (var store = SqliteHostStore.Open(path))
        {
            Assert.Equal(SqliteMigrations.All[^1].Version, store.SchemaVersion);
        }

        using var raw = new SqliteConnection($"Data Source={path};Pooling=False");
        raw.Open();
        using var cmd = raw.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode;";
        Assert.Equal("wal", (string)cmd.ExecuteScalar()!);
        cmd.CommandText = "SELECT COUNT(*) FROM schema_version;";
        Assert.Equal((long)SqliteMigrations.All.Count, (long)cmd.ExecuteScalar()!);
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
}
