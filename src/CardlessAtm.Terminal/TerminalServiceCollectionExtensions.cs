using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace CardlessAtm.Terminal;

/// <summary>Registers the terminal's settings with dependency injection.</summary>
public static class TerminalServiceCollectionExtensions
{
    /// <summary>
    /// Binds <see cref="TerminalOptions"/> from the <c>Terminal</c> section of <paramref name="configuration"/>, checked by
    /// <see cref="TerminalOptionsValidator"/> when the host starts (and on first use). A second call adds nothing.
    /// </summary>
    public static IServiceCollection AddTerminalOptions(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddValidatedOptionsOnce<TerminalOptions, TerminalOptionsValidator>()?.Bind(configuration.GetSection(TerminalOptions.SectionName));
        return services;
    }
}
