using CardlessAtm.Qr.Payload;

namespace CardlessAtm.Qr.Sessions;

/// <summary>
/// The terminal's replay guard: used sessions kept in memory until their retention ends. An ATM issues a
/// handful of sessions per minute with lifetimes of minutes, so the set stays small; expired entries are
/// dropped as new ones arrive. A terminal restart loses the set, which is safe because the host keeps its
/// own durable guard and the terminal only accepts the session currently on its screen.
/// </summary>
public sealed class InMemorySessionNonceRegistry : ISessionNonceRegistry
{
    private readonly TimeProvider _time;
    private readonly Dictionary<(AtmId, SessionNonce), DateTimeOffset> _used = [];
    private readonly Lock _gate = new();

    /// <summary>Creates an empty registry that reads the time from <paramref name="time"/>.</summary>
    public InMemorySessionNonceRegistry(TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        _time = time;
    }

    /// <summary>Sessions currently remembered (expired ones are dropped lazily).</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _used.Count;
            }
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> TryConsumeAsync(AtmId atmId, SessionNonce nonce, DateTimeOffset retainUntil, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            if (_used.TryGetValue((atmId, nonce), out var until) && until >= now)
            {
                return ValueTask.FromResult(false);
            }

            DropExpired(now);
            _used[(atmId, nonce)] = retainUntil;
            return ValueTask.FromResult(true);
        }
    }

    private void DropExpired(DateTimeOffset now)
    {
        foreach (var (key, until) in _used)
        {
            if (until < now)
            {
                _used.Remove(key);
            }
        }
    }
}
