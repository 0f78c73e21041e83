using System.ComponentModel;
using System.Globalization;

namespace CardlessAtm.Host.Storage;

/// <summary>
/// Which database engine holds the host's ledger (<c>Host:Store:Kind</c>). The configuration binder reads it through
/// <see cref="HostStoreKindConverter"/>, so the names <see cref="HostStoreOptions.ParseKind"/> takes (PostgreSQL too) bind.
/// </summary>
[TypeConverter(typeof(HostStoreKindConverter))]
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

/// <summary>
/// Converts <c>Host:Store:Kind</c> text with <see cref="HostStoreOptions.ParseKind"/> for the configuration binder; an
/// unknown kind throws its <see cref="ConfigurationException"/>, which the binder wraps as the inner exception.
/// </summary>
public sealed class HostStoreKindConverter : EnumConverter
{
    /// <summary>Creates the converter.</summary>
    public HostStoreKindConverter()
        : base(typeof(HostStoreKind))
    {
    }

    /// <inheritdoc/>
    public override object? ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value) =>
        value is string text ? HostStoreOptions.ParseKind(text) : base.ConvertFrom(context, culture, value);
}
