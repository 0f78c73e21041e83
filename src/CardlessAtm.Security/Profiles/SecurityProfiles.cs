using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace CardlessAtm.Security;

/// <summary>Options bound from the <c>Security</c> configuration section.</summary>
public sealed class SecurityOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Security";

    /// <summary><c>Security:Profile</c>: <c>Aes</c> (default) or <c>Legacy3Des</c>.</summary>
    public SecurityProfileKind Profile { get; set; } = SecurityProfileKind.Aes;

    /// <summary><c>Security:KeyStore</c>: the key store directory (files must be 0600).</summary>
    public string? KeyStore { get; set; }
}

/// <summary>Creates the configured <see cref="ISecurityProfile"/>.</summary>
public static class SecurityProfiles
{
    /// <summary>The profile for <paramref name="kind"/>.</summary>
    public static ISecurityProfile Create(SecurityProfileKind kind) => kind switch
    {
        SecurityProfileKind.Aes => new AesSecurityProfile(),
        SecurityProfileKind.Legacy3Des => new Legacy3DesSecurityProfile(),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown security profile."),
    };

    /// <summary>Parses a profile name (case-insensitive): <c>Aes</c> or <c>Legacy3Des</c>.</summary>
    /// <exception cref="FormatException">Any other value; the message names the setting and the choices.</exception>
    public static SecurityProfileKind ParseKind(string? value, string settingName = "Security:Profile")
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return SecurityProfileKind.Aes;
        }

        if (Enum.TryParse<SecurityProfileKind>(value.Trim(), ignoreCase: true, out var kind) && Enum.IsDefined(kind) && !int.TryParse(value, out _))
        {
            return kind;
        }

        throw new FormatException($"{settingName} = '{value}' is not a security profile; use Aes (default) or Legacy3Des.");
    }

    /// <summary>Reads <c>Security:Profile</c> (default Aes) and <c>Security:KeyStore</c>.</summary>
    public static SecurityOptions ReadOptions(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var section = configuration.GetSection(SecurityOptions.SectionName);
        return new SecurityOptions
        {
            Profile = ParseKind(section["Profile"]),
            KeyStore = section["KeyStore"],
        };
    }

    /// <summary>The profile named by <c>Security:Profile</c> (default Aes).</summary>
    public static ISecurityProfile FromConfiguration(IConfiguration configuration) => Create(ReadOptions(configuration).Profile);
}

/// <summary>DI registration.</summary>
public static class SecurityServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="SecurityOptions"/> and the configured <see cref="ISecurityProfile"/> (singleton).
    /// A bad <c>Security:Profile</c> fails here, at start-up, with a message naming the setting.
    /// </summary>
    public static IServiceCollection AddCardlessAtmSecurity(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = SecurityProfiles.ReadOptions(configuration);
        services.TryAddSingleton(options);
        services.TryAddSingleton(SecurityProfiles.Create(options.Profile));
        return services;
    }
}
