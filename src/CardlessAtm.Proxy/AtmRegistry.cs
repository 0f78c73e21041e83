using CardlessAtm.Iso8583.Channels;

namespace CardlessAtm.Proxy;

/// <summary>Where an ATM stands with this proxy.</summary>
public enum AtmLinkState
{
    /// <summary>Never signed on to this proxy instance: a phone request for it is answered 92.</summary>
    Unknown,

    /// <summary>Signed on over a live connection: phone requests are forwarded to it.</summary>
    Online,

    /// <summary>Signed on once, but signed off or disconnected since: a phone request for it is answered 91.</summary>
    Offline,
}

/// <summary>The outcome of an ATM's sign-on.</summary>
internal enum SignOnResult
{
    /// <summary>Registered (or already registered on this very connection).</summary>
    Accepted,

    /// <summary>Another live connection holds the id.</summary>
    IdInUse,

    /// <summary>This connection already signed on as a different ATM.</summary>
    ConnectionHoldsOtherId,
}

/// <summary>
/// Which connection speaks for which ATM id. One lock guards the table: sign-ons are rare and the critical
/// sections are a few dictionary operations, so correctness (no id ever held by two live connections) is cheap.
/// Only accepted sign-ons add an id, and at most <c>maxKnown</c> ids are kept: past that the id offline longest is
/// forgotten, so sign-ons with ever new ids cannot grow the table.
/// </summary>
internal sealed class AtmRegistry(int maxKnown = 10_000)
{
    private readonly object _gate = new();
    private readonly Dictionary<string, Iso8583Connection?> _atms = new(StringComparer.Ordinal);
    private readonly LinkedList<string> _offlineOrder = new();
    private readonly Dictionary<string, LinkedListNode<string>> _offline = new(StringComparer.Ordinal);
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>ATMs online now (signed on over a connection that is still open; the same test as <see cref="Find"/>).</summary>
    public int OnlineCount
    {
        get
        {
            lock (_gate)
            {
                return _atms.Values.Count(c => c is { IsOpen: true });
            }
        }
    }

    /// <summary>ATM ids remembered, online or offline (at most the bound given at construction).</summary>
    public int KnownCount
    {
        get
        {
            lock (_gate)
            {
                return _atms.Count;
            }
        }
    }

    /// <summary>The ids of the ATMs online now.</summary>
    public IReadOnlyCollection<string> OnlineIds
    {
        get
        {
            lock (_gate)
            {
                return _atms.Where(a => a.Value is { IsOpen: true }).Select(a => a.Key).Order(StringComparer.Ordinal).ToArray();
            }
        }
    }

    /// <summary>Registers <paramref name="connection"/> as <paramref name="atmId"/> unless another live connection holds the id.</summary>
    /// <param name="atmId">The ATM id from field 41.</param>
    /// <param name="connection">The connection that sent the sign-on.</param>
    /// <param name="holder">The connection holding the id when the result is <see cref="SignOnResult.IdInUse"/>.</param>
    /// <param name="replaced">A closed (or closing) connection that held the id and was replaced, or null.</param>
    public SignOnResult TrySignOn(string atmId, Iso8583Connection connection, out Iso8583Connection? holder, out Iso8583Connection? replaced)
    {
        holder = null;
        replaced = null;
        lock (_gate)
        {
            if (connection.Tag is string held && !string.Equals(held, atmId, StringComparison.Ordinal)
                && _atms.TryGetValue(held, out var heldBy) && ReferenceEquals(heldBy, connection))
            {
                return SignOnResult.ConnectionHoldsOtherId;
            }

            if (_atms.TryGetValue(atmId, out var current) && current is not null)
            {
                if (ReferenceEquals(current, connection))
                {
                    return SignOnResult.Accepted;
                }

                if (current.IsOpen)
                {
                    holder = current;
                    return SignOnResult.IdInUse;
                }

                // The old connection is closing; its closed callback has not run yet. The new one takes over.
                replaced = current;
            }

            if (_offline.Remove(atmId, out var wasOffline))
            {
                _offlineOrder.Remove(wasOffline);
            }
            else if (!_atms.ContainsKey(atmId) && _atms.Count >= maxKnown && _offlineOrder.First is { } oldest)
            {
                // Full: forget the ATM offline longest. Online ones are bounded by the connection limit, below maxKnown.
                _atms.Remove(oldest.Value);
                _offline.Remove(oldest.Value);
                _offlineOrder.RemoveFirst();
            }

            _atms[atmId] = connection;
            connection.Tag = atmId;
            Signal();
            return SignOnResult.Accepted;
        }
    }

    /// <summary>Unregisters <paramref name="atmId"/> if <paramref name="connection"/> holds it; the id becomes offline.</summary>
    /// <returns>True when the connection held the id.</returns>
    public bool SignOff(string atmId, Iso8583Connection connection)
    {
        lock (_gate)
        {
            if (!_atms.TryGetValue(atmId, out var current) || !ReferenceEquals(current, connection))
            {
                return false;
            }

            _atms[atmId] = null;
            _offline[atmId] = _offlineOrder.AddLast(atmId);
            Signal();
            return true;
        }
    }

    /// <summary>Called when a connection closed: the ATM it held (if still its) goes offline.</summary>
    /// <returns>The ATM id that went offline, or null.</returns>
    public string? Release(Iso8583Connection connection)
    {
        if (connection.Tag is not string atmId)
        {
            return null;
        }

        return SignOff(atmId, connection) ? atmId : null;
    }

    /// <summary>The connection for <paramref name="atmId"/> and the ATM's state.</summary>
    public AtmLinkState Find(string atmId, out Iso8583Connection? connection)
    {
        lock (_gate)
        {
            if (!_atms.TryGetValue(atmId, out connection))
            {
                return AtmLinkState.Unknown;
            }

            return connection is { IsOpen: true } ? AtmLinkState.Online : AtmLinkState.Offline;
        }
    }

    /// <summary>Completes when <paramref name="atmId"/> reaches <paramref name="state"/>.</summary>
    public async Task WaitForStateAsync(string atmId, AtmLinkState state, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (Find(atmId, out _) == state)
                {
                    return;
                }

                changed = _changed.Task;
            }

            await changed.WaitAsync(cancellationToken);
        }
    }

    private void Signal()
    {
        var old = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        old.TrySetResult();
    }
}
