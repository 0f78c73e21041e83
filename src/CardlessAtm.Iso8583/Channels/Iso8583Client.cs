using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Iso8583.Channels;

/// <summary>
/// Dials a peer and keeps one connection to it: reconnects with exponential back-off and jitter, runs the
/// sign-on hook after every connect, optionally over TLS. Requests go over the current connection. With
/// <see cref="Iso8583ClientOptions.FailoverEndpoints"/> it moves to the next peer whenever the current one fails (connect
/// or sign-on failed, or the connection dropped), round-robin back to the first.
/// </summary>
public sealed class Iso8583Client : IAsyncDisposable
{
    private readonly Iso8583ClientOptions _options;
    private readonly ILogger _log;
    private readonly IReadOnlyList<Iso8583Endpoint> _endpoints;
    private int _endpointIndex;
    private readonly CancellationTokenSource _stopping = new();
    private readonly object _gate = new();
    private TaskCompletionSource<Iso8583Connection> _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Iso8583Connection? _connection;
    private Task _loop = Task.CompletedTask;
    private int _started;
    private int _disposed;

    /// <summary>Creates the client; nothing is dialled until <see cref="StartAsync"/>.</summary>
    /// <param name="options">The settings; validated here.</param>
    /// <exception cref="ArgumentException">A setting is invalid (the message names it).</exception>
    public Iso8583Client(Iso8583ClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _log = options.Logger;
        _endpoints = options.Endpoints;
    }

    /// <summary>Raised after each successful connect and sign-on.</summary>
    public event Action<Iso8583Connection>? Connected;

    /// <summary>Raised when a signed-on connection closes.</summary>
    public event Action<Iso8583Connection>? Disconnected;

    /// <summary>The current signed-on connection, or null.</summary>
    public Iso8583Connection? Connection => Volatile.Read(ref _connection);

    /// <summary>The peer dialled now, or next after a failure (the first endpoint until one fails).</summary>
    public Iso8583Endpoint CurrentEndpoint => _endpoints[Volatile.Read(ref _endpointIndex)];

    /// <summary>True when a signed-on connection is open.</summary>
    public bool IsConnected => Connection is { IsOpen: true };

    /// <summary>
    /// How many connect attempts have failed in a row; a signed-on connection closed before it stayed up for
    /// <see cref="Iso8583ClientOptions.StableConnectionPeriod"/> counts as a failed attempt.
    /// </summary>
    public int ConsecutiveFailures { get; private set; }

    /// <summary>How many signed-on connections in a row closed within <see cref="Iso8583ClientOptions.StableConnectionPeriod"/> of their sign-on.</summary>
    public int ConsecutiveEarlyCloses { get; private set; }

    /// <summary>Starts dialling in the background; returns at once.</summary>
    /// <param name="cancellationToken">Unused; present for hosted-service symmetry.</param>
    /// <returns>A completed task.</returns>
    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _started, 1) == 0)
        {
            _loop = Task.Run(ConnectLoopAsync, CancellationToken.None);
        }

        return Task.CompletedTask;
    }

    /// <summary>Waits until a signed-on connection is available.</summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The connection.</returns>
    public async Task<Iso8583Connection> WaitUntilConnectedAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            if (Connection is { IsOpen: true } live)
            {
                return live;
            }

            Task<Iso8583Connection> signal;
            lock (_gate)
            {
                signal = _connected.Task;
            }

            var connection = await signal.WaitAsync(cancellationToken);
            if (connection.IsOpen)
            {
                return connection;
            }

            await Task.Yield();
        }
    }

    /// <summary>Sends a request over the current connection and waits for its response.</summary>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The response.</returns>
    /// <exception cref="Iso8583ChannelException">Not connected, timeout, closed, or duplicate key.</exception>
    public Task<IsoMessage> SendRequestAsync(IsoMessage request, CancellationToken cancellationToken = default) =>
        (Connection ?? throw NotConnected()).SendRequestAsync(request, cancellationToken);

    /// <summary>Sends a message without waiting for an answer.</summary>
    /// <param name="message">The message.</param>
    /// <exception cref="Iso8583ChannelException">Not connected or closed.</exception>
    public void Send(IsoMessage message) => (Connection ?? throw NotConnected()).Send(message);

    /// <summary>Stops reconnecting, runs the sign-off hook, and closes the connection gracefully (draining in-flight requests).</summary>
    /// <param name="cancellationToken">Cuts the drain short.</param>
    /// <returns>A task that completes when everything has stopped.</returns>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        // A host disposes its services after the service that owns the client has: a second stop is a no-op,
        // not an ObjectDisposedException that turns a clean SIGTERM into exit code 1.
        if (Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        await _stopping.CancelAsync();
        await _loop; // the loop stops at once; whatever it published is drained below
        if (Interlocked.Exchange(ref _connection, null) is { } connection)
        {
            if (_options.SignOff is { } signOff && connection.IsOpen)
            {
                try
                {
                    await signOff(connection, cancellationToken);
                }
                catch (Exception ex)
                {
                    _log.LogWarning("ISO 8583 client: sign-off from {Endpoint} failed: {Error}", CurrentEndpoint, ex.Message);
                }
            }

            await connection.CloseAsync(cancellationToken);
            Raise(Disconnected, connection);
        }
    }

    /// <summary>Stops as <see cref="StopAsync"/> does.</summary>
    /// <returns>A task that completes when everything has stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _stopping.Dispose();
        }
    }

    /// <summary>The delay before reconnect attempt <paramref name="failures"/>: half the capped exponential delay plus a random part of the other half.</summary>
    internal static TimeSpan BackoffDelay(int failures, TimeSpan initial, TimeSpan max, double jitter)
    {
        var exponent = Math.Min(failures, 30);
        var capped = Math.Min(max.TotalMilliseconds, initial.TotalMilliseconds * Math.Pow(2, exponent));
        return TimeSpan.FromMilliseconds((capped / 2) + (jitter * capped / 2));
    }

    private Iso8583ChannelException NotConnected() =>
        new(ChannelErrorReason.NotConnected, $"not connected to {CurrentEndpoint}.");

    private async Task ConnectLoopAsync()
    {
        var stop = _stopping.Token;
        while (!stop.IsCancellationRequested)
        {
            Iso8583Connection? connection = null;
            var endpoint = CurrentEndpoint;
            try
            {
                connection = await ConnectAsync(endpoint, stop);
                connection.Start();
                if (_options.SignOn is { } signOn)
                {
                    await signOn(connection, stop);
                }

                if (!connection.IsOpen)
                {
                    throw new Iso8583ChannelException(ChannelErrorReason.ConnectionClosed, "the connection closed during sign-on.");
                }

                Publish(connection);
                _log.LogInformation("ISO 8583 client connected to {Endpoint} (connection {Id}).", endpoint, connection.Id);
                Raise(Connected, connection);
                await WaitForCloseAsync(connection, endpoint, stop);
                if (Interlocked.CompareExchange(ref _connection, null, connection) == connection)
                {
                    Raise(Disconnected, connection);
                }

                if (!stop.IsCancellationRequested)
                {
                    MoveToNextEndpoint(endpoint, "the connection dropped");
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                if (connection is not null && !ReferenceEquals(connection, Volatile.Read(ref _connection)))
                {
                    await connection.DisposeAsync(); // stopped during connect or sign-on
                }

                break;
            }
            catch (Exception ex)
            {
                ConsecutiveFailures++;
                _log.LogWarning("ISO 8583 client: connecting to {Endpoint} failed (attempt {Attempt}): {Error}", endpoint, ConsecutiveFailures, ex.Message);
                if (connection is not null && !ReferenceEquals(connection, Volatile.Read(ref _connection)))
                {
                    await connection.DisposeAsync();
                }

                MoveToNextEndpoint(endpoint, "connecting failed");
            }

            if (stop.IsCancellationRequested)
            {
                break;
            }

            var delay = BackoffDelay(ConsecutiveFailures, _options.ReconnectInitialDelay, _options.ReconnectMaxDelay, Jitter());
            try
            {
                await Task.Delay(delay, _options.TimeProvider, stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>
    /// Waits until the signed-on <paramref name="connection"/> closes. The failure count is reset only once it has stayed
    /// up for <see cref="Iso8583ClientOptions.StableConnectionPeriod"/>: one the peer closes sooner (e.g. a host superseding
    /// it for another device's sign-on) counts as a failed attempt, so the reconnects back off instead of flapping.
    /// </summary>
    private async Task WaitForCloseAsync(Iso8583Connection connection, Iso8583Endpoint endpoint, CancellationToken stop)
    {
        var signedOnAt = _options.TimeProvider.GetTimestamp();
        var closed = connection.Completion.WaitAsync(stop);
        var stable = _options.StableConnectionPeriod == TimeSpan.Zero;
        if (!stable)
        {
            using var closing = CancellationTokenSource.CreateLinkedTokenSource(stop);
            var period = Task.Delay(_options.StableConnectionPeriod, _options.TimeProvider, closing.Token);
            stable = await Task.WhenAny(closed, period) == period && period.IsCompletedSuccessfully && connection.IsOpen;
            await closing.CancelAsync();
        }

        if (stable)
        {
            ConsecutiveFailures = 0;
            ConsecutiveEarlyCloses = 0;
        }

        await closed;
        if (!stable)
        {
            CountEarlyClose(endpoint, _options.TimeProvider.GetElapsedTime(signedOnAt));
        }
    }

    /// <summary>After <paramref name="failed"/> failed, the next attempt dials the next endpoint (round-robin); logged when there is more than one.</summary>
    private void MoveToNextEndpoint(Iso8583Endpoint failed, string why)
    {
        if (_endpoints.Count < 2)
        {
            return;
        }

        var next = (Volatile.Read(ref _endpointIndex) + 1) % _endpoints.Count;
        Volatile.Write(ref _endpointIndex, next);
        _log.LogWarning(
            "ISO 8583 client: {Why} at {Failed}; moving to endpoint {Next} ({Index} of {Count})",
            why, failed, _endpoints[next], next + 1, _endpoints.Count);
    }

    /// <summary>A signed-on connection closed <paramref name="up"/> after its sign-on, before it was stable: a failed attempt.</summary>
    private void CountEarlyClose(Iso8583Endpoint endpoint, TimeSpan up)
    {
        ConsecutiveFailures++;
        ConsecutiveEarlyCloses++;
        _log.LogWarning(
            "ISO 8583 client: {Endpoint} closed the connection {Up:F1} s after sign-on ({Count} time(s) in a row within {Stable}); reconnecting with back-off (attempt {Attempt})",
            endpoint, up.TotalSeconds, ConsecutiveEarlyCloses, _options.StableConnectionPeriod, ConsecutiveFailures);
    }

    private double Jitter() =>
        _options.JitterSource?.Invoke() ?? (RandomNumberGenerator.GetInt32(1_000_000) / 1_000_000.0);

    private void Publish(Iso8583Connection connection)
    {
        Volatile.Write(ref _connection, connection);
        TaskCompletionSource<Iso8583Connection> signal;
        lock (_gate)
        {
            signal = _connected;
            _connected = new TaskCompletionSource<Iso8583Connection>(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        signal.TrySetResult(connection);
    }

    private void Raise(Action<Iso8583Connection>? handler, Iso8583Connection connection)
    {
        try
        {
            handler?.Invoke(connection);
        }
        catch (Exception ex)
        {
            _log.LogError(ex, "ISO 8583 client: a connection event handler failed.");
        }
    }

    private async Task<Iso8583Connection> ConnectAsync(Iso8583Endpoint endpoint, CancellationToken stop)
    {
        using var timeout = new CancellationTokenSource(_options.ConnectTimeout, _options.TimeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stop, timeout.Token);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        Stream stream;
        try
        {
            await socket.ConnectAsync(endpoint.Host, endpoint.Port, linked.Token);
            stream = new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        SslStream? tlsStream = null;
        try
        {
            if (endpoint.Tls is { } tls)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = tlsStream = ssl;
                await ssl.AuthenticateAsClientAsync(tls, linked.Token);
            }

            if (_options.StreamWrapper is { } wrap)
            {
                stream = await wrap(stream, linked.Token);
            }
        }
        catch
        {
            await stream.DisposeAsync();
            throw;
        }

        return new Iso8583Connection(stream, _options, endpoint.ToString(), onClosed: null)
        {
            RemoteCertificate = tlsStream?.RemoteCertificate,
            TlsProtocol = tlsStream?.SslProtocol,
        };
    }
}
