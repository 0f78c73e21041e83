using System.Globalization;
using CardlessAtm.Host.Authorisation;
using CardlessAtm.Host.Storage;
using CardlessAtm.Host.Storage.Postgres;

namespace CardlessAtm.Host.Server;

/// <summary>
/// The rules for <see cref="HostServerOptions"/> (section <c>Host</c>), in one place: run at host start by a registration
/// with <c>ValidateOnStart</c>, and by <see cref="HostServer.OpenAsync"/> / <see cref="HostServer.StartAsync"/> for a host
/// built without DI. Every failure names the full setting. The order matters where a test reads the first failure: the
/// store first (its kind decides which paths are required), then the paths, the port, the connection limits, the
/// timeouts and the policy.
/// </summary>
public sealed class HostServerOptionsValidator : ConfigurationValidator<HostServerOptions>
{
    /// <inheritdoc/>
    protected override void Check(HostServerOptions options) => ThrowIfInvalid(options);

    /// <summary>Checks the settings; throws naming the first setting at fault.</summary>
    /// <exception cref="ConfigurationException">A setting is missing or out of range; <see cref="ConfigurationException.Setting"/> names it.</exception>
    public static void ThrowIfInvalid(HostServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        CheckStore(options.Store);
        if (options.Store.Kind == HostStoreKind.Sqlite && string.IsNullOrWhiteSpace(options.DatabasePath))
        {
            throw new ConfigurationException("Host:DatabasePath", "must name the SQLite file");
        }

        if (options.Store.Kind == HostStoreKind.Postgres && string.IsNullOrWhiteSpace(options.Keys.KekPath))
        {
            throw new ConfigurationException(PostgresKeyVault.KekPathSetting, "is required when Host:Store:Kind is Postgres: it names this host's 0600 key-encryption key file (make one with 'cardless-atm host keys kek --out FILE', then copy it to every host)");
        }

        if (options.Store.Kind == HostStoreKind.Sqlite && string.IsNullOrWhiteSpace(options.KeyVaultPath))
        {
            throw new ConfigurationException("Host:KeyVaultPath", "must name the key vault directory");
        }

        if (options.Port is < 0 or > 65535)
        {
            throw new ConfigurationException("Host:Port", string.Create(CultureInfo.InvariantCulture, $"{options.Port} is not a port number (0-65535)"));
        }

        if (options.MaxConnections < 1)
        {
            throw new ConfigurationException("Host:MaxConnections", string.Create(CultureInfo.InvariantCulture, $"{options.MaxConnections} is not a whole number of connections, at least 1"));
        }

        CheckLimit(options.MaxConnectionsBeforeSignOn, options.MaxConnections, "Host:MaxConnectionsBeforeSignOn");
        CheckLimit(options.MaxConnectionsPerAddress, options.MaxConnections, "Host:MaxConnectionsPerAddress");
        RequirePositive(options.IdleTimeout, "Host:IdleTimeout");
        RequirePositive(options.FirstMessageTimeout, "Host:FirstMessageTimeout");
        RequirePositive(options.HandshakeTimeout, "Host:HandshakeTimeout");
        RequirePositive(options.SignOnTimeout, "Host:SignOnTimeout");
        HostPolicyValidator.ThrowIfInvalid(options.Policy);
    }

    /// <summary>What listening needs on top of <see cref="ThrowIfInvalid(HostServerOptions)"/>: TLS, or an explicit <c>Host:Insecure = true</c>.</summary>
    /// <exception cref="ConfigurationException">A setting is invalid, or no certificate and not insecure.</exception>
    public static void ThrowIfCannotListen(HostServerOptions options)
    {
        ThrowIfInvalid(options);
        if (!options.Tls.Enabled && !options.Insecure)
        {
            throw new ConfigurationException(
                "Host:Tls:CertificatePath",
                "Host:Tls:CertificatePath and Host:Tls:PrivateKeyPath must name the host's TLS certificate and key (make them with 'cardless-atm keys tls'; ATMs pin it as Terminal:Host:Tls:ServerPin); plain TCP needs Host:Insecure = true.");
        }
    }

    /// <summary>The <c>Host:Store</c> combination: a known kind, and a connection string with Postgres.</summary>
    /// <exception cref="ConfigurationException">Postgres without a connection string, or an unknown kind.</exception>
    public static void CheckStore(HostStoreOptions store)
    {
        ArgumentNullException.ThrowIfNull(store);
        if (!Enum.IsDefined(store.Kind))
        {
            throw new ConfigurationException(HostStoreOptions.KindSetting, $"'{store.Kind}' is not a store kind; use Sqlite or Postgres");
        }

        if (store.Kind == HostStoreKind.Postgres && string.IsNullOrWhiteSpace(store.ConnectionString))
        {
            throw new ConfigurationException(PostgresHostStore.ConnectionStringSetting, "is required when Host:Store:Kind is Postgres");
        }
    }

    private static void CheckLimit(int value, int maxConnections, string setting)
    {
        if (value > maxConnections)
        {
            throw new ConfigurationException(setting, string.Create(CultureInfo.InvariantCulture, $"{value} is more than Host:MaxConnections ({maxConnections}); it must be 1 to that"));
        }

        if (value < 1)
        {
            throw new ConfigurationException(setting, string.Create(CultureInfo.InvariantCulture, $"{value} is less than 1; it must be 1 to Host:MaxConnections ({maxConnections})"));
        }
    }

    private static void RequirePositive(TimeSpan value, string setting)
    {
        if (value <= TimeSpan.Zero)
        {
            throw new ConfigurationException(setting, string.Create(CultureInfo.InvariantCulture, $"'{value}' is not a positive duration hh:mm:ss (e.g. 00:00:15)"));
        }
    }
}
