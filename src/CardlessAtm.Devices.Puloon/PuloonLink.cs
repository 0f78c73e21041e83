using Microsoft.Extensions.Logging;

namespace CardlessAtm.Devices.Puloon;

/// <summary>How one command exchange ended.</summary>
internal enum ExchangeOutcome
{
    /// <summary>A sound response frame was received and acknowledged.</summary>
    Answered,

    /// <summary>The device refused the command frame (NAK) every time: it did not run it.</summary>
    Refused,

    /// <summary>Nothing was sent: the port could not be opened or written.</summary>
    NotSent,

    /// <summary>No ACK and no response; for a dispense the device may have run it.</summary>
    NoAnswer,

    /// <summary>The command was acknowledged (or may have been) but no complete response came in time.</summary>
    NoResponse,

    /// <summary>Responses came but none was sound within the retries.</summary>
    CorruptResponse,

    /// <summary>The caller cancelled while waiting; the device may still run the command.</summary>
    Cancelled,
}

/// <summary>The result of one exchange.</summary>
internal readonly record struct Exchange(ExchangeOutcome Outcome, byte[]? Frame, bool Acknowledged, string Detail)
{
    /// <summary>The verified response frame of an answered exchange.</summary>
    public byte[] Answer => Frame ?? throw new InvalidOperationException($"The exchange was not answered ({Outcome}).");
}

/// <summary>
/// The byte-level half of the driver: writes command frames, waits for ACK/NAK and the response frame,
/// acknowledges or refuses it, repeats within the limits, and counts everything. One exchange at a time
/// (the caller serialises). The device id and the closing EOT come from the <see cref="PuloonFrameLayout"/>, so
/// that one link serves every model of the family.
/// </summary>
internal sealed partial class PuloonLink(
    Func<Stream> open,
    Action<Stream> close,
    Action? discardInput,
    PuloonLinkSettings options,
    PuloonFrameLayout layout,
    TimeProvider time,
    ILogger logger) : IDisposable
{
    private readonly byte[] _buffer = new byte[256];
    private readonly Action? _discardInput = discardInput;
    private Stream? _stream;
    private int _position;
    private int _length;
    private long _commandFrames, _repeats, _responseFrames, _responsesRefused, _naksReceived, _garbage, _timeouts, _written, _read;

    public PuloonLinkCounters Counters => new(
        Interlocked.Read(ref _commandFrames), Interlocked.Read(ref _repeats), Interlocked.Read(ref _responseFrames),
        Interlocked.Read(ref _responsesRefused), Interlocked.Read(ref _naksReceived), Interlocked.Read(ref _garbage),
        Interlocked.Read(ref _timeouts), Interlocked.Read(ref _written), Interlocked.Read(ref _read));

    public bool IsOpen => _stream is not null;

    /// <summary>Opens the port if needed. Returns null on success, else the reason.</summary>
    public string? EnsureOpen()
    {
        if (_stream is not null)
        {
            return null;
        }

        try
        {
            _stream = open();
            _position = _length = 0;
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException or ArgumentException)
        {
            var reason = DescribeOpenFailure(layout, options.PortName, ex);
            LogOpenFailed(logger, layout.Model, options.PortName, reason);
            return reason;
        }
    }

    /// <summary>Closes the port; the next exchange opens it again.</summary>
    public void Close()
    {
        var stream = _stream;
        _stream = null;
        _position = _length = 0;
        try
        {
            if (stream is not null)
            {
                close(stream);
            }
        }
        catch (IOException)
        {
            // Closing a port whose device vanished may fail; there is nothing left to release.
        }
    }

    public void Dispose() => Close();

    /// <summary>
    /// Runs one command: frame → ACK/NAK → response → ACK/NAK. A command frame is repeated after a NAK, also one that
    /// comes late, after the ACK window, while the response is awaited
    /// (the device refused it, so it did not run); after silence or garbage it is repeated only if
    /// <paramref name="repeatOnSilence"/> — never for a dispense, whose ACK may have been lost while the
    /// notes moved: then the driver keeps listening for the response instead of paying out twice.
    /// </summary>
    public async Task<Exchange> ExchangeAsync(
        byte command, byte[] data, int responseLength, TimeSpan responseTimeout, bool repeatOnSilence, CancellationToken cancellationToken)
    {
        var frame = PuloonFrame.BuildCommand(layout, command, data);
        var attempts = 0;
        var sentOnce = false;
        var writeStarted = false; // once a write began, the device may hold the frame even if the write or flush never returned
        try
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var openFailure = EnsureOpen();
                if (openFailure is not null)
                {
                    return new Exchange(sentOnce ? ExchangeOutcome.NoAnswer : ExchangeOutcome.NotSent, null, false, openFailure);
                }

                DiscardStale();
                writeStarted = true;
                await WriteAsync(frame, cancellationToken);
                sentOnce = true;
                Interlocked.Increment(ref _commandFrames);
                if (attempts > 0)
                {
                    Interlocked.Increment(ref _repeats);
                }

                LogSent(logger, layout.Model, command, Convert.ToHexString(frame), attempts);

                var (ack, garbled) = await WaitForAckAsync(cancellationToken);
                if (ack == AckResult.Nak && garbled && !repeatOnSilence)
                {
                    // Garbage came before the NAK: it may have been the device's ACK, mangled, and the NAK noise while the
                    // notes move. Only a clean NAK proves a refusal; this command is not repeated blind.
                    LogAmbiguousNak(logger, layout.Model, command);
                    ack = AckResult.Silence;
                }

                if (ack == AckResult.Silence)
                {
                    Interlocked.Increment(ref _timeouts);
                    if (repeatOnSilence)
                    {
                        if (attempts++ < options.Retries)
                        {
                            continue;
                        }

                        return new Exchange(ExchangeOutcome.NoAnswer, null, false, $"no ACK to command 0x{command:X2} within {options.AckTimeout.TotalMilliseconds:0} ms, {attempts} attempts");
                    }

                    LogNoAckListening(logger, layout.Model, command);
                }

                if (ack != AckResult.Nak)
                {
                    var exchange = await ReceiveResponseAsync(
                        command, responseLength, responseTimeout, ack == AckResult.Ack, lateNakRefuses: ack == AckResult.Silence && !garbled, cancellationToken);
                    if (exchange.Outcome != ExchangeOutcome.Refused)
                    {
                        return exchange;
                    }

                    LogLateNak(logger, layout.Model, command);
                }

                // A NAK, in time or late, means the device refused the frame and did not run it: repeating it cannot pay out twice.
                Interlocked.Increment(ref _naksReceived);
                if (attempts++ < options.Retries)
                {
                    continue;
                }

                return new Exchange(ExchangeOutcome.Refused, null, false, $"the device refused command 0x{command:X2} with NAK {attempts} times");
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            if (!sentOnce && !writeStarted)
            {
                throw;
            }

            return new Exchange(ExchangeOutcome.Cancelled, null, false, "waiting was cancelled by the caller after the command was sent");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException or ObjectDisposedException)
        {
            Close();
            var reason = $"serial port {options.PortName} failed: {ex.Message}";
            LogPortFailed(logger, layout.Model, options.PortName, ex.Message);
            // A write that began may have put the whole frame on the wire before the port failed: not "never sent".
            return new Exchange(sentOnce || writeStarted ? ExchangeOutcome.NoAnswer : ExchangeOutcome.NotSent, null, false, reason);
        }
    }

    private enum AckResult
    {
        Ack,
        Nak,
        Silence,

        /// <summary>A response frame started without an ACK before it (the ACK was lost).</summary>
        ResponseStarted,
    }

    /// <summary>Waits for the device's answer to the command frame; <c>Garbled</c> says garbage came first (it may have been a mangled ACK).</summary>
    private async Task<(AckResult Ack, bool Garbled)> WaitForAckAsync(CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + options.AckTimeout;
        var garbled = false;
        while (true)
        {
            var b = await ReadByteAsync(deadline, cancellationToken);
            switch (b)
            {
                case -1:
                    return (AckResult.Silence, garbled);
                case PuloonFrame.Ack:
                    return (AckResult.Ack, garbled);
                case PuloonFrame.Nak:
                    return (AckResult.Nak, garbled);
                case PuloonFrame.Soh:
                    _position--; // leave the SOH for the response reader
                    return (AckResult.ResponseStarted, garbled);
                default:
                    garbled = true;
                    Interlocked.Increment(ref _garbage);
                    LogGarbage(logger, layout.Model, b, "waiting for ACK");
                    break;
            }
        }
    }

    /// <summary>
    /// Waits for the response frame. With <paramref name="lateNakRefuses"/> (no ACK or NAK came in the ACK window), a NAK
    /// before any response is the device's late answer to the command frame: it returns <see cref="ExchangeOutcome.Refused"/>
    /// at once instead of counting the NAK as garbage and waiting out the time limit with the notes' fate unknown.
    /// </summary>
    private async Task<Exchange> ReceiveResponseAsync(
        byte command, int length, TimeSpan timeout, bool acknowledged, bool lateNakRefuses, CancellationToken cancellationToken)
    {
        var frame = new byte[length];
        var deadline = time.GetUtcNow() + timeout;
        var refusals = 0;
        string? lastProblem = null;
        var lineClean = true; // nothing at all came since the command frame: only then can a late NAK be its refusal
        while (true)
        {
            // Skip anything before SOH.
            int b;
            while ((b = await ReadByteAsync(deadline, cancellationToken)) != PuloonFrame.Soh)
            {
                if (b == -1)
                {
                    Interlocked.Increment(ref _timeouts);
                    var detail = lastProblem is null
                        ? $"no response to command 0x{command:X2} within {timeout.TotalSeconds:0.###} s{(acknowledged ? " after its ACK" : " (and no ACK)")}"
                        : $"no sound response to command 0x{command:X2}: last problem {lastProblem}";
                    return new Exchange(lastProblem is null ? ExchangeOutcome.NoResponse : ExchangeOutcome.CorruptResponse, null, acknowledged, detail);
                }

                if (b == PuloonFrame.Nak && lateNakRefuses && lastProblem is null && lineClean)
                {
                    return new Exchange(ExchangeOutcome.Refused, null, false, $"the device refused command 0x{command:X2} with a late NAK");
                }

                // A late ACK, or garbage that may have been a mangled ACK, means a NAK after it proves nothing.
                lineClean = false;

                if (b is not PuloonFrame.Ack)
                {
                    Interlocked.Increment(ref _garbage);
                    LogGarbage(logger, layout.Model, b, "waiting for a response");
                }
            }

            frame[0] = PuloonFrame.Soh;
            var filled = 1;
            while (filled < length)
            {
                var gapDeadline = time.GetUtcNow() + options.InterByteTimeout;
                var next = await ReadByteAsync(gapDeadline < deadline ? gapDeadline : deadline, cancellationToken);
                if (next == -1)
                {
                    break;
                }

                frame[filled++] = (byte)next;
            }

            var problem = filled < length
                ? $"truncated frame: {filled} of {length} bytes ({Convert.ToHexString(frame, 0, filled)})"
                : PuloonFrame.Verify(layout, frame, command, length);
            if (problem is null)
            {
                await WriteAsync([PuloonFrame.Ack], cancellationToken);
                Interlocked.Increment(ref _responseFrames);
                LogReceived(logger, layout.Model, command, Convert.ToHexString(frame));
                if (layout.EotAfterAck)
                {
                    await ReadClosingEotAsync(cancellationToken);
                }

                return new Exchange(ExchangeOutcome.Answered, frame, true, "");
            }

            Interlocked.Increment(ref _responsesRefused);
            LogBadResponse(logger, layout.Model, command, problem);
            lastProblem = problem;
            if (refusals++ >= options.Retries)
            {
                // No last NAK: a repeat could arrive during the next command. The caller treats the outcome as unknown.
                return new Exchange(ExchangeOutcome.CorruptResponse, null, true, $"response to command 0x{command:X2} was unsound {refusals} times; last: {problem}");
            }

            // Let the rest of a bad frame arrive, throw it away, then ask for the response again.
            await DrainAsync(deadline, cancellationToken);
            await WriteAsync([PuloonFrame.Nak], cancellationToken);
            deadline = time.GetUtcNow() + options.AckTimeout + options.InterByteTimeout * length;
            acknowledged = true;
        }
    }

    /// <summary>
    /// Reads the EOT with which the device closes the exchange after our ACK. Its absence is tolerated (the answer
    /// was sound and is kept); any other byte is left for the next read.
    /// </summary>
    private async Task ReadClosingEotAsync(CancellationToken cancellationToken)
    {
        var b = await ReadByteAsync(time.GetUtcNow() + options.AckTimeout, cancellationToken);
        if (b == -1)
        {
            LogNoClosingEot(logger, layout.Model);
        }
        else if (b != PuloonFrame.Eot)
        {
            _position--; // not ours: leave it for whoever reads next
        }
    }

    /// <summary>Reads and drops bytes until the line is quiet for the inter-byte time, but never past <paramref name="deadline"/> (a flood of noise must not hang the driver).</summary>
    private async Task DrainAsync(DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        while (true)
        {
            var quiet = time.GetUtcNow() + options.InterByteTimeout;
            if (await ReadByteAsync(quiet < deadline ? quiet : deadline, cancellationToken) == -1)
            {
                return;
            }

            Interlocked.Increment(ref _garbage);
        }
    }

    private void DiscardStale()
    {
        var stale = _length - _position;
        if (stale > 0)
        {
            Interlocked.Add(ref _garbage, stale);
            LogStale(logger, layout.Model, stale);
        }

        _position = _length = 0;
        _discardInput?.Invoke();
    }

    private async Task WriteAsync(byte[] bytes, CancellationToken cancellationToken)
    {
        var stream = _stream ?? throw new InvalidOperationException("The serial port is not open.");
        await stream.WriteAsync(bytes, cancellationToken);
        await stream.FlushAsync(cancellationToken);
        Interlocked.Add(ref _written, bytes.Length);
    }

    /// <summary>Next byte, or -1 when the deadline passes first.</summary>
    private async ValueTask<int> ReadByteAsync(DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        if (_position < _length)
        {
            return _buffer[_position++];
        }

        var stream = _stream ?? throw new InvalidOperationException("The serial port is not open.");
        var remaining = deadline - time.GetUtcNow();
        if (remaining <= TimeSpan.Zero)
        {
            return -1;
        }

        using var timeout = new CancellationTokenSource(remaining, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        int count;
        try
        {
            count = await stream.ReadAsync(_buffer, linked.Token);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return -1;
        }
        catch (TimeoutException)
        {
            return -1;
        }

        if (count == 0)
        {
            throw new IOException("the serial port reached end of stream (device gone?)");
        }

        Interlocked.Add(ref _read, count);
        _position = 0;
        _length = count;
        return _buffer[_position++];
    }

    internal static string DescribeOpenFailure(PuloonFrameLayout layout, string portName, Exception ex)
    {
        if (OperatingSystem.IsLinux() && portName.StartsWith("/dev/", StringComparison.Ordinal) && !File.Exists(portName))
        {
            return $"serial port {portName} does not exist: check the {layout.Model} PortName setting, the USB-serial adapter or the UART overlay";
        }

        return ex is UnauthorizedAccessException
            ? $"serial port {portName} cannot be opened: permission denied or in use (is the service user in the dialout group? {ex.Message})"
            : $"serial port {portName} cannot be opened: {ex.Message}";
    }

    [LoggerMessage(Level = LogLevel.Trace, Message = "{Model} -> 0x{Command:X2} {Hex} (repeat {Attempt})")]
    private static partial void LogSent(ILogger logger, string model, byte command, string hex, int attempt);

    [LoggerMessage(Level = LogLevel.Trace, Message = "{Model} <- 0x{Command:X2} {Hex}")]
    private static partial void LogReceived(ILogger logger, string model, byte command, string hex);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Model} unexpected byte 0x{Byte:X2} while {Phase}")]
    private static partial void LogGarbage(ILogger logger, string model, int @byte, string phase);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Model} discarded {Count} stale bytes before a command")]
    private static partial void LogStale(ILogger logger, string model, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Model} refused a response to 0x{Command:X2}: {Problem}")]
    private static partial void LogBadResponse(ILogger logger, string model, byte command, string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Model} sent no ACK for 0x{Command:X2}; not repeating it (it may be running), listening for its response")]
    private static partial void LogNoAckListening(ILogger logger, string model, byte command);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Model} refused 0x{Command:X2} with a NAK after the ACK window: it did not run the command")]
    private static partial void LogLateNak(ILogger logger, string model, byte command);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Model} sent a NAK for 0x{Command:X2} after garbage (perhaps a mangled ACK): not taken as a refusal, listening for its response")]
    private static partial void LogAmbiguousNak(ILogger logger, string model, byte command);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Model} sent no EOT after our ACK of its response (the answer is kept)")]
    private static partial void LogNoClosingEot(ILogger logger, string model);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Model} port {Port} cannot be opened: {Reason}")]
    private static partial void LogOpenFailed(ILogger logger, string model, string port, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Model} port {Port} failed: {Reason}")]
    private static partial void LogPortFailed(ILogger logger, string model, string port, string reason);
}
