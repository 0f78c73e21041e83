using System.IO.Ports;
using System.Text;
using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Lcdm2000.Protocol;
using CardlessAtm.Devices.Puloon;
using CardlessAtm.Devices.Status;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Devices.Lcdm2000;

/// <summary>
/// Driver of the Puloon LCDM-2000 two-cassette cash dispenser over a serial line. Position 1 is the
/// upper cassette, position 2 the lower. It never throws for a device fault: every outcome is a
/// <see cref="DeviceDispenseResult"/> that says what moved per position; notes whose fate the device
/// cannot tell (timeout, unreadable answer) are reported as unknown, never guessed.
/// The driver owns the port or stream it is given and closes it when disposed.
/// </summary>
public sealed partial class Lcdm2000Dispenser : IDispenserDevice, IDisposable
{
    /// <summary>The model name reported in <see cref="Info"/>.</summary>
    public const string Model = "Puloon LCDM-2000";

    private readonly Lcdm2000Options _options;
    private readonly PuloonLink _link;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Lcdm2000CounterFile? _counterFile;
    private bool _disposed;

    /// <summary>Creates the driver on a serial port; the port's line settings are taken from <paramref name="options"/> when it is opened (on first use).</summary>
    /// <param name="port">The serial port (not yet open, or already opened by the caller).</param>
    /// <param name="options">Settings, already checked by <see cref="Lcdm2000OptionsValidator"/> (the registration does it at start-up); copied.</param>
    /// <param name="timeProvider">Clock for every time limit; the system clock if null.</param>
    /// <param name="logger">Logger; none if null.</param>
    /// <exception cref="PuloonCounterFileException">The <see cref="PuloonDispenserOptions.CounterFile"/> exists but is unreadable.</exception>
    public Lcdm2000Dispenser(SerialPort port, Lcdm2000Options options, TimeProvider? timeProvider = null, ILogger<Lcdm2000Dispenser>? logger = null)
        : this(options, timeProvider, logger, o => PuloonDriverSupport.OpenSerial(port, o), _ => port.Close(), () => PuloonDriverSupport.DiscardSerial(port))
    {
        ArgumentNullException.ThrowIfNull(port);
    }

    /// <summary>Creates the driver on an already open byte stream to the device (a serial port's stream, a socket to a serial server, …).</summary>
    /// <param name="stream">The stream; its <see cref="Stream.ReadAsync(Memory{byte}, CancellationToken)"/> must honour cancellation.</param>
    /// <param name="options">Settings (the line settings are not applied to a stream; <see cref="PuloonDispenserOptions.PortName"/> names it in messages).</param>
    /// <param name="timeProvider">Clock for every time limit; the system clock if null.</param>
    /// <param name="logger">Logger; none if null.</param>
    public Lcdm2000Dispenser(Stream stream, Lcdm2000Options options, TimeProvider? timeProvider = null, ILogger<Lcdm2000Dispenser>? logger = null)
        : this(options, timeProvider, logger, _ => stream, s => s.Dispose(), null)
    {
        ArgumentNullException.ThrowIfNull(stream);
    }

    private Lcdm2000Dispenser(
        Lcdm2000Options options, TimeProvider? timeProvider, ILogger? logger,
        Func<Lcdm2000Options, Stream> open, Action<Stream> close, Action? discard)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Clone();
        _logger = logger ?? NullLogger.Instance;
        _counterFile = string.IsNullOrEmpty(_options.CounterFile) ? null : Lcdm2000CounterFile.Open(_options.CounterFile);
        if (_counterFile?.InFlight is { } stale)
        {
            LogInFlightAtStart(_logger, _counterFile.Path, stale.Command, stale.Upper, stale.Lower);
        }

        Status = new DispenserStatus(_options.DeviceName);
        Info = new DispenserDeviceInfo(Model, 2, _options.MaxNotesPerDispense);
        var settings = _options.LinkSettings;
        _link = new PuloonLink(() => open(_options), close, discard, settings, Lcdm2000Frame.Layout, timeProvider ?? TimeProvider.System, _logger);
    }

    /// <summary>Creates a driver on a new <see cref="SerialPort"/> for <see cref="PuloonDispenserOptions.PortName"/>; nothing is opened until first use.</summary>
    public static Lcdm2000Dispenser Create(Lcdm2000Options options, TimeProvider? timeProvider = null, ILogger<Lcdm2000Dispenser>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var port = new SerialPort();
        try
        {
            return new Lcdm2000Dispenser(port, options, timeProvider, logger);
        }
        catch
        {
            port.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public DispenserDeviceInfo Info { get; private set; }

    /// <inheritdoc/>
    public DispenserStatus Status { get; }

    /// <summary>The sensor bits of the last status answer, or null before the first one.</summary>
    public Lcdm2000Sensors? Sensors { get; private set; }

    /// <summary>The firmware version read by <see cref="OpenAsync"/> or <see cref="ReadRomVersionAsync"/>, or null.</summary>
    public Lcdm2000RomVersion? RomVersion { get; private set; }

    /// <summary>Traffic counters of the link since the driver was created.</summary>
    public PuloonLinkCounters LinkCounters => _link.Counters;

    /// <inheritdoc/>
    /// <remarks>
    /// From the driver's counter file (<see cref="PuloonDispenserOptions.CounterFile"/>), null without one. The notes of a
    /// command sent whose answer is not recorded yet (in flight now, or when the process died) count as unknown.
    /// </remarks>
    public Task<DeviceCounters?> ReadCountersAsync(CancellationToken cancellationToken) =>
        Task.FromResult(_counterFile?.Snapshot());

    /// <summary>
    /// Opens the port and reads the firmware version and status. Returns null when the device answered;
    /// otherwise a result saying why it is inoperative (the status says so too).
    /// </summary>
    public async Task<DeviceDispenseResult?> OpenAsync(CancellationToken cancellationToken)
    {
        RomVersion = null; // read it afresh
        return await RefreshStatusAsync(cancellationToken);
    }

    /// <summary>Asks the firmware version (command 0x47). On success <see cref="RomVersion"/> and <see cref="Info"/> carry it.</summary>
    public async Task<(Lcdm2000RomVersion? Version, DeviceDispenseResult? Failure)> ReadRomVersionAsync(CancellationToken cancellationToken)
    {
        await EnterAsync(cancellationToken);
        try
        {
            var failure = await ReadRomVersionCoreAsync(cancellationToken);
            return (RomVersion, failure);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc/>
    /// <returns>Null when the device answered (then <see cref="Status"/> and <see cref="Sensors"/> are current); otherwise why it could not be asked.</returns>
    public async Task<DeviceDispenseResult?> RefreshStatusAsync(CancellationToken cancellationToken)
    {
        await EnterAsync(cancellationToken);
        try
        {
            return await RefreshStatusCoreAsync(cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc/>
    /// <remarks>Purges (0x44) and then reads the status. The purged notes' positions cannot be told, so no movements are reported.</remarks>
    public async Task<DeviceDispenseResult> ResetAsync(CancellationToken cancellationToken)
    {
        await EnterAsync(cancellationToken);
        try
        {
            var exchange = await ExchangeAsync(Lcdm2000Command.Purge, [], _options.PurgeTimeout, repeatOnSilence: true, cancellationToken);
            if (exchange.Outcome != ExchangeOutcome.Answered)
            {
                return CommunicationFailure(exchange, []);
            }

            var error = Lcdm2000ResponseParser.ParsePurge(exchange.Answer);
            var statusFailure = await RefreshStatusCoreAsync(cancellationToken);
            if (!error.IsSuccess)
            {
                Status.LastFault = $"purge failed: {error}";
                Status.Dispenser = DispenserCondition.Stop;
                Status.Device = DeviceState.HardwareError;
                return new DeviceDispenseResult(error.Completion, [], error.DeviceCode, $"purge failed: {error}");
            }

            return statusFailure is not null
                ? statusFailure with { Detail = "purge done, but then: " + statusFailure.Detail }
                : new DeviceDispenseResult(DispenseCompletion.Ok, [], error.DeviceCode, "purged; notes left in the path went to the reject tray");
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc/>
    public async Task<DeviceDispenseResult> DispenseAsync(IReadOnlyList<PositionCount> notesPerPosition, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(notesPerPosition);
        var invalid = CheckRequest(notesPerPosition, out var upper, out var lower);
        if (invalid is not null)
        {
            var asked = notesPerPosition.Select(p => p.Position).Where(p => p is 1 or 2).Distinct().Order()
                .Select(p => new PositionMovement(p, 0, 0, 0)).ToArray();
            return new DeviceDispenseResult(DispenseCompletion.InvalidRequest, asked, null, invalid);
        }

        await EnterAsync(cancellationToken);
        try
        {
            return await DispenseCoreAsync(upper, lower, cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Test dispense (0x76 upper / 0x77 lower): picks one note from the cassette straight into the reject
    /// tray, to prove the pick path without presenting cash.
    /// </summary>
    public async Task<DeviceDispenseResult> TestDispenseAsync(int position, CancellationToken cancellationToken)
    {
        if (position is not (1 or 2))
        {
            return new DeviceDispenseResult(DispenseCompletion.InvalidRequest, [], null, $"position {position} does not exist: the LCDM-2000 has positions 1 (upper) and 2 (lower)");
        }

        await EnterAsync(cancellationToken);
        try
        {
            var command = position == 1 ? Lcdm2000Command.UpperTestDispense : Lcdm2000Command.LowerTestDispense;
            var step = new Lcdm2000DispenseStep(command, position == 1 ? 1 : 0, position == 2 ? 1 : 0);
            var tally = new Tally();
            var outcome = await RunStepAsync(step, tally, cancellationToken);
            var completion = outcome.Completion ?? DispenseCompletion.Ok;
            return new DeviceDispenseResult(completion, tally.Movements(position == 1, position == 2), outcome.DeviceCode, $"test dispense: {outcome.Detail}");
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The settings the driver runs with (a copy of those it was given).</summary>
    internal Lcdm2000Options Options => _options;

    /// <summary>One raw command exchange, serialised with every other operation; for the probe, which must read answers before any convention is applied.</summary>
    internal async Task<Exchange> ExchangeRawAsync(Lcdm2000Command command, byte[] data, TimeSpan responseTimeout, bool repeatOnSilence, CancellationToken cancellationToken)
    {
        await EnterAsync(cancellationToken);
        try
        {
            return await ExchangeAsync(command, data, responseTimeout, repeatOnSilence, cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _link.Dispose();
        _gate.Dispose();
    }

    /// <summary>One exchange on the shared Puloon link, with the LCDM-2000's fixed response length for the command.</summary>
    private Task<Exchange> ExchangeAsync(Lcdm2000Command command, byte[] data, TimeSpan responseTimeout, bool repeatOnSilence, CancellationToken cancellationToken) =>
        _link.ExchangeAsync((byte)command, data, Lcdm2000Frame.ResponseLength(command), responseTimeout, repeatOnSilence, cancellationToken);

    private string? CheckRequest(IReadOnlyList<PositionCount> request, out int upper, out int lower)
    {
        upper = lower = 0;
        var seen = new HashSet<int>();
        foreach (var item in request)
        {
            if (item.Position is not (1 or 2))
            {
                return $"position {item.Position} does not exist: the LCDM-2000 has positions 1 (upper) and 2 (lower)";
            }

            if (!seen.Add(item.Position))
            {
                return $"position {item.Position} is asked more than once";
            }

            if (item.Notes < 0)
            {
                return $"position {item.Position}: note count {item.Notes} is negative";
            }

            if (item.Position == 1)
            {
                upper = item.Notes;
            }
            else
            {
                lower = item.Notes;
            }
        }

        var total = (long)upper + lower;
        if (total == 0)
        {
            return "no notes asked";
        }

        return total > _options.MaxNotesPerDispense
            ? $"{total} notes asked; at most {_options.MaxNotesPerDispense} per dispense (setting {nameof(Lcdm2000Options.MaxNotesPerDispense)})"
            : null;
    }

    private async Task<DeviceDispenseResult> DispenseCoreAsync(int upper, int lower, CancellationToken cancellationToken)
    {
        var plan = Lcdm2000DispensePlan.Split(upper, lower, _options.MaxNotesPerCommand, _options.UseCombinedDispense);
        var tally = new Tally();
        var notes = new StringBuilder();
        DispenseCompletion? stop = null;
        string? deviceCode = null;
        var done = 0;
        foreach (var step in plan)
        {
            if (done > 0 && cancellationToken.IsCancellationRequested)
            {
                stop = DispenseCompletion.Partial;
                notes.Append($"cancelled by the caller before command {done + 1} of {plan.Count}; ");
                break;
            }

            StepOutcome outcome;
            try
            {
                outcome = await RunStepAsync(step, tally, cancellationToken);
            }
            catch (OperationCanceledException) when (done > 0)
            {
                stop = DispenseCompletion.Partial;
                notes.Append($"cancelled by the caller before command {done + 1} of {plan.Count}; ");
                break;
            }

            done++;
            deviceCode = outcome.DeviceCode ?? deviceCode;
            notes.Append($"command {done}/{plan.Count} 0x{(byte)step.Command:X2} ({step.Upper}+{step.Lower}): {outcome.Detail}; ");
            if (outcome.Completion is { } failed)
            {
                stop = failed;
                break;
            }
        }

        var movements = tally.Movements(upper > 0, lower > 0);
        var completion = stop ?? DispenseCompletion.Ok;
        if (completion == DispenseCompletion.Ok)
        {
            Status.Dispenser = Status.Dispenser == DispenserCondition.Stop ? DispenserCondition.Ok : Status.Dispenser;
        }

        var summary = string.Join(", ", movements.Select(m => $"position {m.Position}: asked {(m.Position == 1 ? upper : lower)}, presented {m.Presented}, rejected {m.Rejected}, unknown {m.Unknown}"));
        LogDispensed(_logger, completion, summary);
        return new DeviceDispenseResult(completion, movements, deviceCode, $"{summary}; {notes.ToString().TrimEnd(' ', ';')}");
    }

    private readonly record struct StepOutcome(DispenseCompletion? Completion, string? DeviceCode, string Detail);

    /// <summary>
    /// Runs one dispense command and adds what moved to the tally, and to the counter file: the command is
    /// recorded there as in flight before it is sent, and what it moved replaces that record after the answer.
    /// A null completion means the step went fully well.
    /// </summary>
    private async Task<StepOutcome> RunStepAsync(Lcdm2000DispenseStep step, Tally tally, CancellationToken cancellationToken)
    {
        if (_counterFile is { } file)
        {
            try
            {
                file.BeginCommand(step);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Without the in-flight record a crash during this command could not be told apart: do not send it.
                var reason = $"counter file {file.Path} cannot be written ({ex.Message}); command 0x{(byte)step.Command:X2} not sent";
                MarkFault(DeviceState.HardwareError, reason);
                return new StepOutcome(DispenseCompletion.HardwareError, null, reason);
            }
        }

        var moved = new Tally();
        StepOutcome outcome;
        try
        {
            outcome = await RunStepCoreAsync(step, moved, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // Thrown only before anything was sent.
            RecordCompleted(step, moved);
            throw;
        }

        tally.Add(moved);
        var recordFailure = RecordCompleted(step, moved);
        return recordFailure is null ? outcome : outcome with { Detail = $"{outcome.Detail}; {recordFailure}" };
    }

    /// <summary>Moves the in-flight command into the counters; returns why that failed, or null.</summary>
    private string? RecordCompleted(Lcdm2000DispenseStep step, Tally moved)
    {
        if (_counterFile is not { } file)
        {
            return null;
        }

        try
        {
            file.CompleteCommand(moved.Movements(upperAsked: true, lowerAsked: true));
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The file still shows the command in flight (its notes unknown): stop until the file can be written.
            var reason = $"counter file {file.Path} cannot be written after command 0x{(byte)step.Command:X2} ({ex.Message}); its notes stay unknown there";
            MarkFault(DeviceState.HardwareError, reason);
            return reason;
        }
    }

    private async Task<StepOutcome> RunStepCoreAsync(Lcdm2000DispenseStep step, Tally tally, CancellationToken cancellationToken)
    {
        var exchange = await ExchangeAsync(step.Command, step.Data(), _options.DispenseTimeout(step.Total), repeatOnSilence: false, cancellationToken);
        if (exchange.Outcome != ExchangeOutcome.Answered)
        {
            var failure = CommunicationFailure(exchange, []);
            if (failure.Completion is DispenseCompletion.Timeout || exchange.Outcome == ExchangeOutcome.CorruptResponse)
            {
                // The device may have run the command: everything it was asked is suspect.
                tally.Add(1, 0, 0, step.Upper);
                tally.Add(2, 0, 0, step.Lower);
            }

            return new StepOutcome(failure.Completion, null, failure.Detail ?? exchange.Detail);
        }

        var report = Lcdm2000ResponseParser.ParseDispense(exchange.Answer, _options.CombinedAnswerOrder);
        if (report is null)
        {
            tally.Add(1, 0, 0, step.Upper);
            tally.Add(2, 0, 0, step.Lower);
            MarkFault(DeviceState.HardwareError, $"unreadable dispense counts in {Convert.ToHexString(exchange.Answer)}");
            return new StepOutcome(DispenseCompletion.HardwareError, null, "the response's counts are not ASCII digits; outcome unknown");
        }

        var asked = new[] { 0, step.Upper, step.Lower };
        if (report.Cassettes.Any(c => c.Exited > asked[c.Position]))
        {
            // A sound frame whose counts cannot belong to this command is no account of what moved: never book it.
            tally.Add(1, 0, 0, step.Upper);
            tally.Add(2, 0, 0, step.Lower);
            MarkFault(DeviceState.HardwareError, $"impossible dispense counts (more notes exited than asked) in {Convert.ToHexString(exchange.Answer)}");
            return new StepOutcome(DispenseCompletion.HardwareError, null, "the response names more notes than were asked; outcome unknown");
        }

        var shortfall = false;
        foreach (var cassette in report.Cassettes)
        {
            tally.Add(cassette.Position, cassette.Exited, cassette.Rejected, cassette.Unaccounted);
            shortfall |= cassette.Exited < asked[cassette.Position];
        }

        ApplyDispenseReport(report);
        var counts = string.Join(" ", report.Cassettes.Select(c => $"[{c.Position}: chk {c.Checked} exit {c.Exited} rej {c.Rejected}{(c.NearEnd ? " near-end" : "")}]"));
        var detail = $"{report.Error} {counts}";
        if (!report.Error.IsSuccess)
        {
            return new StepOutcome(report.Error.Completion, report.Error.DeviceCode, detail);
        }

        var testDispense = step.Command is Lcdm2000Command.UpperTestDispense or Lcdm2000Command.LowerTestDispense;
        return shortfall && !testDispense
            ? new StepOutcome(DispenseCompletion.Partial, report.Error.DeviceCode, detail + " (fewer notes exited than asked)")
            : new StepOutcome(null, report.Error.DeviceCode, detail);
    }

    private async Task<DeviceDispenseResult?> ReadRomVersionCoreAsync(CancellationToken cancellationToken)
    {
        var exchange = await ExchangeAsync(Lcdm2000Command.RomVersion, [], _options.StatusTimeout, repeatOnSilence: true, cancellationToken);
        if (exchange.Outcome != ExchangeOutcome.Answered)
        {
            return CommunicationFailure(exchange, []);
        }

        var rom = Lcdm2000ResponseParser.ParseRomVersion(exchange.Answer);
        RomVersion = rom;
        Info = Info with { Firmware = rom.ToString() };
        return null;
    }

    private async Task<DeviceDispenseResult?> RefreshStatusCoreAsync(CancellationToken cancellationToken)
    {
        if (RomVersion is null)
        {
            var failure = await ReadRomVersionCoreAsync(cancellationToken);
            if (failure is not null)
            {
                return failure;
            }
        }

        var exchange = await ExchangeAsync(Lcdm2000Command.Status, [], _options.StatusTimeout, repeatOnSilence: true, cancellationToken);
        if (exchange.Outcome != ExchangeOutcome.Answered)
        {
            return CommunicationFailure(exchange, []);
        }

        ApplyStatusReport(Lcdm2000ResponseParser.ParseStatus(exchange.Answer, _options.CassetteSensorBit));
        return null;
    }

    private void ApplyStatusReport(Lcdm2000StatusReport report)
    {
        var s = report.Sensors;
        Sensors = s;
        var faults = new List<string>();
        var stop = false;
        var attention = false;
        var path = s & Lcdm2000Sensors.NotePath;
        if (path != Lcdm2000Sensors.None)
        {
            faults.Add($"notes in the path ({path}): purge needed");
            stop = true;
        }

        var upperMissing = s.HasFlag(Lcdm2000Sensors.UpperCassetteMissing);
        var lowerMissing = s.HasFlag(Lcdm2000Sensors.LowerCassetteMissing);
        if (upperMissing)
        {
            faults.Add("upper cassette missing");
        }

        if (lowerMissing)
        {
            faults.Add("lower cassette missing");
        }

        stop |= upperMissing && lowerMissing;
        attention |= upperMissing ^ lowerMissing;
        if (s.HasFlag(Lcdm2000Sensors.RejectTrayMissing))
        {
            faults.Add("reject tray missing");
            stop = true;
        }

        if (s.HasFlag(Lcdm2000Sensors.UpperNearEnd) || s.HasFlag(Lcdm2000Sensors.LowerNearEnd))
        {
            attention = true;
        }

        if (!report.LastError.IsSuccess)
        {
            faults.Add($"last operation: {report.LastError}");
        }

        Status.Transport = path != Lcdm2000Sensors.None ? TransportState.NotEmpty : TransportState.Empty;
        Status.Dispenser = stop ? DispenserCondition.Stop : attention ? DispenserCondition.Attention : DispenserCondition.Ok;
        Status.Device = stop ? DeviceState.HardwareError : DeviceState.Online;
        Status.LastFault = faults.Count == 0 ? null : string.Join("; ", faults);
    }

    private void ApplyDispenseReport(Lcdm2000DispenseReport report)
    {
        var error = report.Error;
        var nearEnd = report.Cassettes.Any(c => c.NearEnd);
        if (error.IsSuccess)
        {
            Status.Device = DeviceState.Online;
            Status.Transport = TransportState.Empty;
            Status.Dispenser = nearEnd ? DispenserCondition.Attention : DispenserCondition.Ok;
            Status.LastFault = null;
            return;
        }

        Status.LastFault = $"dispense ended with {error}";
        if (report.Cassettes.Any(c => c.Unaccounted > 0))
        {
            Status.Transport = TransportState.NotEmpty;
        }

        switch (error.Completion)
        {
            case DispenseCompletion.CassetteEmpty:
                Status.Device = DeviceState.Online;
                Status.Dispenser = DispenserCondition.Attention;
                break;
            case DispenseCompletion.InvalidRequest:
                Status.Device = DeviceState.Online;
                break;
            case DispenseCompletion.Jam or DispenseCompletion.Timeout:
                Status.Transport = TransportState.NotEmpty;
                Status.Device = DeviceState.HardwareError;
                Status.Dispenser = DispenserCondition.Stop;
                break;
            default:
                Status.Device = DeviceState.HardwareError;
                Status.Dispenser = DispenserCondition.Stop;
                break;
        }
    }

    private DeviceDispenseResult CommunicationFailure(Exchange exchange, IReadOnlyList<PositionMovement> movements) =>
        PuloonDriverSupport.CommunicationFailure(Status, exchange, movements);

    private void MarkFault(DeviceState state, string reason) => PuloonDriverSupport.MarkFault(Status, state, reason);

    private async Task EnterAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        await _gate.WaitAsync(cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "LCDM-2000 dispense {Completion}: {Summary}")]
    private static partial void LogDispensed(ILogger logger, DispenseCompletion completion, string summary);

    [LoggerMessage(Level = LogLevel.Warning, Message = "LCDM-2000 counter file {Path}: command 0x{Command:X2} ({Upper}+{Lower} notes) was in flight when the driver last stopped; its notes count as unknown")]
    private static partial void LogInFlightAtStart(ILogger logger, string path, byte command, int upper, int lower);

    /// <summary>Per-position sums over the commands of one dispense.</summary>
    private sealed class Tally
    {
        private readonly int[,] _counts = new int[3, 3];

        public void Add(Tally other)
        {
            for (var p = 1; p <= 2; p++)
            {
                Add(p, other._counts[p, 0], other._counts[p, 1], other._counts[p, 2]);
            }
        }

        public void Add(int position, int presented, int rejected, int unknown)
        {
            _counts[position, 0] += presented;
            _counts[position, 1] += rejected;
            _counts[position, 2] += unknown;
        }

        public PositionMovement[] Movements(bool upperAsked, bool lowerAsked)
        {
            var list = new List<PositionMovement>(2);
            for (var p = 1; p <= 2; p++)
            {
                var moved = _counts[p, 0] + _counts[p, 1] + _counts[p, 2] > 0;
                if (moved || (p == 1 ? upperAsked : lowerAsked))
                {
                    list.Add(new PositionMovement(p, _counts[p, 0], _counts[p, 1], _counts[p, 2]));
                }
            }

            return [.. list];
        }
    }
}
