using CardlessAtm.Qr.Payload;
using CardlessAtm.Qr.Sessions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace CardlessAtm.Qr;

/// <summary>Registers the QR session parts with dependency injection.</summary>
public static class QrServiceCollectionExtensions
{
    /// <summary>
    /// Binds <see cref="QrSessionOptions"/> from the <c>QrSession</c> section, validated when the host starts
    /// (the error names the setting), and registers <see cref="TimeProvider.System"/> unless a TimeProvider is
    /// already registered. The host uses this alone and builds a <see cref="QrSessionVerifier"/> per ATM key.
    /// </summary>
    public static IServiceCollection AddQrSessionOptions(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<QrSessionOptions>().Bind(configuration.GetSection(QrSessionOptions.SectionName)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<QrSessionOptions>, QrSessionOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        return services;
    }

    /// <summary>
    /// The terminal's QR sessions for ATM <paramref name="atmId"/>: the options, the in-memory replay guard
    /// (unless an <see cref="ISessionNonceRegistry"/> is already registered), a <see cref="QrSessionIssuer"/>
    /// and a <see cref="QrSessionVerifier"/>. Both need an <see cref="IQrPayloadMac"/> — the security module's
    /// adapter of the ATM's MAC key — registered by the caller.
    /// </summary>
    public static IServiceCollection AddQrSessionTerminal(this IServiceCollection services, IConfiguration configuration, AtmId atmId)
    {
        AtmId.ThrowIfDefault(atmId, nameof(atmId));
        services.AddQrSessionOptions(configuration);
        services.TryAddSingleton<ISessionNonceRegistry>(sp => new InMemorySessionNonceRegistry(sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton(sp => new QrSessionIssuer(
            atmId, sp.GetRequiredService<IQrPayloadMac>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<IOptions<QrSessionOptions>>().Value));
        services.TryAddSingleton(sp => new QrSessionVerifier(
            sp.GetRequiredService<IQrPayloadMac>(), sp.GetRequiredService<ISessionNonceRegistry>(), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<IOptions<QrSessionOptions>>().Value));
        return services;
    }

    private sealed class QrSessionOptionsValidator : IValidateOptions<QrSessionOptions>
    {
        public ValidateOptionsResult Validate(string? name, QrSessionOptions options)
        {
            try
            {
                options.Validate();
                return ValidateOptionsResult.Success;
            }
            catch (ArgumentOutOfRangeException error)
            {
                return ValidateOptionsResult.Fail(error.Message);
            }
        }
    }
}
