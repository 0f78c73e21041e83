using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.IO.Pipelines;
using System.Threading.Channels;
using CardlessAtm.Iso8583.Mac;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Iso8583.Channels;

/// <summary>The life of a connection.</summary>
public enum ConnectionState
{
    /// <summary>Requests flow both ways.</summary>
    Open,

    /// <summary>Graceful close: no new requests are sent or handled; in-flight ones finish.</summary>
    Draining,

    /// <summary>Closed; every waiting request has failed with <see cref="ChannelErrorReason.ConnectionClosed"/>.</summary>
    Closed,
}

/// <summary>
/// One ISO 8583 TCP connection (either end): sends requests and matches their responses, answers the peer's
/// requests through the <see cref="Iso8583ConnectionOptions.RequestHandler"/>, and applies the malformed-frame
/// policy (see docs/protocol/iso8583.md). Reads and writes run on System.IO.Pipelines; writes are batched.
/// All members are thread-safe.
/// </summary>
public sealed class Iso8583Connection : IAsyncDisposable
{
    private static long _nextId;

    private readonly Stream _stream;
    private readonly PipeReader _reader;
    private readonly PipeWriter _writer;
    private readonly Iso8583ConnectionOptions _options;
    private readonly ILogger _log;
    private readonly Channel<byte[]> _outgoing = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentDictionary<string, TaskCompletionSource<IsoMessage>> _pending = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _unansweredSlots;
    private readonly SemaphoreSlim _incomingSlots;
    private readonly CancellationTokenSource _lifetime = new();
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Action<Iso8583Connection>? _onClosed;
    private int _state;
    private int _inFlightIncoming;
    private int _authenticated;
    private int _authenticatingUsed;
    private int _authenticationChanges;
    private long _authenticationStart;
    private CancellationTokenSource? _idleWake;
    private int _authenticating;
    private int _closedBy = -1;
    private long _lastReceived;
    private long _opened;
    private int _receivedMessage;

    internal Iso8583Connection(Stream stream, Iso8583ConnectionOptions options, string remoteEndPoint, Action<Iso8583Connection>? onClosed)
    {
        _stream = stream;
        _options = options;
        _log = options.Logger;
        _onClosed = onClosed;
        RemoteEndPoint = remoteEndPoint;
        Id = Interlocked.Increment(ref _nextId);
        _reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 16384, minimumReadSize: 4096, leaveOpen: true));
        _writer = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
        _unansweredSlots = new SemaphoreSlim(options.MaxUnansweredRequests, options.MaxUnansweredRequests);
        _incomingSlots = new SemaphoreSlim(options.MaxConcurrentIncomingRequests, options.MaxConcurrentIncomingRequests);
        _lastReceived = options.TimeProvider.GetTimestamp();
        _opened = _lastReceived;
        _authenticationStart = _opened;
        Completion = Task.CompletedTask;
    }

    /// <summary>A process-unique number for logs.</summary>
    public long Id { get; }

    /// <summary>The peer's address and port.</summary>
    public string RemoteEndPoint { get; }

    /// <summary>Free for the owner's use, e.g. the ATM id a proxy learned from the sign-on.</summary>
    public object? Tag { get; set; }

    /// <summary>The certificate the peer presented in the TLS handshake: the client's (mutual TLS) on an accepted connection, the server's on a dialled one; null on plain TCP or when none was asked for.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate? RemoteCertificate { get; internal set; }

    /// <summary>The TLS protocol the handshake negotiated (e.g. <see cref="System.Security.Authentication.SslProtocols.Tls13"/>), or null on plain TCP.</summary>
    public System.Security.Authentication.SslProtocols? TlsProtocol { get; internal set; }

    /// <summary>Open, draining or closed.</summary>
    public ConnectionState State => (ConnectionState)Volatile.Read(ref _state);

    /// <summary>True while requests can be sent.</summary>
    public bool IsOpen => State == ConnectionState.Open;

    /// <summary>
    /// True once the owner has called <see cref="MarkAuthenticated"/> (e.g. the ATM signed on). A server never evicts an
    /// authenticated connection to make room for a new one, and it no longer counts against
    /// <see cref="Iso8583ServerOptions.MaxUnauthenticatedConnections"/>.
    /// </summary>
    public bool IsAuthenticated => Volatile.Read(ref _authenticated) == 1;

    /// <summary>The limit that closed this connection (a timeout), or null when it closed for another reason or is open.</summary>
    public ConnectionLimit? ClosedBy => Volatile.Read(ref _closedBy) is var limit and >= 0 ? (ConnectionLimit)limit : null;

    /// <summary>Requests sent and not yet answered.</summary>
    public int PendingRequestCount => _pending.Count;

    /// <summary>Completes when the connection has closed and its socket is released.</summary>
    public Task Completion { get; private set; }

    /// <summary>True while a request of the peer is being handled (a server does not evict such a connection).</summary>
    internal bool IsBusy => Volatile.Read(ref _inFlightIncoming) > 0;

    /// <summary>Called once when <see cref="MarkAuthenticated"/> is first called (the server frees the unauthenticated slot).</summary>
    internal Action<Iso8583Connection>? Authenticated { get; set; }

    /// <summary>Called when <see cref="MarkUnauthenticated"/> undid an authentication (the server counts the slot as unauthenticated again).</summary>
    internal Action<Iso8583Connection>? Unauthenticated { get; set; }

    /// <summary>True between <see cref="TryBeginAuthenticating"/> and <see cref="EndAuthenticating"/>: a server does not evict the connection then.</summary>
    internal bool IsAuthenticating => Volatile.Read(ref _authenticating) == 1;

    /// <summary>
    /// Shields this (not yet authenticated) connection from eviction while the owner checks the peer's proof of
    /// identity (e.g. looks up the ATM and verifies its sign-on's MAC), even where
    /// <see cref="Iso8583ServerOptions.EvictBusyUnauthenticated"/> is set. Granted once per connection, so a peer cannot keep
    /// its slot by sending one bogus proof after another, and still bounded by
    /// <see cref="Iso8583ConnectionOptions.AuthenticationTimeout"/>. End it with <see cref="EndAuthenticating"/> whatever the check found.
    /// </summary>
    /// <returns>Whether the shield was granted (false when already authenticated or once granted before).</returns>
    public bool TryBeginAuthenticating()
    {
        if (IsAuthenticated || Interlocked.Exchange(ref _authenticatingUsed, 1) == 1)
        {
            return false;
        }

        Volatile.Write(ref _authenticating, 1);
        return true;
    }

    /// <summary>Ends the shield <see cref="TryBeginAuthenticating"/> granted: unless it authenticated, the connection is evictable again.</summary>
    public void EndAuthenticating() => Volatile.Write(ref _authenticating, 0);

    /// <summary>
    /// Records that the peer proved who it is (e.g. an ATM's sign-on was accepted). Call it only after a check that
    /// an anonymous peer cannot pass: an authenticated connection keeps its slot however many others arrive.
    /// </summary>
    public void MarkAuthenticated()
    {
        if (Interlocked.Exchange(ref _authenticated, 1) == 0)
        {
            Authenticated?.Invoke(this);
            Interlocked.Increment(ref _authenticationChanges);
        }
    }

    /// <summary>
    /// Undoes <see cref="MarkAuthenticated"/> (e.g. the ATM signed off): the connection counts against
    /// <see cref="Iso8583ServerOptions.MaxUnauthenticatedConnections"/> again, is the first a server evicts for a
    /// newcomer, and must authenticate again within <see cref="Iso8583ConnectionOptions.AuthenticationTimeout"/> of now.
    /// </summary>
    public void MarkUnauthenticated()
    {
        if (Interlocked.Exchange(ref _authenticated, 0) == 1)
        {
            Volatile.Write(ref _authenticationStart, _options.TimeProvider.GetTimestamp());
            Volatile.Write(ref _authenticatingUsed, 0); // it may shield one more proof of identity
            Unauthenticated?.Invoke(this);
            Interlocked.Increment(ref _authenticationChanges);
            try
            {
                Volatile.Read(ref _idleWake)?.Cancel(); // the idle loop computes the new deadline
            }
            catch (ObjectDisposedException)
            {
                // The loop moved on; it reads the change counter before its next wait.
            }
        }
    }

    /// <summary>
    /// Sends a request (or advice) and waits for the response with the same match key, up to
    /// <see cref="Iso8583ConnectionOptions.RequestTimeout"/>. Waits for a slot when
    /// <see cref="Iso8583ConnectionOptions.MaxUnansweredRequests"/> are outstanding.
    /// </summary>
    /// <param name="request">The request; not changed.</param>
    /// <param name="cancellationToken">Cancels the wait (the response, if it comes later, is treated as late).</param>
    /// <returns>The response.</returns>
    /// <exception cref="Iso8583ChannelException">Timeout, connection closed, duplicate key or not a request.</exception>
    public async Task<IsoMessage> SendRequestAsync(IsoMessage request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!Mti.IsRequest(request.Mti))
        {
            throw new Iso8583ChannelException(ChannelErrorReason.NotARequest, $"{request.Mti} is not a request or advice, so no response can be awaited; use Send.");
        }

        ThrowIfNotOpen();
        var frame = _options.Framing.FrameMessage(request, _options.RequestTpdu); // captured now: the caller may reuse the message
        await _unansweredSlots.WaitAsync(cancellationToken);
        try
        {
            var key = _options.MatchKey(request);
            var waiter = new TaskCompletionSource<IsoMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!_pending.TryAdd(key, waiter))
            {
                throw new Iso8583ChannelException(ChannelErrorReason.DuplicateMatchKey, $"a request with match key {key} is already waiting on connection {Id}.");
            }

            try
            {
                ThrowIfNotOpen();
                Enqueue(frame, request);
                return await waiter.Task.WaitAsync(_options.RequestTimeout, _options.TimeProvider, cancellationToken);
            }
            catch (TimeoutException ex)
            {
                throw new Iso8583ChannelException(
                    ChannelErrorReason.Timeout,
                    string.Create(CultureInfo.InvariantCulture, $"no response to {request.Mti} (key {key}) within {_options.RequestTimeout.TotalMilliseconds:0} ms on connection {Id} to {RemoteEndPoint}."),
                    ex);
            }
            finally
            {
                _pending.TryRemove(new KeyValuePair<string, TaskCompletionSource<IsoMessage>>(key, waiter));
                SignalIfDrained();
            }
        }
        finally
        {
            _unansweredSlots.Release();
        }
    }

    /// <summary>Sends a message without waiting for an answer (a response, or an advice whose answer is not awaited).</summary>
    /// <param name="message">The message.</param>
    /// <param name="tpdu">The TPDU for TPDU framing (default: <see cref="Iso8583ConnectionOptions.RequestTpdu"/>).</param>
    /// <exception cref="Iso8583ChannelException">The connection is closed.</exception>
    /// <exception cref="Iso8583FramingException">The message exceeds the maximum frame size.</exception>
    public void Send(IsoMessage message, Tpdu? tpdu = null) => Enqueue(message, tpdu ?? _options.RequestTpdu);

    /// <summary>
    /// Closes gracefully: stops sending and accepting new requests (the peer's new requests are answered 91),
    /// waits up to <see cref="Iso8583ConnectionOptions.DrainTimeout"/> for in-flight requests both ways, flushes, then closes.
    /// </summary>
    /// <param name="cancellationToken">Cuts the drain short.</param>
    /// <returns>A task that completes when the connection is closed.</returns>
    public async Task CloseAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.CompareExchange(ref _state, (int)ConnectionState.Draining, (int)ConnectionState.Open) == (int)ConnectionState.Open)
        {
            SignalIfDrained();
            try
            {
                await _drained.Task.WaitAsync(_options.DrainTimeout, _options.TimeProvider, cancellationToken);
            }
            catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
            {
                _log.LogWarning("ISO 8583 connection {Id} to {Remote}: drain ended with {Pending} requests unanswered and {Incoming} being handled.", Id, RemoteEndPoint, _pending.Count, Volatile.Read(ref _inFlightIncoming));
            }
        }

        Shutdown(flush: true);
        await Completion;
    }

    /// <summary>Closes at once, without draining.</summary>
    /// <returns>A task that completes when the connection is closed.</returns>
    public async ValueTask DisposeAsync()
    {
        Shutdown(flush: false);
        await Completion;
    }

    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"ISO 8583 connection {Id} to {RemoteEndPoint} ({State})");

    internal void Start()
    {
        _opened = _options.TimeProvider.GetTimestamp();
        Volatile.Write(ref _lastReceived, _opened);
        Volatile.Write(ref _authenticationStart, _opened);
        Completion = RunAsync();
    }

    /// <summary>Closes at once without draining (evicted by the server); the socket is released in the background.</summary>
    internal void Abort() => Shutdown(flush: false);

    private async Task RunAsync()
    {
        var write = Task.Run(WriteLoopAsync);
        var read = Task.Run(ReadLoopAsync);
        var idle = Task.Run(IdleLoopAsync);
        await Task.WhenAll(read, write);
        await _lifetime.CancelAsync();
        await idle;
        try
        {
            await _stream.DisposeAsync();
        }
        catch (Exception ex)
        {
            _log.LogDebug(ex, "ISO 8583 connection {Id}: closing the stream failed.", Id);
        }

        _log.LogInformation("ISO 8583 connection {Id} to {Remote} closed.", Id, RemoteEndPoint);
        try
        {
            _onClosed?.Invoke(this);
        }
        catch (Exception ex)
        {
            _log.LogError(ex, "ISO 8583 connection {Id}: the closed callback failed.", Id);
        }
    }

    private void ThrowIfNotOpen()
    {
        if (State != ConnectionState.Open)
        {
            throw new Iso8583ChannelException(ChannelErrorReason.ConnectionClosed, $"connection {Id} to {RemoteEndPoint} is {State.ToString().ToLowerInvariant()}.");
        }
    }

    /// <summary>Packs and frames the message now (so the caller may reuse it) and queues it for the writer.</summary>
    private void Enqueue(IsoMessage message, Tpdu? tpdu)
    {
        ArgumentNullException.ThrowIfNull(message);
        Enqueue(_options.Framing.FrameMessage(message, tpdu), message);
    }

    private void Enqueue(byte[] frame, IsoMessage message)
    {
        if (State == ConnectionState.Closed || !_outgoing.Writer.TryWrite(frame))
        {
            throw new Iso8583ChannelException(ChannelErrorReason.ConnectionClosed, $"connection {Id} to {RemoteEndPoint} is closed.");
        }

        if (_log.IsEnabled(LogLevel.Trace))
        {
            _log.LogTrace("ISO 8583 connection {Id} → {Remote}: {Message}", Id, RemoteEndPoint, message.ToString());
        }
    }

    private void Shutdown(bool flush)
    {
        if (Interlocked.Exchange(ref _state, (int)ConnectionState.Closed) != (int)ConnectionState.Closed)
        {
            _outgoing.Writer.TryComplete();
            foreach (var pending in _pending)
            {
                pending.Value.TrySetException(new Iso8583ChannelException(ChannelErrorReason.ConnectionClosed, $"connection {Id} to {RemoteEndPoint} closed before the response came."));
            }
        }

        if (!flush)
        {
            _lifetime.Cancel();
        }
    }

    private void SignalIfDrained()
    {
        if (State != ConnectionState.Open && _pending.IsEmpty && Volatile.Read(ref _inFlightIncoming) == 0)
        {
            _drained.TrySetResult();
        }
    }

    private async Task WriteLoopAsync()
    {
        var queue = _outgoing.Reader;
        try
        {
            while (await queue.WaitToReadAsync(_lifetime.Token))
            {
                while (queue.TryRead(out var frame))
                {
                    _writer.Write(frame);
                }

                var flushed = await _writer.FlushAsync(_lifetime.Token);
                if (flushed.IsCompleted || flushed.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (_lifetime.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            _log.LogInformation("ISO 8583 connection {Id} to {Remote}: write failed: {Error}", Id, RemoteEndPoint, ex.Message);
        }
        finally
        {
            await _writer.CompleteAsync();
            Shutdown(flush: false);
        }
    }

    private async Task ReadLoopAsync()
    {
        var framing = _options.Framing;
        try
        {
            while (true)
            {
                var result = await _reader.ReadAsync(_lifetime.Token);
                var buffer = result.Buffer;
                var keepGoing = true;
                try
                {
                    while (keepGoing && framing.TryReadFrame(ref buffer, out var frame))
                    {
                        // Only a message is activity: keep-alive frames are read and dropped, so they cannot hold a
                        // connection open past its idle timeout (and nothing extends its absolute lifetime).
                        if (!frame.IsKeepAlive)
                        {
                            Volatile.Write(ref _lastReceived, _options.TimeProvider.GetTimestamp());
                            Volatile.Write(ref _receivedMessage, 1);
                            keepGoing = HandleFrame(frame, out var waitForSlot);
                            if (waitForSlot is not null)
                            {
                                // Back-pressure: too many of the peer's requests are being handled; stop reading until one ends.
                                _reader.AdvanceTo(buffer.Start);
                                await waitForSlot;
                                result = await _reader.ReadAsync(_lifetime.Token);
                                buffer = result.Buffer;
                            }
                        }
                    }
                }
                catch (Iso8583FramingException ex)
                {
                    _log.LogWarning("ISO 8583 connection {Id} from {Remote}: {Error}; closing, the next frame cannot be found.", Id, RemoteEndPoint, ex.Message.TrimEnd('.'));
                    keepGoing = false;
                }

                _reader.AdvanceTo(buffer.Start, buffer.End);
                if (!keepGoing)
                {
                    return;
                }

                if (result.IsCompleted || result.IsCanceled)
                {
                    if (!buffer.IsEmpty)
                    {
                        _log.LogWarning("ISO 8583 connection {Id} to {Remote}: the peer disconnected in the middle of a frame ({Bytes} bytes unread).", Id, RemoteEndPoint, buffer.Length);
                    }

                    return;
                }
            }
        }
        catch (OperationCanceledException) when (_lifetime.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            _log.LogInformation("ISO 8583 connection {Id} to {Remote}: read failed: {Error}", Id, RemoteEndPoint, ex.Message);
        }
        finally
        {
            await _reader.CompleteAsync();
            Shutdown(flush: false);
        }
    }

    /// <summary>Handles one frame. Returns false to close the connection; sets a wait when incoming slots are exhausted.</summary>
    private bool HandleFrame(Frame frame, out Task? waitForSlot)
    {
        waitForSlot = null;
        IsoMessage message;
        Iso8583ParseException? error;
        if (frame.Payload.IsSingleSegment)
        {
            IsoMessage.TryUnpackPartial(frame.Payload.FirstSpan, _options.Spec, out message, out error);
        }
        else
        {
            var length = (int)frame.Payload.Length;
            var rented = ArrayPool<byte>.Shared.Rent(length);
            try
            {
                frame.Payload.CopyTo(rented);
                IsoMessage.TryUnpackPartial(rented.AsSpan(0, length), _options.Spec, out message, out error);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(rented, clearArray: true);
            }
        }

        if (error is not null)
        {
            return HandleMalformed(message, error, frame.Tpdu);
        }

        if (_log.IsEnabled(LogLevel.Trace))
        {
            _log.LogTrace("ISO 8583 connection {Id} ← {Remote}: {Message}", Id, RemoteEndPoint, message.ToString());
        }

        var function = message.Mti[2];
        if (function is '1' or '3')
        {
            DeliverResponse(message);
            return true;
        }

        if (function is not ('0' or '2'))
        {
            _log.LogInformation("ISO 8583 connection {Id} from {Remote}: {Mti} is neither request nor response; dropped.", Id, RemoteEndPoint, message.Mti);
            return true;
        }

        var replyTpdu = frame.Tpdu?.Reply();
        if (State != ConnectionState.Open)
        {
            AutoRespond(message, ResponseCodes.IssuerUnavailable, replyTpdu);
            return true;
        }

        if (_options.AnswerEchoTests && message.Mti == Mti.NetworkManagementRequest && message.GetString(70) == NetworkManagementCodes.EchoTest)
        {
            AutoRespond(message, ResponseCodes.Approved, replyTpdu);
            return true;
        }

        Interlocked.Increment(ref _inFlightIncoming);
        var shielded = !IsAuthenticated && _options.IsAuthenticationAttempt is { } proves && proves(message) && TryBeginAuthenticating();
        if (_incomingSlots.Wait(0))
        {
            _ = HandleRequestAsync(message, replyTpdu, slotTask: null, shielded);
        }
        else
        {
            var slot = _incomingSlots.WaitAsync(_lifetime.Token);
            _ = HandleRequestAsync(message, replyTpdu, slot, shielded);
            waitForSlot = slot.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        return true;
    }

    private void DeliverResponse(IsoMessage response)
    {
        string key;
        try
        {
            key = _options.MatchKey(response);
        }
        catch (Exception ex)
        {
            _log.LogWarning("ISO 8583 connection {Id}: the match key selector failed for {Mti}: {Error}", Id, response.Mti, ex.Message);
            Unmatched(response);
            return;
        }

        if (_pending.TryGetValue(key, out var waiter) && waiter.TrySetResult(response))
        {
            return;
        }

        Unmatched(response);
    }

    private void Unmatched(IsoMessage response)
    {
        if (_options.UnmatchedResponseHandler is { } handler)
        {
            try
            {
                handler(response, this);
            }
            catch (Exception ex)
            {
                _log.LogError(ex, "ISO 8583 connection {Id}: the unmatched-response handler failed.", Id);
            }

            return;
        }

        _log.LogWarning("ISO 8583 connection {Id} from {Remote}: late or unmatched response dropped: {Message}", Id, RemoteEndPoint, response.ToString());
    }

    private bool HandleMalformed(IsoMessage partial, Iso8583ParseException error, Tpdu? tpdu)
    {
        if (partial.HasMti && partial.Has(11))
        {
            var function = partial.Mti[2];
            if (function is '0' or '2')
            {
                _log.LogWarning("ISO 8583 connection {Id} from {Remote}: answering format error (30): {Error}", Id, RemoteEndPoint, error.Message);
                AutoRespond(partial, ResponseCodes.FormatError, tpdu?.Reply());
                return true;
            }

            if (function is '1' or '3' && _pending.TryGetValue(SafeKey(partial) ?? string.Empty, out var waiter))
            {
                _log.LogWarning("ISO 8583 connection {Id} from {Remote}: malformed response: {Error}", Id, RemoteEndPoint, error.Message);
                waiter.TrySetException(new Iso8583ChannelException(ChannelErrorReason.MalformedResponse, $"the response from {RemoteEndPoint} could not be unpacked: {error.Message}", error));
                return true;
            }
        }

        _log.LogWarning("ISO 8583 connection {Id} from {Remote}: closing after an unidentifiable malformed frame: {Error}", Id, RemoteEndPoint, error.Message);
        return false;
    }

    private string? SafeKey(IsoMessage message)
    {
        try
        {
            return _options.MatchKey(message);
        }
        catch (Exception)
        {
            return null;
        }
    }

    private void AutoRespond(IsoMessage request, string responseCode, Tpdu? tpdu)
    {
        try
        {
            var response = request.CreateResponse(_options.EchoedFields).Set(39, responseCode);
            if (_options.AutomaticResponseMac is { } mac)
            {
                MessageMac.Apply(response, mac);
            }

            Enqueue(response, tpdu);
        }
        catch (Exception ex)
        {
            _log.LogWarning("ISO 8583 connection {Id}: could not send the automatic {Code} response: {Error}", Id, responseCode, ex.Message);
        }
    }

    private async Task HandleRequestAsync(IsoMessage request, Tpdu? replyTpdu, Task? slotTask, bool shielded = false)
    {
        var haveSlot = slotTask is null;
        try
        {
            if (slotTask is not null)
            {
                await slotTask;
                haveSlot = true;
            }
            else
            {
                await Task.Yield(); // never run the handler on the read loop
            }

            IsoMessage? response;
            if (_options.RequestHandler is { } handler)
            {
                response = await handler(request, this, _lifetime.Token);
            }
            else
            {
                response = request.CreateResponse(_options.EchoedFields).Set(39, ResponseCodes.InvalidTransaction);
            }

            if (response is not null)
            {
                Enqueue(response, replyTpdu);
            }
        }
        catch (OperationCanceledException) when (_lifetime.IsCancellationRequested)
        {
        }
        catch (Iso8583ChannelException) when (State == ConnectionState.Closed)
        {
        }
        catch (Exception ex)
        {
            _log.LogError("ISO 8583 connection {Id}: the request handler failed for {Mti} ({ErrorType}: {Error}); answering 96.", Id, request.Mti, ex.GetType().Name, ex.Message);
            AutoRespond(request, ResponseCodes.SystemMalfunction, replyTpdu);
        }
        finally
        {
            if (shielded)
            {
                EndAuthenticating();
            }

            if (haveSlot)
            {
                _incomingSlots.Release();
            }

            Interlocked.Decrement(ref _inFlightIncoming);
            SignalIfDrained();
        }
    }

    private async Task IdleLoopAsync()
    {
        var echo = _options.IdleEchoInterval;
        var timeout = _options.ReceiveIdleTimeout;
        var lifetime = _options.MaxConnectionLifetime;
        var firstMessage = _options.FirstMessageTimeout;
        var authentication = _options.AuthenticationTimeout;
        if (echo is null && timeout is null && lifetime is null && firstMessage is null && authentication is null)
        {
            return;
        }

        var clock = _options.TimeProvider;
        try
        {
            while (!_lifetime.IsCancellationRequested)
            {
                var changes = Volatile.Read(ref _authenticationChanges);
                var age = clock.GetElapsedTime(_opened);
                if (lifetime is { } l && age >= l)
                {
                    _log.LogInformation("ISO 8583 connection {Id} to {Remote}: open for {Seconds:0} s, its most; closing after the requests in flight.", Id, RemoteEndPoint, age.TotalSeconds);
                    Volatile.Write(ref _closedBy, (int)ConnectionLimit.MaxLifetime);
                    _ = CloseAsync(CancellationToken.None); // drains in the background; this loop must end for the close to complete
                    return;
                }

                var waitingForFirst = firstMessage is not null && Volatile.Read(ref _receivedMessage) == 0;
                if (waitingForFirst && age >= firstMessage!.Value)
                {
                    _log.LogWarning("ISO 8583 connection {Id} to {Remote}: no complete message within {Seconds:0} s of connecting; closing.", Id, RemoteEndPoint, age.TotalSeconds);
                    CloseForLimit(ConnectionLimit.FirstMessageTimeout);
                    return;
                }

                // Measured from the connection's opening, or from when it was last marked unauthenticated (signed off).
                var unauthenticatedFor = clock.GetElapsedTime(Volatile.Read(ref _authenticationStart));
                var waitingForAuthentication = authentication is not null && !IsAuthenticated;
                if (waitingForAuthentication && unauthenticatedFor >= authentication!.Value)
                {
                    _log.LogWarning("ISO 8583 connection {Id} to {Remote}: not authenticated (signed on) within {Seconds:0} s of connecting or signing off; closing.", Id, RemoteEndPoint, unauthenticatedFor.TotalSeconds);
                    CloseForLimit(ConnectionLimit.AuthenticationTimeout);
                    return;
                }

                var idle = clock.GetElapsedTime(Volatile.Read(ref _lastReceived));
                if (timeout is { } t && idle >= t)
                {
                    _log.LogWarning("ISO 8583 connection {Id} to {Remote}: nothing received for {Seconds:0} s; closing.", Id, RemoteEndPoint, idle.TotalSeconds);
                    CloseForLimit(ConnectionLimit.IdleTimeout);
                    return;
                }

                if (echo is { } e && idle >= e && IsOpen)
                {
                    await SendEchoAsync();
                    continue;
                }

                var wait = TimeSpan.MaxValue;
                wait = echo is { } e2 && e2 - idle < wait ? e2 - idle : wait;
                wait = timeout is { } t2 && t2 - idle < wait ? t2 - idle : wait;
                wait = lifetime is { } l2 && l2 - age < wait ? l2 - age : wait;
                wait = waitingForFirst && firstMessage!.Value - age < wait ? firstMessage.Value - age : wait;
                wait = waitingForAuthentication && authentication!.Value - unauthenticatedFor < wait ? authentication.Value - unauthenticatedFor : wait;

                // Woken early when the connection is marked unauthenticated again (its authentication deadline restarts).
                using var wake = CancellationTokenSource.CreateLinkedTokenSource(_lifetime.Token);
                Interlocked.Exchange(ref _idleWake, wake); // a full fence: the read of _authenticationChanges below cannot move before it
                if (Volatile.Read(ref _authenticationChanges) != changes)
                {
                    continue;
                }

                try
                {
                    // Infinite when only met deadlines were set (e.g. the first message came and the peer authenticated).
                    await Task.Delay(wait == TimeSpan.MaxValue ? Timeout.InfiniteTimeSpan : wait < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : wait, clock, wake.Token);
                }
                catch (OperationCanceledException) when (!_lifetime.IsCancellationRequested)
                {
                    // Woken: compute the deadlines again.
                }
                finally
                {
                    Interlocked.CompareExchange(ref _idleWake, null, wake);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void CloseForLimit(ConnectionLimit limit)
    {
        Volatile.Write(ref _closedBy, (int)limit);
        Shutdown(flush: false);
    }

    private async Task SendEchoAsync()
    {
        try
        {
            var request = _options.EchoRequestFactory?.Invoke() ?? DefaultEcho();
            var response = await SendRequestAsync(request, _lifetime.Token);
            _log.LogDebug("ISO 8583 connection {Id}: echo answered {Code}.", Id, response.GetString(39));
        }
        catch (OperationCanceledException) when (_lifetime.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            _log.LogWarning("ISO 8583 connection {Id} to {Remote}: echo test failed ({Error}); closing.", Id, RemoteEndPoint, ex.Message.TrimEnd('.'));
            Shutdown(flush: false);
        }
    }

    private IsoMessage DefaultEcho()
    {
        // Fields 7 (transmission date and time, UTC), 11 (STAN), 41 (terminal id) and 70 (network management code).
        var echo = new IsoMessage(_options.Spec, Mti.NetworkManagementRequest)
            .Set(7, _options.TimeProvider.GetUtcNow().UtcDateTime.ToString("MMddHHmmss", CultureInfo.InvariantCulture))
            .Set(11, _options.Stan.Next().ToString(CultureInfo.InvariantCulture))
            .Set(70, NetworkManagementCodes.EchoTest);
        if (_options.TerminalId is { } terminalId)
        {
            echo.Set(41, terminalId);
        }

        return echo;
    }
}
