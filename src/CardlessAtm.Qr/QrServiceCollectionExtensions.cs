using CardlessAtm.Qr.Sessions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace CardlessAtm.Qr;

/// <summary>Registers the QR session parts with dependency injection.</summary>
public static class QrServiceCollectionExtensions
{
    /// <summary>
    /// Binds <see cref="QrSessionOptions"/> from the <c>QrSession</c> section, validated when the host starts
    /// (the error names the setting), and registers <see cref="TimeProvider.System"/> unless a TimeProvider is
    /// already registered.
    /// </summary>
    public static IServiceCollection AddQrSessionOptions(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddValidatedOptionsOnce<QrSessionOptions, QrSessionOptionsValidator>()?.Bind(configuration.GetSection(QrSessionOptions.SectionName));
        services.TryAddSingleton(TimeProvider.System);
        return services;
    }
}
