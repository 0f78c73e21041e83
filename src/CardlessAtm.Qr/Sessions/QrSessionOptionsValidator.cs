using System.Globalization;
using Microsoft.Extensions.Options;

namespace CardlessAtm.Qr.Sessions;

/// <summary>
/// The rules for <see cref="QrSessionOptions"/> (section <c>QrSession</c>), run at host start by
/// <see cref="QrServiceCollectionExtensions.AddQrSessionOptions"/>; every failure starts with the full setting
/// (<c>QrSession:Lifetime: …</c>). <see cref="QrSessionOptions.Validate"/> runs the same rules for the issuer and the
/// verifier built without DI.
/// </summary>
public sealed class QrSessionOptionsValidator : IValidateOptions<QrSessionOptions>
{
    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, QrSessionOptions options) =>
        FirstProblem(options) is { } problem ? ValidateOptionsResult.Fail($"{problem.Setting}: {problem.Problem}") : ValidateOptionsResult.Success;

    /// <summary>The first setting out of range with its value and what is wrong; null when every value is allowed.</summary>
    internal static (string Setting, TimeSpan Value, string Problem)? FirstProblem(QrSessionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var outOfRange = Check(nameof(options.Lifetime), options.Lifetime, TimeSpan.FromSeconds(5), TimeSpan.FromHours(1))
            ?? Check(nameof(options.MaxLifetime), options.MaxLifetime, TimeSpan.FromSeconds(5), TimeSpan.FromHours(1))
            ?? Check(nameof(options.ClockSkew), options.ClockSkew, TimeSpan.Zero, TimeSpan.FromMinutes(5));
        if (outOfRange is not null)
        {
            return outOfRange;
        }

        if (options.Lifetime > options.MaxLifetime)
        {
            var setting = $"{QrSessionOptions.SectionName}:{nameof(options.Lifetime)}";
            return (setting, options.Lifetime, string.Create(CultureInfo.InvariantCulture, $"{setting} ({options.Lifetime}) exceeds {QrSessionOptions.SectionName}:{nameof(options.MaxLifetime)} ({options.MaxLifetime}); verifiers would refuse every session as from the future."));
        }

        return null;
    }

    private static (string Setting, TimeSpan Value, string Problem)? Check(string name, TimeSpan value, TimeSpan min, TimeSpan max)
    {
        var setting = $"{QrSessionOptions.SectionName}:{name}";
        return value < min || value > max
            ? (setting, value, string.Create(CultureInfo.InvariantCulture, $"{setting} must be between {min} and {max}, got {value}."))
            : null;
    }
}
