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
    private readonly HashSet<string> _kindsAudited = new(StringComparer.Ordinal);
    private readonly TimeSpan _interval;
    private readonly int _maxRows;
    private readonly Lock _lock = new();
    private DateTimeOffset? _lastSweep;
    private DateTimeOffset? _budgetStart;
    private int _budgetRows;
    private long _budgetDropped;

    /// <summary>Creates the throttle.</summary>
    /// <param name="interval">At most one row per key in this time; also the window of <paramref name="maxRows"/>.</param>
    /// <param name="maxRows">The most rows per interval over all keys (plus the first of each kind not yet audited in it).</param>
    public RefusalAuditThrottle(TimeSpan interval, int maxRows = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRows, 1);
        _interval = interval;
        _maxRows = maxRows;
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
    /// <param name="address">The remote address.</param>
    /// <param name="eventName">The rest of the throttle key (event, refusal kind, code, known ATM).</param>
    /// <param name="now">The time of the refusal.</param>
    /// <param name="kind">
    /// The refusal kind for the global row budget (a small, code-defined set: event and kind, no address or ATM): past the
    /// budget, the first refusal of a kind not yet audited in the interval still gets its row. Null: <paramref name="eventName"/>.
    /// </param>
    public RefusalAuditDecision Admit(string address, string eventName, DateTimeOffset now, string? kind = null)
    {
        lock (_lock)
        {
            kind ??= eventName;
            var budgetDropped = 0L;
            if (_budgetStart is not { } start || now >= start + _interval)
            {
                // A new budget window: what the last one dropped is handed to the caller once, for a summary row.
                budgetDropped = _budgetDropped;
                _budgetDropped = 0;
                _budgetRows = 0;
                _kindsAudited.Clear();
                _budgetStart = now;
            }

            var decision = AdmitKey(address, eventName, now);
            if (!decision.Write)
            {
                return decision with { BudgetDropped = budgetDropped };
            }

            if (_budgetRows >= _maxRows && _kindsAudited.Contains(kind))
            {
                // Over budget: no row; the key's window is left as it was, so this refusal is counted here only.
                _budgetDropped++;
                _windows[(decision.Address, eventName)] = decision.RestoreWindow!;
                return decision with { Write = false, Suppressed = 0, BudgetDropped = budgetDropped, RestoreWindow = null };
            }

            _budgetRows++;
            _kindsAudited.Add(kind);
            return decision with { BudgetDropped = budgetDropped, RestoreWindow = null };
        }
    }

    private RefusalAuditDecision AdmitKey(string address, string eventName, DateTimeOffset now)
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

        // Kept so that a row the budget then refuses leaves the key as it was (a key new to the table is kept with an
        // empty, already-ended window: its next refusal gets a row if the budget allows).
        var restore = window ?? new Window(now - _interval, 0, now);
        return new RefusalAuditDecision(true, suppressed, key.Item1, window?.Start, expiredSuppressed, expiredKeys) { RestoreWindow = restore };
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

    internal sealed record Window(DateTimeOffset Start, long Suppressed, DateTimeOffset Last);
}

/// <summary>What <see cref="RefusalAuditThrottle.Admit"/> decided.</summary>
/// <param name="Write">Whether this refusal gets an audit row.</param>
/// <param name="Suppressed">When it does: how many refusals for the same key got none since the previous row.</param>
/// <param name="Address">The address key (the overflow key once too many are tracked).</param>
/// <param name="PreviousRowAt">When the previous row for the key was written, if one was.</param>
/// <param name="ExpiredSuppressed">Refusals suppressed under keys that expired since the last report (to write in a summary row).</param>
/// <param name="ExpiredKeys">How many such keys.</param>
/// <param name="BudgetDropped">Refusals that got no row in the previous budget window because its row budget was spent (to write in a summary row).</param>
public readonly record struct RefusalAuditDecision(bool Write, long Suppressed, string Address, DateTimeOffset? PreviousRowAt, long ExpiredSuppressed = 0, int ExpiredKeys = 0, long BudgetDropped = 0)
{
    /// <summary>The key's window before this refusal (internal: restored when the row budget refuses the row).</summary>
    internal RefusalAuditThrottle.Window? RestoreWindow { get; init; }
}
