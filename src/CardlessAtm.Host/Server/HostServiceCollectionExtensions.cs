using System.Net;
using System.Text.RegularExpressions;
using CardlessAtm.Security;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace CardlessAtm.Host.Server;

/// <summary>Registers the host's settings with dependency injection.</summary>
public static partial class HostServiceCollectionExtensions
{
    /// <summary>What each scalar <c>Host</c> setting accepts, in the words of its one-line error when the binder cannot convert it.</summary>
    private static readonly Dictionary<string, string> Expected = new(StringComparer.OrdinalIgnoreCase)
    {
        ["Host:Port"] = "is not a port number (0-65535)",
        ["Host:Insecure"] = "is not true or false",
        ["Host:MaxConnections"] = Connections,
        ["Host:MaxConnectionsBeforeSignOn"] = Connections,
        ["Host:MaxConnectionsPerAddress"] = Connections,
        ["Host:IdleTimeout"] = Duration,
        ["Host:FirstMessageTimeout"] = Duration,
        ["Host:HandshakeTimeout"] = Duration,
        ["Host:SignOnTimeout"] = Duration,
    };

    private const string Connections = "is not a whole number of connections, at least 1";

    private const string Duration = "is not a positive duration hh:mm:ss (e.g. 00:00:15)";

    /// <summary>
    /// Binds <see cref="HostServerOptions"/> from the <c>Host</c> section of <paramref name="configuration"/> (and the profile
    /// from <c>Security:Profile</c>), checked by <see cref="HostServerOptionsValidator"/> when the host starts (and on first
    /// use). A second call adds nothing.
    /// </summary>
    public static IServiceCollection AddHostServerOptions(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddValidatedOptionsOnce<HostServerOptions, HostServerOptionsValidator>()?.Configure(o => Bind(configuration, o));
        return services;
    }

    /// <summary>
    /// The binding <see cref="AddHostServerOptions"/> registers, without the checks: the <c>Host</c> section by the
    /// configuration binder, then the two values it cannot parse, <c>Host:Address</c> (an IP address) and
    /// <c>Security:Profile</c> (outside the section). A value the binder cannot convert is reported naming its setting.
    /// </summary>
    /// <exception cref="ConfigurationException">A value is malformed; <see cref="ConfigurationException.Setting"/> names it.</exception>
    /// <exception cref="FormatException"><c>Security:Profile</c> is not a profile (the message names it).</exception>
    public static HostServerOptions Bind(IConfiguration configuration, HostServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(options);
        var section = configuration.GetSection(HostServerOptions.SectionName);
        try
        {
            section.Bind(options);
        }
        catch (InvalidOperationException e)
        {
            throw Translate(e, configuration);
        }

        if (section[nameof(HostServerOptions.Address)] is { Length: > 0 } address)
        {
            options.Address = IPAddress.TryParse(address, out var parsed)
                ? parsed
                : throw new ConfigurationException("Host:Address", $"'{address}' is not an IP address (e.g. 127.0.0.1, 0.0.0.0, ::)");
        }

        options.Profile = SecurityProfiles.ParseKind(configuration["Security:Profile"]);
        return options;
    }

    /// <summary>The binder's "Failed to convert configuration value 'x' at 'Host:Port' to type …" as the setting's own line.</summary>
    private static ConfigurationException Translate(InvalidOperationException error, IConfiguration configuration)
    {
        if (error.InnerException is ConfigurationException named)
        {
            return named; // a converter that knows the setting (Host:Store:Kind)
        }

        if (FailedPath().Match(error.Message) is not { Success: true } match)
        {
            return new ConfigurationException(HostServerOptions.SectionName, error.Message.TrimEnd('.'), error);
        }

        var path = match.Groups["path"].Value;
        var value = configuration[path];
        return Expected.TryGetValue(path, out var expected)
            ? new ConfigurationException(path, $"'{value}' {expected}", error)
            : new ConfigurationException(path, $"'{value}' is not a valid {match.Groups["type"].Value.Replace("System.", "", StringComparison.Ordinal)}", error);
    }

    [GeneratedRegex(@" at '(?<path>[^']*)' to type '(?<type>[^']*)'\.?$")]
    private static partial Regex FailedPath();
}
