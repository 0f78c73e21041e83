namespace CardlessAtm.Host.Authorisation;

/// <summary>Host-wide authorisation rules.</summary>
public sealed class HostPolicy
{
    /// <summary>Wrong PIN entries that lock the PIN (default 3).</summary>
    public int MaxPinTries { get; init; } = 3;

    /// <summary>Most any single withdrawal may be, in minor units; larger is an invalid (absurd) amount. Default 1,000,000 (10,000.00).</summary>
    public long MaxWithdrawalMinor { get; init; } = 1_000_000;

    /// <summary>Most a QR session's expiry may lie in the future (the terminal's sessions are short). Default 10 minutes.</summary>
    public TimeSpan MaxSessionLifetime { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Tolerated clock difference between ATM and host when checking expiry. Default 30 s.</summary>
    public TimeSpan ClockSkew { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long after a key change the ATM's previous session key is still accepted, for messages MACed before the
    /// ATM installed the new one (in flight, or queued reversals). Older key sets are pruned. Default 2 minutes.
    /// </summary>
    public TimeSpan PreviousKeyGrace { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// At most one audit row per remote address and refusal kind in this time for unauthenticated refusals (bad-MAC
    /// sign-on, forged 0800/101, not signed on, unknown ATM); the ones suppressed are counted into the next row and every
    /// refusal is counted by the <c>cardless_atm.host.security.refusals</c> metric. Default 1 minute.
    /// </summary>
    public TimeSpan RefusalAuditInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// The most refusal audit rows written per <see cref="RefusalAuditInterval"/> over all addresses and kinds (default
    /// 1,000), whatever the number of addresses a flood comes from. Past it, only the first row of a refusal kind not yet
    /// audited in the interval is written (so a flood of one kind cannot hide another); the refusals dropped are counted
    /// and reported in one <c>security.refusals-suppressed</c> row when the next interval begins.
    /// </summary>
    public int RefusalAuditMaxRows { get; init; } = 1_000;

    /// <summary>
    /// How many times one ATM's signed-on connection may be superseded by a newer sign-on within
    /// <see cref="SupersedeAlertWindow"/> before the host raises a <c>security.sign-on-flapping</c> alert (default 5; at
    /// least 2). Each supersede is a valid sign-on under the ATM's key: many in a short time mean two devices hold its
    /// terminal master key (a cloned ATM) or one ATM keeps reconnecting.
    /// </summary>
    public int SupersedeAlertThreshold { get; init; } = 5;

    /// <summary>The window <see cref="SupersedeAlertThreshold"/> counts supersedes in (default 1 minute; more than 0, at most 1 day).</summary>
    public TimeSpan SupersedeAlertWindow { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How far a sign-on's field 7 (transmission date and time, UTC) may lie from the host's clock, either way (default
    /// 2 minutes). An 0800/001 carries no nonce: outside this window it is refused 63 as stale, inside it the host accepts
    /// each sign-on (by its MAC) once, so a sign-on recorded on the wire cannot be replayed to sign on another connection.
    /// </summary>
    public TimeSpan SignOnFreshness { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Checks the values with <see cref="HostPolicyValidator"/>'s rules; throws naming the bad setting.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range; the message names the setting.</exception>
    public void Validate()
    {
        if (HostPolicyValidator.FirstProblem(this) is { } problem)
        {
            throw problem.Value is null
                ? new ArgumentOutOfRangeException(problem.Name, problem.Problem)
                : new ArgumentOutOfRangeException(problem.Name, problem.Value, problem.Problem);
        }
    }
}
