namespace CardlessAtm.Host.Storage;

/// <summary>Which database engine holds the host's ledger (<c>Host:Store:Kind</c>).</summary>
public enum HostStoreKind
{
    /// <summary>One SQLite file (<c>Host:DatabasePath</c>), one host process.</summary>
    Sqlite,

    /// <summary>A PostgreSQL database (<c>Host:Store:ConnectionString</c>) that several host processes may share.</summary>
    Postgres,
}

/// <summary>The <c>Host:Store</c> settings.</summary>
public sealed class HostStoreOptions
{
    /// <summary>The setting that chooses the engine.</summary>
    public const string KindSetting = "Host:Store:Kind";

    /// <summary><c>Host:Store:Kind</c>: Sqlite (default) or Postgres.</summary>
    public HostStoreKind Kind { get; set; } = HostStoreKind.Sqlite;

    /// <summary><c>Host:Store:ConnectionString</c>: the Npgsql connection string, required for Postgres.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>Parses <c>Host:Store:Kind</c> (case-insensitive); null or empty is Sqlite.</summary>
    /// <exception cref="ConfigurationException">Any other value.</exception>
    public static HostStoreKind ParseKind(string? text) => text?.Trim().ToUpperInvariant() switch
    {
        null or "" or "SQLITE" => HostStoreKind.Sqlite,
        "POSTGRES" or "POSTGRESQL" => HostStoreKind.Postgres,
        _ => throw new ConfigurationException(KindSetting, $"'{text}' is not a store kind; use Sqlite or Postgres"),
    };
}
