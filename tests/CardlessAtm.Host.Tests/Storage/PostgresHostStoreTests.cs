using System.Net;
using System.Net.Sockets;
using CardlessAtm.Host.Storage;
using CardlessAtm.Host.Storage.Postgres;
using CardlessAtm.Host.Tests.Support;
using Npgsql;

namespace CardlessAtm.Host.Tests.Storage;

/// <summary>
/// The store contract on the real PostgreSQL server of <c>CARDLESS_TEST_POSTGRES</c> (a fresh database per named
/// database, dropped after the test), and PostgreSQL's start-up refusals.
/// </summary>
public sealed class PostgresHostStoreTests : HostStoreContractTests, IRequiresPostgres, IDisposable
{
    private readonly PostgresTestServer _server = new();
    private readonly Dictionary<string, string> _databases = new(StringComparer.Ordinal);

    public void Dispose() => _server.Dispose();

    private string Database(string name)
    {
        if (!_databases.TryGetValue(name, out var connectionString))
        {
            connectionString = _server.CreateDatabase();
            _databases[name] = connectionString;
        }

        return connectionString;
    }

    protected override IHostStore Open(string database = "host") => PostgresHostStore.Open(Database(database));

    protected override void RecordSchemaVersion(string database, int version) => PostgresTestServer.Execute(
        Database(database), $"INSERT INTO schema_version (version, description, applied_utc) VALUES ({version}, 'future', now())");

    [StoreFact]
    public async Task Open_migrates_to_the_newest_version_once_even_when_two_open_at_once()
    {
        var connectionString = Database("twice");
        var stores = await Task.WhenAll(Task.Run(() => PostgresHostStore.Open(connectionString)), Task.Run(() => PostgresHostStore.Open(connectionString)));
        foreach (var store in stores)
        {
            Assert.Equal(PostgresMigrations.All[^1].Version, store.SchemaVersion);
            await store.DisposeAsync();
        }

        using var connection = new NpgsqlConnection(connectionString);
        connection.Open();
        using var cmd = new NpgsqlCommand("SELECT COUNT(*) FROM schema_version", connection);
        Assert.Equal((long)PostgresMigrations.All.Count, (long)cmd.ExecuteScalar()!);
    }

    [StoreFact]
    public async Task A_newer_schema_names_the_setting_and_both_versions()
    {
        await using (Open("newer2"))
        {
        }

        RecordSchemaVersion("newer2", 42);
        var ex = Assert.Throws<ConfigurationException>(() => Open("newer2"));
        Assert.Equal(PostgresHostStore.ConnectionStringSetting, ex.Setting);
        Assert.Contains($"schema version 42, newer than this program knows ({PostgresMigrations.All[^1].Version})", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', ex.Message);
    }

    [StoreFact]
    public void A_malformed_connection_string_names_the_setting()
    {
        var ex = Assert.Throws<ConfigurationException>(() => PostgresHostStore.Open("Host=127.0.0.1;Password=Sekr1tPass;NoSuchKeyword=1"));
        Assert.Equal("Host:Store:ConnectionString", ex.Setting);
        Assert.DoesNotContain("Sekr1tPass", ex.Message, StringComparison.Ordinal);
    }

    [StoreFact]
    public void An_unreachable_server_names_the_setting_and_not_the_password()
    {
        // A loopback port nobody listens on: bound, then closed again.
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }

        var ex = Assert.Throws<ConfigurationException>(() =>
            PostgresHostStore.Open($"Host=127.0.0.1;Port={port};Database=ledger;Username=host;Password=Sekr1tPass;Timeout=5"));
        Assert.Equal("Host:Store:ConnectionString", ex.Setting);
        Assert.Contains($"127.0.0.1:{port}", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Sekr1tPass", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', ex.Message);
    }

    [StoreFact]
    public void A_wrong_password_names_the_setting_and_not_the_password()
    {
        var connectionString = new NpgsqlConnectionStringBuilder(Database("login")) { Password = "Wr0ngPassw0rd" }.ConnectionString;
        var ex = Assert.Throws<ConfigurationException>(() => PostgresHostStore.Open(connectionString));
        Assert.Equal("Host:Store:ConnectionString", ex.Setting);
        Assert.DoesNotContain("Wr0ngPassw0rd", ex.Message, StringComparison.Ordinal);
    }
}
