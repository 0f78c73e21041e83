using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Iso8583.Channels;

/// <summary>
/// Accepts ISO 8583 connections and answers their requests through the request handler. Each connection is
/// independent: a bad peer is refused or closed without affecting the others. Connections can also send requests
/// to their peer (e.g. a proxy forwarding a phone's 0200 to the ATM that dialled in).
/// </summary>
public sealed class Iso8583Server : IAsyncDisposable
{
    private readonly Iso8583ServerOptions _options;
    private readonly ILogger _log;
    private readonly ConcurrentDictionary<long, Iso8583Connection> _connections = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConnectionSlots _slots;
    private TcpListener? _listener;
    private Task _acceptLoop = Task.CompletedTask;
    private int _accepting;

    /// <summary>Creates the server; nothing listens until <see cref="StartAsync"/>.</summary>
    /// <param name="options">The settings; validated here.</param>
    /// <exception cref="ArgumentException">A setting is invalid (the message names it).</exception>
    public Iso8583Server(Iso8583ServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _log = options.Logger;
        _slots = new ConnectionSlots(options.MaxConnections, options.MaxUnauthenticatedConnections ?? options.MaxConnections, options.MaxConnectionsPerAddress, options.EvictBusyUnauthenticated);
    }

    /// <summary>Raised when a connection has been accepted (after TLS), before its first frame is read.</summary>
    public event Action<Iso8583Connection>? ConnectionOpened;

    /// <summary>Raised when a connection has closed.</summary>
    public event Action<Iso8583Connection>? ConnectionClosed;

    /// <summary>Raised when a connection limit or timeout was enforced: a newcomer refused, an older connection evicted, or a connection closed by a timeout.</summary>
    public event Action<ConnectionLimit, ConnectionLimitAction>? LimitEnforced;

    /// <summary>Connections holding a slot now, including those still in their TLS handshake.</summary>
    public int SlotCount => _slots.Count;

    /// <summary>The address and port listened on (valid after <see cref="StartAsync"/>).</summary>
    public IPEndPoint LocalEndPoint => (IPEndPoint)(_listener?.LocalEndpoint ?? throw new InvalidOperationException("the server has not been started."));

    /// <summary>The open connections.</summary>
    public IReadOnlyCollection<Iso8583Connection> Connections => _connections.Values.ToArray();

    /// <summary>Starts listening and accepting.</summary>
    /// <param name="cancellationToken">Unused; present for hosted-service symmetry.</param>
    /// <returns>A completed task once listening.</returns>
    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _accepting, 1) == 1)
        {
            throw new InvalidOperationException("the server is already started.");
        }

        _listener = new TcpListener(_options.Address, _options.Port);
        _listener.Start(backlog: 512);
        _log.LogInformation("ISO 8583 server listening on {EndPoint}.", _listener.LocalEndpoint);
        _acceptLoop = Task.Run(AcceptLoopAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>Stops accepting and closes every connection gracefully (in-flight requests drain first).</summary>
    /// <param name="cancellationToken">Cuts the drain short.</param>
    /// <returns>A task that completes when every connection is closed.</returns>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        await _stopping.CancelAsync();
        _listener?.Stop();
        await _acceptLoop;
        await Task.WhenAll(_connections.Values.Select(c => c.CloseAsync(cancellationToken)));
    }

    /// <summary>Stops as <see cref="StopAsync"/> does.</summary>
    /// <returns>A task that completes when everything has stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stopping.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        var stop = _stopping.Token;
        while (!stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener!.AcceptSocketAsync(stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex)
            {
                _log.LogWarning("ISO 8583 server: accept failed: {Error}", ex.Message);
                continue;
            }

            // Admitted here, in the order the kernel accepted the connections: "oldest" in the eviction rule is then the
            // order of arrival. Admitted on the thread pool, a connection that arrived after a flood's could be admitted
            // before some of them (work queued from a pool thread runs last in, first out) and be evicted for them
            // before its first frame was read.
            var admission = _slots.Admit((socket.RemoteEndPoint as IPEndPoint)?.Address ?? IPAddress.None, socket.Dispose);
            _ = Task.Run(() => AcceptAsync(socket, admission, stop), CancellationToken.None);
        }
    }

    private async Task AcceptAsync(Socket socket, ConnectionSlots.Admission admission, CancellationToken stop)
    {
        var remote = socket.RemoteEndPoint?.ToString() ?? "unknown";
        foreach (var evicted in admission.Evicted)
        {
            evicted.Evict();
            Enforced(admission.Reached!.Value, ConnectionLimitAction.Evicted);
        }

        if (admission.Slot is not { } slot)
        {
            _log.LogWarning("ISO 8583 server: refusing {Remote}: {Limit} reached and no unauthenticated idle connection to evict.", remote, admission.Reached);
            Enforced(admission.Reached!.Value, ConnectionLimitAction.Refused);
            socket.Dispose();
            return;
        }

        if (admission.Evicted.Count > 0)
        {
            _log.LogInformation("ISO 8583 server: {Limit} reached; closed the oldest unauthenticated idle connection for {Remote}.", admission.Reached, remote);
        }

        Stream stream;
        SslStream? tlsStream = null;
        using var timeout = new CancellationTokenSource(_options.HandshakeTimeout, _options.TimeProvider);
        try
        {
            socket.NoDelay = true;
            stream = new NetworkStream(socket, ownsSocket: true);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException)
        {
            _slots.Release(slot); // evicted (or reset by the peer) before it even started
            socket.Dispose();
            return;
        }

        try
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(stop, timeout.Token);
            if (_options.Tls is { } tls)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = tlsStream = ssl;
                await ssl.AuthenticateAsServerAsync(tls, linked.Token);
            }

            if (_options.StreamWrapper is { } wrap)
            {
                stream = await wrap(stream, linked.Token);
            }
        }
        catch (Exception ex)
        {
            _slots.Release(slot);
            if (timeout.IsCancellationRequested)
            {
                Enforced(ConnectionLimit.HandshakeTimeout, ConnectionLimitAction.Closed);
            }

            _log.LogWarning("ISO 8583 server: handshake with {Remote} failed: {Error}", remote, ex.Message);
            await stream.DisposeAsync();
            return;
        }

        var connection = new Iso8583Connection(stream, _options, remote, c => OnClosed(c, slot))
        {
            Authenticated = _ => _slots.Authenticate(slot),
            Unauthenticated = _ => _slots.Unauthenticate(slot),
            RemoteCertificate = tlsStream?.RemoteCertificate,
            TlsProtocol = tlsStream?.SslProtocol,
        };
        if (!_slots.Attach(slot, connection))
        {
            await stream.DisposeAsync(); // evicted while in its handshake
            return;
        }

        _connections[connection.Id] = connection;
        _log.LogInformation("ISO 8583 server: connection {Id} from {Remote}.", connection.Id, remote);
        try
        {
            ConnectionOpened?.Invoke(connection);
        }
        catch (Exception ex)
        {
            _log.LogError(ex, "ISO 8583 server: a ConnectionOpened handler failed.");
        }

        connection.Start();
        if (stop.IsCancellationRequested)
        {
            await connection.CloseAsync(CancellationToken.None);
        }
    }

    private void Enforced(ConnectionLimit limit, ConnectionLimitAction action)
    {
        try
        {
            LimitEnforced?.Invoke(limit, action);
        }
        catch (Exception ex)
        {
            _log.LogError(ex, "ISO 8583 server: a LimitEnforced handler failed.");
        }
    }

    private void OnClosed(Iso8583Connection connection, ConnectionSlots.Slot slot)
    {
        _slots.Release(slot);
        _connections.TryRemove(connection.Id, out _);
        if (connection.ClosedBy is { } limit)
        {
            Enforced(limit, ConnectionLimitAction.Closed);
        }

        try
        {
            ConnectionClosed?.Invoke(connection);
        }
        catch (Exception ex)
        {
            _log.LogError(ex, "ISO 8583 server: a ConnectionClosed handler failed.");
        }
    }
}
