using Microsoft.Extensions.Options;

namespace CardlessAtm.Host.Authorisation;

/// <summary>
/// The rules for <see cref="HostPolicy"/> (section <c>Host:Policy</c>), in one place: <see cref="HostPolicy.Validate"/>
/// runs them for the host built in code (throwing <see cref="ArgumentOutOfRangeException"/>), <see cref="ThrowIfInvalid"/>
/// for the configured host (throwing <see cref="ConfigurationException"/> naming <c>Host:Policy:&lt;name&gt;</c>), and
/// <see cref="Validate(string?, HostPolicy)"/> for a registration with <c>ValidateOnStart</c>.
/// </summary>
public sealed class HostPolicyValidator : IValidateOptions<HostPolicy>
{
    /// <summary>The configuration section of the policy.</summary>
    public const string SectionName = "Host:Policy";

    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, HostPolicy options) =>
        FirstProblem(options) is { } problem ? ValidateOptionsResult.Fail($"{SectionName}:{problem.Name}: {problem.Problem}") : ValidateOptionsResult.Success;

    /// <summary>Checks <paramref name="policy"/> read from <c>Host:Policy</c>.</summary>
    /// <exception cref="ConfigurationException">A value is out of range; <see cref="ConfigurationException.Setting"/> is <c>Host:Policy:&lt;name&gt;</c>.</exception>
    public static void ThrowIfInvalid(HostPolicy policy)
    {
        if (FirstProblem(policy) is { } problem)
        {
            throw new ConfigurationException($"{SectionName}:{problem.Name}", problem.Problem.TrimEnd('.'));
        }
    }

    /// <summary>The first value out of range: its property, the value (null where two settings are at fault together) and what is allowed; null when all are.</summary>
    internal static (string Name, object? Value, string Problem)? FirstProblem(HostPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        if (policy.MaxPinTries is < 1 or > 9)
        {
            return (nameof(policy.MaxPinTries), policy.MaxPinTries, "Host:MaxPinTries must be 1..9.");
        }

        if (policy.MaxWithdrawalMinor is < 1 or > 999_999_999_999)
        {
            return (nameof(policy.MaxWithdrawalMinor), policy.MaxWithdrawalMinor, "Host:MaxWithdrawalMinor must be 1..999999999999 (ISO 8583 field 4 is n12).");
        }

        if (policy.MaxSessionLifetime <= TimeSpan.Zero || policy.ClockSkew < TimeSpan.Zero)
        {
            return (nameof(policy.MaxSessionLifetime), null, "Host:MaxSessionLifetime must be positive and Host:ClockSkew not negative.");
        }

        if (policy.PreviousKeyGrace < TimeSpan.Zero || policy.PreviousKeyGrace > TimeSpan.FromHours(1))
        {
            return (nameof(policy.PreviousKeyGrace), policy.PreviousKeyGrace, "Host:Policy:PreviousKeyGrace must be 0..1 hour.");
        }

        if (policy.SignOnFreshness <= TimeSpan.Zero || policy.SignOnFreshness > TimeSpan.FromHours(1))
        {
            return (nameof(policy.SignOnFreshness), policy.SignOnFreshness, "Host:Policy:SignOnFreshness must be more than 0 and at most 1 hour.");
        }

        if (policy.RefusalAuditInterval <= TimeSpan.Zero || policy.RefusalAuditInterval > TimeSpan.FromDays(1))
        {
            return (nameof(policy.RefusalAuditInterval), policy.RefusalAuditInterval, "Host:Policy:RefusalAuditInterval must be more than 0 and at most 1 day.");
        }

        if (policy.RefusalAuditMaxRows is < 1 or > 1_000_000)
        {
            return (nameof(policy.RefusalAuditMaxRows), policy.RefusalAuditMaxRows, "Host:Policy:RefusalAuditMaxRows must be 1 to 1,000,000 (audit rows per Host:Policy:RefusalAuditInterval).");
        }

        if (policy.SupersedeAlertThreshold is < 2 or > 10_000)
        {
            return (nameof(policy.SupersedeAlertThreshold), policy.SupersedeAlertThreshold, "Host:Policy:SupersedeAlertThreshold must be 2 to 10,000 (supersedes of one ATM within Host:Policy:SupersedeAlertWindow).");
        }

        if (policy.SupersedeAlertWindow <= TimeSpan.Zero || policy.SupersedeAlertWindow > TimeSpan.FromDays(1))
        {
            return (nameof(policy.SupersedeAlertWindow), policy.SupersedeAlertWindow, "Host:Policy:SupersedeAlertWindow must be more than 0 and at most 1 day.");
        }

        return null;
    }
}
