using System.ComponentModel.DataAnnotations;

namespace CardlessAtm.Qr.Sessions;

/// <summary>How long sessions live and how much clock difference is tolerated (configuration section <c>QrSession</c>).</summary>
public sealed class QrSessionOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "QrSession";

    /// <summary>How long a new session's QR stays valid. Default 2 minutes.</summary>
    [Range(typeof(TimeSpan), "00:00:05", "01:00:00")]
    public TimeSpan Lifetime { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// The longest lifetime a verifier accepts: a payload expiring later than now + this + <see cref="ClockSkew"/>
    /// is refused as from the future. Default 10 minutes.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:05", "01:00:00")]
    public TimeSpan MaxLifetime { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Clock difference tolerated between the ATM that wrote the expiry and the verifier. 0 on the terminal
    /// itself (one clock); the host allows for NTP drift. Default 30 seconds.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:05:00")]
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Checks the values with <see cref="QrSessionOptionsValidator"/>'s rules; the issuer and the verifier call it.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range; the message names the setting.</exception>
    public void Validate()
    {
        if (QrSessionOptionsValidator.FirstProblem(this) is { } problem)
        {
            throw new ArgumentOutOfRangeException(problem.Setting, problem.Value, problem.Problem);
        }
    }
}
