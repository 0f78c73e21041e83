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

    /// <summary>Checks the values; call at start-up.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range; the message names the setting.</exception>
    public void Validate()
    {
        Check(nameof(Lifetime), Lifetime, TimeSpan.FromSeconds(5), TimeSpan.FromHours(1));
        Check(nameof(MaxLifetime), MaxLifetime, TimeSpan.FromSeconds(5), TimeSpan.FromHours(1));
        Check(nameof(ClockSkew), ClockSkew, TimeSpan.Zero, TimeSpan.FromMinutes(5));
        if (Lifetime > MaxLifetime)
        {
            throw new ArgumentOutOfRangeException(
                $"{SectionName}:{nameof(Lifetime)}", Lifetime, $"{SectionName}:{nameof(Lifetime)} ({Lifetime}) exceeds {SectionName}:{nameof(MaxLifetime)} ({MaxLifetime}); verifiers would refuse every session as from the future.");
        }
    }

    private static void Check(string name, TimeSpan value, TimeSpan min, TimeSpan max)
    {
        if (value < min || value > max)
        {
            throw new ArgumentOutOfRangeException($"{SectionName}:{name}", value, $"{SectionName}:{name} must be between {min} and {max}, got {value}.");
        }
    }
}
