using System.Net;

namespace CardlessAtm.Iso8583.Channels;

/// <summary>The limit an <see cref="Iso8583Server"/> enforced on a connection (the <c>limit</c> tag of the listeners' metrics).</summary>
public enum ConnectionLimit
{
    /// <summary><see cref="Iso8583ServerOptions.MaxConnections"/>: every connection, authenticated or not.</summary>
    TotalConnections,

    /// <summary><see cref="Iso8583ServerOptions.MaxUnauthenticatedConnections"/>: connections not yet authenticated (e.g. not signed on).</summary>
    UnauthenticatedConnections,

    /// <summary><see cref="Iso8583ServerOptions.MaxConnectionsPerAddress"/>: connections from one IP address.</summary>
    ConnectionsPerAddress,

    /// <summary><see cref="Iso8583ServerOptions.HandshakeTimeout"/>: the TLS handshake (or stream wrapper) took too long.</summary>
    HandshakeTimeout,

    /// <summary><see cref="Iso8583ConnectionOptions.FirstMessageTimeout"/>: no complete message soon enough after the connection opened.</summary>
    FirstMessageTimeout,

    /// <summary><see cref="Iso8583ConnectionOptions.ReceiveIdleTimeout"/>: no message (keep-alive frames do not count) for too long.</summary>
    IdleTimeout,

    /// <summary><see cref="Iso8583ConnectionOptions.MaxConnectionLifetime"/>: open too long, whatever it sent.</summary>
    MaxLifetime,

    /// <summary><see cref="Iso8583ConnectionOptions.AuthenticationTimeout"/>: not authenticated (signed on) soon enough, whatever it sent.</summary>
    AuthenticationTimeout,
}

/// <summary>What the server did when a <see cref="ConnectionLimit"/> was reached (the <c>action</c> tag of the listeners' metrics).</summary>
public enum ConnectionLimitAction
{
    /// <summary>The new connection was closed as soon as it was accepted.</summary>
    Refused,

    /// <summary>An older connection — unauthenticated and with no request of its own being handled — was closed to make room for the new one.</summary>
    Evicted,

    /// <summary>A connection was closed by a timeout.</summary>
    Closed,
}

/// <summary>
/// The server's connection table for admission: how many connections there are, from which address, and which are
/// not authenticated yet, in the order they were accepted. When a limit is reached the oldest connection in its
/// scope that has not authenticated and has no request being handled is evicted for the newcomer; only when there is
/// none is the newcomer refused (with <see cref="Iso8583ServerOptions.EvictBusyUnauthenticated"/>, the oldest unauthenticated
/// one whether busy or not). So sockets that never authenticate only ever push each other out: an ATM that dials
/// in during a flood gets a slot, keeps it once it has signed on, and a phone keeps its slot while its request is
/// being handled. One lock: admissions are a few list and dictionary operations.
/// </summary>
internal sealed class ConnectionSlots(int maxTotal, int maxUnauthenticated, int? maxPerAddress, bool evictBusy = false)
{
    private readonly object _gate = new();
    private readonly LinkedList<Slot> _unauthenticated = new();
    private readonly Dictionary<IPAddress, int> _perAddress = [];
    private int _total;

    /// <summary>Connections holding a slot (including those still in their TLS handshake).</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _total;
            }
        }
    }

    /// <summary>Admits a connection from <paramref name="address"/>, evicting at most two older ones, or refuses it.</summary>
    /// <param name="address">The peer's IP address.</param>
    /// <param name="abort">Closes the new connection at once if it is evicted later (before it is <see cref="Attach"/>ed).</param>
    /// <returns>The slot (null when refused), the limit reached if any, and the slots evicted for it.</returns>
    public Admission Admit(IPAddress address, Action abort)
    {
        var address4 = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        lock (_gate)
        {
            ConnectionLimit? reached = null;
            Slot? forAddress = null;
            if (maxPerAddress is { } perAddress && _perAddress.GetValueOrDefault(address4) >= perAddress)
            {
                reached = ConnectionLimit.ConnectionsPerAddress;
                forAddress = OldestEvictable(s => s.Address.Equals(address4), null);
                if (forAddress is null)
                {
                    return new Admission(null, reached, []);
                }
            }

            var freed = forAddress is null ? 0 : 1;
            Slot? forTotal = null;
            if (_total - freed >= maxTotal || _unauthenticated.Count - freed >= maxUnauthenticated)
            {
                reached = _total - freed >= maxTotal ? ConnectionLimit.TotalConnections : ConnectionLimit.UnauthenticatedConnections;
                forTotal = OldestEvictable(_ => true, forAddress);
                if (forTotal is null)
                {
                    return new Admission(null, reached, []);
                }
            }

            var evicted = new List<Slot>(2);
            foreach (var victim in new[] { forAddress, forTotal })
            {
                if (victim is not null)
                {
                    ReleaseLocked(victim);
                    evicted.Add(victim);
                }
            }

            var slot = new Slot(address4, abort);
            slot.Node = _unauthenticated.AddLast(slot);
            _perAddress[address4] = _perAddress.GetValueOrDefault(address4) + 1;
            _total++;
            return new Admission(slot, reached, evicted);
        }
    }

    /// <summary>Binds the established connection to its slot; false when the slot was evicted during the handshake.</summary>
    public bool Attach(Slot slot, Iso8583Connection connection)
    {
        lock (_gate)
        {
            if (slot.Released)
            {
                return false;
            }

            slot.Connection = connection;
            return true;
        }
    }

    /// <summary>The connection authenticated: it no longer counts as unauthenticated and is never evicted.</summary>
    public void Authenticate(Slot slot)
    {
        lock (_gate)
        {
            if (!slot.Released && slot.Node is { } node)
            {
                _unauthenticated.Remove(node);
                slot.Node = null;
            }
        }
    }

    /// <summary>
    /// The connection is no longer authenticated (e.g. signed off): it counts as unauthenticated again, and as the
    /// oldest of them, so it is the first evicted for a newcomer.
    /// </summary>
    public void Unauthenticate(Slot slot)
    {
        lock (_gate)
        {
            if (!slot.Released && slot.Node is null)
            {
                slot.Node = _unauthenticated.AddFirst(slot);
            }
        }
    }

    /// <summary>Frees the slot (the connection closed or its handshake failed). Safe to call more than once.</summary>
    public void Release(Slot slot)
    {
        lock (_gate)
        {
            ReleaseLocked(slot);
        }
    }

    private void ReleaseLocked(Slot slot)
    {
        if (slot.Released)
        {
            return;
        }

        slot.Released = true;
        _total--;
        var left = _perAddress[slot.Address] - 1;
        if (left == 0)
        {
            _perAddress.Remove(slot.Address);
        }
        else
        {
            _perAddress[slot.Address] = left;
        }

        if (slot.Node is { } node)
        {
            _unauthenticated.Remove(node);
            slot.Node = null;
        }
    }

    private Slot? OldestEvictable(Func<Slot, bool> inScope, Slot? except)
    {
        for (var node = _unauthenticated.First; node is not null; node = node.Next)
        {
            var slot = node.Value;
            // A connection whose proof of identity is being checked is never evicted (once per connection, bounded in time).
            if (!ReferenceEquals(slot, except) && inScope(slot) && slot.Connection is not ({ IsAuthenticating: true } or { IsAuthenticated: true })
                && (evictBusy || slot.Connection is not { IsBusy: true }))
            {
                return slot;
            }
        }

        return null;
    }

    /// <summary>One admitted connection.</summary>
    internal sealed class Slot(IPAddress address, Action abort)
    {
        public IPAddress Address { get; } = address;

        public Iso8583Connection? Connection { get; set; }

        public LinkedListNode<Slot>? Node { get; set; }

        public bool Released { get; set; }

        /// <summary>Closes the connection at once (it was evicted).</summary>
        public void Evict()
        {
            if (Connection is { } connection)
            {
                connection.Abort();
            }
            else
            {
                abort();
            }
        }
    }

    /// <summary>The outcome of <see cref="Admit"/>.</summary>
    internal sealed record Admission(Slot? Slot, ConnectionLimit? Reached, IReadOnlyList<Slot> Evicted);
}

/// <summary>The metric tag values of <see cref="ConnectionLimit"/> and <see cref="ConnectionLimitAction"/>, in snake case (e.g. <c>connections_per_address</c>).</summary>
public static class ConnectionLimitTags
{
    /// <summary>The tag value of a limit.</summary>
    /// <param name="limit">The limit.</param>
    /// <returns>E.g. <c>idle_timeout</c>.</returns>
    public static string Of(ConnectionLimit limit) => limit switch
    {
        ConnectionLimit.TotalConnections => "total_connections",
        ConnectionLimit.UnauthenticatedConnections => "unauthenticated_connections",
        ConnectionLimit.ConnectionsPerAddress => "connections_per_address",
        ConnectionLimit.HandshakeTimeout => "handshake_timeout",
        ConnectionLimit.FirstMessageTimeout => "first_message_timeout",
        ConnectionLimit.IdleTimeout => "idle_timeout",
        ConnectionLimit.MaxLifetime => "max_lifetime",
        ConnectionLimit.AuthenticationTimeout => "authentication_timeout",
        _ => "other",
    };

    /// <summary>The tag value of an action.</summary>
    /// <param name="action">The action.</param>
    /// <returns><c>refused</c>, <c>evicted</c> or <c>closed</c>.</returns>
    public static string Of(ConnectionLimitAction action) => action switch
    {
        ConnectionLimitAction.Refused => "refused",
        ConnectionLimitAction.Evicted => "evicted",
        _ => "closed",
    };
}
