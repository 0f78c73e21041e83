using Npgsql;

namespace CardlessAtm.Host.Tests.Support;

/// <summary>
/// The real PostgreSQL server the store tests use: its connection string comes from
/// <c>CARDLESS_TEST_POSTGRES</c> (a role that may create databases; .ci/run sets it). Each test makes its own
/// databases and drops them, so runs and tests do not see each other's rows.
/// </summary>
public sealed class PostgresTestServer : IDisposable
{
    /// <summary>The environment variable with the server's connection string.</summary>
    public const string VariableName = "CARDLESS_TEST_POSTGRES";

    private readonly List<string> _databases = [];

    /// <summary>The server's connection string, or null.</summary>
    public static string? ConnectionString => Environment.GetEnvironmentVariable(VariableName) is { Length: > 0 } value ? value : null;

    /// <summary>Why the PostgreSQL tests are skipped here, or null when they run (the variable is set, or CI=true).</summary>
    public static string? SkipReason =>
        ConnectionString is null && !string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase)
            ? $"{VariableName} is not set: no PostgreSQL server to test against (.ci/run starts one and sets it; CI=true turns this skip into a failure)."
            : null;

    private static string Server => ConnectionString
        ?? throw new InvalidOperationException($"{VariableName} is not set, and CI=true requires the PostgreSQL tests to run (.ci/run starts a server and sets it).");

    /// <summary>Creates a fresh database and returns its connection string.</summary>
    public string CreateDatabase()
    {
        var name = "cardless_test_" + Guid.NewGuid().ToString("N")[..16];
        using (var connection = new NpgsqlConnection(Server))
        {
            connection.Open();
            using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            cmd.ExecuteNonQuery();
        }

        _databases.Add(name);
        return new NpgsqlConnectionStringBuilder(Server) { Database = name }.ConnectionString;
    }

    /// <summary>Runs one statement against a database this server made.</summary>
    public static void Execute(string connectionString, string sql)
    {
        using var connection = new NpgsqlConnection(connectionString);
        connection.Open();
        using var cmd = new NpgsqlCommand(sql, connection);
        cmd.ExecuteNonQuery();
    }

    /// <summary>Drops the databases (and ends any connection still on them).</summary>
    public void Dispose()
    {
        if (_databases.Count == 0)
        {
            return;
        }

        NpgsqlConnection.ClearAllPools();
        using var connection = new NpgsqlConnection(Server);
        connection.Open();
        foreach (var name in _databases)
        {
            using var cmd = new NpgsqlCommand($"DROP DATABASE IF EXISTS {name} WITH (FORCE)", connection);
            cmd.ExecuteNonQuery();
        }
    }
}
