namespace CardlessAtm.Host.Processing;

/// <summary>
/// Bounds the audit rows that refusals of unauthenticated traffic write (bad-MAC sign-on, forged or replayed 0800/101,
/// 0200/0420 on a connection not signed on, unknown field 41): per remote address and event kind at most one row per
/// <see cref="Authorisation.HostPolicy.RefusalAuditInterval"/>; the refusals suppressed in between are counted and
/// carried into the next row for that key. A stranger therefore grows the database by at most one row per address, event
/// kind and interval, however fast it sends. Past <see cref="MaxKeys"/> tracked keys, new addresses share one overflow
/// key ("*") per event kind, so the table itself stays bounded too. At most once per interval, keys that have had no
/// refusal for two intervals are expired, so a full table recovers; the refusals they had suppressed (which no later
/// row of theirs will carry) are handed to the caller once, in <see cref="RefusalAuditDecision.ExpiredSuppressed"/>, for
/// a summary row. Thread-safe.
/// </summary>
public sealed class RefusalAuditThrottle
{
    /// <summary>The most (address, event) keys tracked before new addresses share the overflow key.</summary>
    public const int MaxKeys = 4096;

    /// <summary>The address key used once <see cref="MaxKeys"/> keys are tracked.</summary>
    public const string OverflowAddress = "*";

    private readonly Dictionary<(string Address, string Event), Window> _windows = [];
    private readonly TimeSpan _interval;
    private readonly Lock _lock = new();
    private DateTimeOffset? _lastSweep;

    /// <summary>Creates the throttle.</summary>
    public RefusalAuditThrottle(TimeSpan interval)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        _interval = interval;
    }

    /// <summary>How many keys are tracked now.</summary>
    public int TrackedKeys
    {
        get
        {
            lock (_lock)
            {
                return _windows.Count;
            }
        }
    }

    /// <summary>
    /// Counts one refusal of <paramref name="eventName"/> from <paramref name="address"/> at <paramref name="now"/>.
    /// Returns whether it gets an audit row and, if so, how many refusals for that key were suppressed since the last row
    /// (and the address key the row is written under).
    /// </summary>
    public RefusalAuditDecision Admit(string address, string eventName, DateTimeOffset now)
    {
        lock (_lock)
        {
            var key = (address, eventName);
            var (expiredSuppressed, expiredKeys) = _windows.ContainsKey(key) ? (0L, 0) : Sweep(now, key);
            if (!_windows.ContainsKey(key) && _windows.Count >= MaxKeys)
            {
                Prune(now);
                if (_windows.Count >= MaxKeys)
                {
                    key = (OverflowAddress, eventName);
                }
            }

            if (_windows.TryGetValue(key, out var window) && now < window.Start + _interval)
            {
                _windows[key] = window with { Suppressed = window.Suppressed + 1, Last = now };
                return new RefusalAuditDecision(false, 0, key.Item1, window.Start, expiredSuppressed, expiredKeys);
            }

            var suppressed = window?.Suppressed ?? 0;
            _windows[key] = new Window(now, 0, now);
            return new RefusalAuditDecision(true, suppressed, key.Item1, window?.Start, expiredSuppressed, expiredKeys);
        }
    }

    /// <summary>
    /// At most once per interval: removes the keys (other than <paramref name="except"/>) with no refusal for two
    /// intervals and returns what they had suppressed, to be reported once.
    /// </summary>
    private (long Suppressed, int Keys) Sweep(DateTimeOffset now, (string, string) except)
    {
        if (_lastSweep is { } last && now < last + _interval)
        {
            return (0, 0);
        }

        _lastSweep = now;
        long suppressed = 0;
        var keys = 0;
        foreach (var (key, window) in _windows.ToArray())
        {
            if (key != except && now >= window.Last + (2 * _interval))
            {
                _windows.Remove(key);
                if (window.Suppressed > 0)
                {
                    suppressed += window.Suppressed;
                    keys++;
                }
            }
        }

        return (suppressed, keys);
    }

    /// <summary>Drops keys whose window ended with nothing suppressed (nothing left to carry).</summary>
    private void Prune(DateTimeOffset now)
    {
        foreach (var (key, window) in _windows.ToArray())
        {
            if (window.Suppressed == 0 && now >= window.Start + _interval)
            {
                _windows.Remove(key);
            }
        }
    }

    private sealed record Window(DateTimeOffset Start, long Suppressed, DateTimeOffset Last);
}

/// <summary>What <see cref="RefusalAuditThrottle.Admit"/> decided.</summary>
/// <param name="Write">Whether this refusal gets an audit row.</param>
/// <param name="Suppressed">When it does: how many refusals for the same key got none since the previous row.</param>
/// <param name="Address">The address key (the overflow key once too many are tracked).</param>
/// <param name="PreviousRowAt">When the previous row for the key was written, if one was.</param>
/// <param name="ExpiredSuppressed">Refusals suppressed under keys that expired since the last report (to write in a summary row).</param>
/// <param name="ExpiredKeys">How many such keys.</param>
public readonly record struct RefusalAuditDecision(bool Write, long Suppressed, string Address, DateTimeOffset? PreviousRowAt, long ExpiredSuppressed = 0, int ExpiredKeys = 0);
