using System.IO.Ports;
using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Lcdm4000.Protocol;
using CardlessAtm.Devices.Puloon;
using CardlessAtm.Devices.Status;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Devices.Lcdm4000;

/// <summary>
/// Driver of the Puloon LCDM-4000 four-cassette cash dispenser over a serial line; positions 1 (top) to 4 (bottom).
/// It never throws for a device fault: every outcome is a <see cref="DeviceDispenseResult"/> that says what moved per
/// position. A dispense whose answer never came is never sent again: its notes are unknown until LAST_STATUS (0x55)
/// settles them, which <see cref="ReadCountersAsync"/>, the next dispense, or a new driver instance after a restart does.
/// The driver owns the port or stream it is given and closes it when disposed.
/// </summary>
public sealed partial class Lcdm4000Dispenser : IDispenserDevice, IDisposable
{
    /// <summary>The model name reported in <see cref="Info"/>.</summary>
    public const string Model = "Puloon LCDM-4000";

    private readonly Lcdm4000Options _options;
    private readonly PuloonLink _link;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Lcdm4000CounterFile _counters;
    private readonly bool _durable;
    private bool _disposed;

    /// <summary>Creates the driver on a serial port; its line settings are taken from <paramref name="options"/> when it is opened (on first use).</summary>
    /// <exception cref="PuloonCounterFileException">The <see cref="PuloonDispenserOptions.CounterFile"/> exists but is unreadable.</exception>
    public Lcdm4000Dispenser(SerialPort port, Lcdm4000Options options, TimeProvider? timeProvider = null, ILogger<Lcdm4000Dispenser>? logger = null)
        : this(options, timeProvider, logger, o => PuloonDriverSupport.OpenSerial(port, o), _ => port.Close(), () => PuloonDriverSupport.DiscardSerial(port))
    {
        ArgumentNullException.ThrowIfNull(port);
    }

    /// <summary>Creates the driver on an already open byte stream to the device (its ReadAsync must honour cancellation).</summary>
    public Lcdm4000Dispenser(Stream stream, Lcdm4000Options options, TimeProvider? timeProvider = null, ILogger<Lcdm4000Dispenser>? logger = null)
        : this(options, timeProvider, logger, _ => stream, s => s.Dispose(), null)
    {
        ArgumentNullException.ThrowIfNull(stream);
    }

    private Lcdm4000Dispenser(
        Lcdm4000Options options, TimeProvider? timeProvider, ILogger? logger,
        Func<Lcdm4000Options, Stream> open, Action<Stream> close, Action? discard)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Clone();
        _logger = logger ?? NullLogger.Instance;
        _durable = !string.IsNullOrEmpty(_options.CounterFile);
        _counters = _durable ? Lcdm4000CounterFile.Open(_options.CounterFile!) : Lcdm4000CounterFile.InMemory();
        if (_counters.InFlight is { } stale)
        {
            LogInFlightAtStart(_logger, _counters.Path ?? "", stale.Command, string.Join("+", stale.Asked));
        }

        Status = new DispenserStatus(_options.DeviceName);
        Info = new DispenserDeviceInfo(Model, Lcdm4000Frame.Positions, _options.MaxNotesPerDispense);
        var settings = _options.LinkSettings;
        _link = new PuloonLink(() => open(_options), close, discard, settings, Lcdm4000Frame.Layout, timeProvider ?? TimeProvider.System, _logger);
    }

    /// <summary>Creates a driver on a new <see cref="SerialPort"/> for <see cref="PuloonDispenserOptions.PortName"/>; nothing is opened until first use.</summary>
    public static Lcdm4000Dispenser Create(Lcdm4000Options options, TimeProvider? timeProvider = null, ILogger<Lcdm4000Dispenser>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var port = new SerialPort();
        try
        {
            return new Lcdm4000Dispenser(port, options, timeProvider, logger);
        }
        catch
        {
            port.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public DispenserDeviceInfo Info { get; }

    /// <inheritdoc/>
    public DispenserStatus Status { get; }

    /// <summary>The last status answer, or null before the first one.</summary>
    public Lcdm4000StatusReport? LastStatusReport { get; private set; }

    /// <summary>Traffic counters since the driver was created.</summary>
    public PuloonLinkCounters LinkCounters => _link.Counters;

    /// <inheritdoc/>
    /// <remarks>
    /// Lifetime counters from the driver's counter file (<see cref="PuloonDispenserOptions.CounterFile"/>), null without one. A command
    /// left in flight (its answer lost, or the process or the unit died) is first settled by LAST_STATUS: then the counters
    /// say exactly what it moved. If the device cannot be asked, or its answer cannot be told from the last one settled, the
    /// command's notes count as unknown.
    /// </remarks>
    public async Task<DeviceCounters?> ReadCountersAsync(CancellationToken cancellationToken)
    {
        if (!_durable)
        {
            return null;
        }

        await EnterAsync(cancellationToken);
        try
        {
            if (_counters.InFlight is not null)
            {
                await SettleInFlightAsync(foldIfUnknown: false, cancellationToken);
            }

            return _counters.Snapshot();
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Asks LAST_STATUS (0x55): the result of the last purge, dispense or test dispense, as the device kept it.</summary>
    public async Task<(Lcdm4000OperationReport? Report, DeviceDispenseResult? Failure)> ReadLastStatusAsync(CancellationToken cancellationToken)
    {
        await EnterAsync(cancellationToken);
        try
        {
            return await ReadLastStatusCoreAsync(cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Opens the port and reads the status; null when the device answered, otherwise why it is inoperative.</summary>
    public Task<DeviceDispenseResult?> OpenAsync(CancellationToken cancellationToken) => RefreshStatusAsync(cancellationToken);

    /// <inheritdoc/>
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
    /// <remarks>Purges (0x51) and reads the status. The purge answer's counts are reported: notes moved to the reject tray, and any presented from the exit.</remarks>
    public async Task<DeviceDispenseResult> ResetAsync(CancellationToken cancellationToken)
    {
        await EnterAsync(cancellationToken);
        try
        {
            if (_counters.InFlight is not null)
            {
                await SettleInFlightAsync(foldIfUnknown: true, cancellationToken); // the purge replaces what LAST_STATUS reports
            }

            var exchange = await ExchangeAsync(Lcdm4000Command.Purge, [], _options.PurgeTimeout, repeatOnSilence: true, cancellationToken);
            if (exchange.Outcome != ExchangeOutcome.Answered)
            {
                return CommunicationFailure(exchange, []);
            }

            var report = Lcdm4000ResponseParser.ParseOperation(exchange.Answer);
            if (report is null)
            {
                MarkFault(DeviceState.HardwareError, $"unreadable purge counts in {Convert.ToHexString(exchange.Answer)}");
                return new DeviceDispenseResult(DispenseCompletion.HardwareError, [], null, "purge answer unreadable");
            }

            var moved = report.Cassettes.Where(c => c.Exited + c.Rejected > 0).Select(c => new PositionMovement(c.Position, c.Exited, c.Rejected, 0)).ToArray();
            var statusFailure = await RefreshStatusCoreAsync(cancellationToken);
            if (!report.Error.IsSuccess)
            {
                MarkFault(DeviceState.HardwareError, $"purge failed: {report.Error}");
                return new DeviceDispenseResult(report.Error.Completion, moved, report.Error.DeviceCode, $"purge failed: {report.Error}");
            }

            return statusFailure is not null
                ? statusFailure with { Movements = moved, Detail = "purge done, but then: " + statusFailure.Detail }
                : new DeviceDispenseResult(DispenseCompletion.Ok, moved, report.Error.DeviceCode, "purged; notes left in the path went to the reject tray");
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
        var asked = new int[Lcdm4000Frame.Positions];
        var invalid = CheckRequest(notesPerPosition, asked);
        if (invalid is not null)
        {
            var positions = notesPerPosition.Select(p => p.Position).Where(p => p is >= 1 and <= 4).Distinct().Order()
                .Select(p => new PositionMovement(p, 0, 0, 0)).ToArray();
            return new DeviceDispenseResult(DispenseCompletion.InvalidRequest, positions, null, invalid);
        }

        await EnterAsync(cancellationToken);
        try
        {
            return await DispenseCoreAsync(asked, cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Test dispense (0x53): picks <paramref name="notes"/> notes from <paramref name="position"/> straight into the reject tray,
    /// to prove the pick path without presenting cash. Counted like a dispense (as rejected), LAST_STATUS recovery included.
    /// </summary>
    public async Task<DeviceDispenseResult> TestDispenseAsync(int position, int notes, CancellationToken cancellationToken)
    {
        if (position is < 1 or > 4 || notes is < 1 or > Lcdm4000Frame.MaxNotesPerCommand)
        {
            return new DeviceDispenseResult(DispenseCompletion.InvalidRequest, [], null,
                $"test dispense of {notes} notes from position {position}: positions are 1..4, notes 1..{Lcdm4000Frame.MaxNotesPerCommand}");
        }

        await EnterAsync(cancellationToken);
        try
        {
            if (_counters.InFlight is not null)
            {
                await SettleInFlightAsync(foldIfUnknown: true, cancellationToken);
            }

            var step = new int[Lcdm4000Frame.Positions];
            step[position - 1] = notes;
            var tally = new long[Lcdm4000Frame.Positions, 3];
            var outcome = await RunStepAsync(step, tally, cancellationToken, Lcdm4000Command.TestDispense);
            var moved = new PositionMovement(position, (int)tally[position - 1, 0], (int)tally[position - 1, 1], (int)tally[position - 1, 2]);
            return new DeviceDispenseResult(outcome.Completion ?? DispenseCompletion.Ok, [moved], outcome.DeviceCode, $"test dispense: {outcome.Detail}");
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

    private Task<Exchange> ExchangeAsync(Lcdm4000Command command, byte[] data, TimeSpan responseTimeout, bool repeatOnSilence, CancellationToken cancellationToken) =>
        _link.ExchangeAsync((byte)command, data, Lcdm4000Frame.ResponseLength(command), responseTimeout, repeatOnSilence, cancellationToken);

    private string? CheckRequest(IReadOnlyList<PositionCount> request, int[] asked)
    {
        var seen = new HashSet<int>();
        foreach (var item in request)
        {
            if (item.Position is < 1 or > 4)
            {
                return $"position {item.Position} does not exist: the LCDM-4000 has positions 1 (top) to 4 (bottom)";
            }

            if (!seen.Add(item.Position))
            {
                return $"position {item.Position} is asked more than once";
            }

            if (item.Notes < 0)
            {
                return $"position {item.Position}: note count {item.Notes} is negative";
            }

            asked[item.Position - 1] = item.Notes;
        }

        var total = asked.Sum(n => (long)n);
        if (total == 0)
        {
            return "no notes asked";
        }

        return total > _options.MaxNotesPerDispense
            ? $"{total} notes asked; at most {_options.MaxNotesPerDispense} per dispense (setting {nameof(Lcdm4000Options.MaxNotesPerDispense)})"
            : null;
    }

    private async Task<DeviceDispenseResult> DispenseCoreAsync(int[] asked, CancellationToken cancellationToken)
    {
        if (_counters.InFlight is not null)
        {
            // The next dispense replaces what LAST_STATUS reports: settle the stale command now, or count it unknown.
            await SettleInFlightAsync(foldIfUnknown: true, cancellationToken);
        }

        var plan = Lcdm4000DispensePlan.Split(asked, _options.MaxNotesPerCommand);
        var tally = new long[Lcdm4000Frame.Positions, 3];
        var notes = new List<string>();
        DispenseCompletion? stop = null;
        string? deviceCode = null;
        for (var i = 0; i < plan.Count; i++)
        {
            if (i > 0 && cancellationToken.IsCancellationRequested)
            {
                stop = DispenseCompletion.Partial;
                notes.Add($"cancelled by the caller before command {i + 1} of {plan.Count}");
                break;
            }

            var step = plan[i];
            var outcome = await RunStepAsync(step, tally, cancellationToken);
            deviceCode = outcome.DeviceCode ?? deviceCode;
            notes.Add($"command {i + 1}/{plan.Count} ({string.Join("+", step)}): {outcome.Detail}");
            if (outcome.Completion is { } failed)
            {
                stop = failed;
                break;
            }
        }

        var movements = Enumerable.Range(0, Lcdm4000Frame.Positions)
            .Where(i => asked[i] > 0 || tally[i, 0] + tally[i, 1] + tally[i, 2] > 0)
            .Select(i => new PositionMovement(i + 1, (int)tally[i, 0], (int)tally[i, 1], (int)tally[i, 2])).ToArray();
        var completion = stop ?? DispenseCompletion.Ok;
        var summary = string.Join(", ", movements.Select(m => $"position {m.Position}: asked {asked[m.Position - 1]}, presented {m.Presented}, rejected {m.Rejected}, unknown {m.Unknown}"));
        LogDispensed(_logger, completion, summary);
        return new DeviceDispenseResult(completion, movements, deviceCode, $"{summary}; {string.Join("; ", notes)}");
    }

    private readonly record struct StepOutcome(DispenseCompletion? Completion, string? DeviceCode, string Detail);

    private async Task<StepOutcome> RunStepAsync(int[] step, long[,] tally, CancellationToken cancellationToken, Lcdm4000Command command = Lcdm4000Command.Dispense)
    {
        try
        {
            _counters.BeginCommand((byte)command, step);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            var reason = $"counter file {_counters.Path} cannot be written ({ex.Message}); dispense command not sent";
            MarkFault(DeviceState.HardwareError, reason);
            return new StepOutcome(DispenseCompletion.HardwareError, null, reason);
        }

        Exchange exchange;
        try
        {
            exchange = await ExchangeAsync(command, Lcdm4000Frame.DispenseData(step), _options.DispenseTimeout(step.Sum()), repeatOnSilence: false, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            Record([]); // thrown only before anything was sent
            throw;
        }

        if (exchange.Outcome != ExchangeOutcome.Answered)
        {
            var failure = CommunicationFailure(exchange, []);
            if (failure.Completion is DispenseCompletion.Timeout || exchange.Outcome == ExchangeOutcome.CorruptResponse)
            {
                // The device may have run it: its notes are unknown, and the command stays in flight for LAST_STATUS.
                for (var i = 0; i < step.Length; i++)
                {
                    tally[i, 2] += step[i];
                }

                return new StepOutcome(failure.Completion, null, $"{exchange.Detail}; its notes are unknown until LAST_STATUS settles them");
            }

            Record([]); // refused or never sent: nothing moved
            return new StepOutcome(failure.Completion, null, exchange.Detail);
        }

        var report = Lcdm4000ResponseParser.ParseOperation(exchange.Answer);
        // A sound frame whose counts cannot belong to this command (more notes out of a position than it asked) is no
        // account of what moved: counting it would book notes that were never asked, so its notes stay unknown.
        var impossible = report is not null && report.Cassettes.Any(c =>
            c.Exited > step[c.Position - 1] || (command == Lcdm4000Command.TestDispense && c.Rejected > step[c.Position - 1]));
        if (report is null || impossible)
        {
            for (var i = 0; i < step.Length; i++)
            {
                tally[i, 2] += step[i];
            }

            var what = impossible ? "impossible (more notes than asked)" : "unreadable";
            MarkFault(DeviceState.HardwareError, $"{what} dispense counts in {Convert.ToHexString(exchange.Answer)}");
            return new StepOutcome(DispenseCompletion.HardwareError, null, $"the answer's counts are {what}; its notes are unknown until LAST_STATUS settles them");
        }

        var moved = report.Cassettes.Select(c => new PositionMovement(c.Position, c.Exited, c.Rejected, 0)).ToArray();
        foreach (var m in moved)
        {
            tally[m.Position - 1, 0] += m.Presented;
            tally[m.Position - 1, 1] += m.Rejected;
        }

        var recordFailure = Record(moved, report);
        ApplyOperationReport(report);
        var detail = $"{report.Error} {string.Join(" ", report.Cassettes.Where(c => c.Exited + c.Rejected > 0 || step[c.Position - 1] > 0).Select(c => $"[{c.Position}: exit {c.Exited} rej {c.Rejected}]"))}"
            + (recordFailure is null ? "" : "; " + recordFailure);
        if (!report.Error.IsSuccess)
        {
            return new StepOutcome(report.Error.Completion, report.Error.DeviceCode, detail);
        }

        var shortfall = command == Lcdm4000Command.Dispense && report.Cassettes.Any(c => c.Exited < step[c.Position - 1]);
        return shortfall
            ? new StepOutcome(DispenseCompletion.Partial, report.Error.DeviceCode, detail + " (fewer notes exited than asked)")
            : new StepOutcome(recordFailure is null ? null : DispenseCompletion.HardwareError, report.Error.DeviceCode, detail);
    }

    /// <summary>Settles the in-flight command in the counters; returns why that failed, or null.</summary>
    private string? Record(IReadOnlyList<PositionMovement> moved, Lcdm4000OperationReport? answer = null, bool answerUnknown = false)
    {
        try
        {
            _counters.Settle(moved, answer is null ? null : Lcdm4000CounterFile.SettledAnswer.Of(answer), answerUnknown);
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            var reason = $"counter file {_counters.Path} cannot be written ({ex.Message}); the command stays in flight there";
            MarkFault(DeviceState.HardwareError, reason);
            return reason;
        }
    }

    /// <summary>
    /// Asks LAST_STATUS for the in-flight command. Its counts settle the command when they belong to it: same command
    /// byte, no position more than was asked, and not a repeat of the last answer already settled (then the command
    /// may never have reached the device). Otherwise, with <paramref name="foldIfUnknown"/>, its notes become unknown.
    /// </summary>
    private async Task SettleInFlightAsync(bool foldIfUnknown, CancellationToken cancellationToken)
    {
        var inFlight = _counters.InFlight!;
        var (report, failure) = await ReadLastStatusCoreAsync(cancellationToken);
        string? why = null;
        if (report is null)
        {
            why = $"LAST_STATUS could not be read ({failure?.Detail})";
        }
        else if (report.Command != inFlight.Command)
        {
            why = $"LAST_STATUS reports command 0x{report.Command:X2}, not the one in flight (0x{inFlight.Command:X2})";
        }
        else if (report.Cassettes.Any(c => c.Exited + c.Rejected > inFlight.Asked[c.Position - 1]))
        {
            why = "LAST_STATUS reports more notes than the command in flight asked";
        }
        else if (_counters.LastSettled is { } last && last.SameAs(report))
        {
            why = "LAST_STATUS repeats the last answer already counted: the command in flight may never have reached the device";
        }
        else if (_counters.LastAnswerUnknown)
        {
            why = "an earlier command was counted unknown without its answer: LAST_STATUS may be that command's, not the one in flight";
        }

        if (why is null)
        {
            var moved = report!.Cassettes.Select(c => new PositionMovement(c.Position, c.Exited, c.Rejected, 0)).ToArray();
            LogSettled(_logger, string.Join(", ", moved.Select(m => $"{m.Position}: {m.Presented}/{m.Rejected}")));
            Record(moved, report);
            return;
        }

        LogNotSettled(_logger, why);
        if (foldIfUnknown)
        {
            // The answer read now (if any) is the device's latest: a later LAST_STATUS equal to it cannot settle a newer command.
            // Without one, that command's answer is never learnt and no later LAST_STATUS can be told from it.
            Record([.. inFlight.Asked.Select((n, i) => new PositionMovement(i + 1, 0, 0, n))], report, answerUnknown: report is null);
        }
    }

    private async Task<(Lcdm4000OperationReport? Report, DeviceDispenseResult? Failure)> ReadLastStatusCoreAsync(CancellationToken cancellationToken)
    {
        var exchange = await ExchangeAsync(Lcdm4000Command.LastStatus, [], _options.StatusTimeout, repeatOnSilence: true, cancellationToken);
        if (exchange.Outcome != ExchangeOutcome.Answered)
        {
            return (null, CommunicationFailure(exchange, []));
        }

        var report = Lcdm4000ResponseParser.ParseLastStatus(exchange.Answer);
        return report is null
            ? (null, new DeviceDispenseResult(DispenseCompletion.HardwareError, [], null, $"unreadable LAST_STATUS counts in {Convert.ToHexString(exchange.Answer)}"))
            : (report, null);
    }

    private async Task<DeviceDispenseResult?> RefreshStatusCoreAsync(CancellationToken cancellationToken)
    {
        var exchange = await ExchangeAsync(Lcdm4000Command.Status, [], _options.StatusTimeout, repeatOnSilence: true, cancellationToken);
        if (exchange.Outcome != ExchangeOutcome.Answered)
        {
            return CommunicationFailure(exchange, []);
        }

        ApplyStatusReport(Lcdm4000ResponseParser.ParseStatus(exchange.Answer));
        return null;
    }

    private void ApplyStatusReport(Lcdm4000StatusReport report)
    {
        LastStatusReport = report;
        var faults = new List<string>();
        var stop = false;
        var attention = false;
        if (report.NotesInPath)
        {
            var blocked = string.Join(", ", report.Cassettes.Where(c => c.CheckBlocked).Select(c => $"CHK{c.Position}"));
            faults.Add($"notes in the path ({report.Path}{(blocked.Length > 0 ? ", " + blocked : "")}): purge needed");
            stop = true;
        }

        var missing = report.Cassettes.Where(c => !c.Present).Select(c => c.Position).ToArray();
        if (missing.Length > 0)
        {
            faults.Add($"cassette {string.Join(", ", missing)} missing");
            stop |= missing.Length == Lcdm4000Frame.Positions;
            attention = true;
        }

        if (report.Cassettes.Any(c => c.Present && c.NearEnd))
        {
            attention = true;
        }

        if (!report.LastError.IsSuccess)
        {
            faults.Add($"last operation: {report.LastError}");
        }

        Status.Transport = report.NotesInPath ? TransportState.NotEmpty : TransportState.Empty;
        Status.Dispenser = stop ? DispenserCondition.Stop : attention ? DispenserCondition.Attention : DispenserCondition.Ok;
        Status.Device = stop ? DeviceState.HardwareError : DeviceState.Online;
        Status.LastFault = faults.Count == 0 ? null : string.Join("; ", faults);
    }

    private void ApplyOperationReport(Lcdm4000OperationReport report)
    {
        var error = report.Error;
        if (error.IsSuccess)
        {
            Status.Device = DeviceState.Online;
            Status.Transport = TransportState.Empty;
            Status.Dispenser = Status.Dispenser == DispenserCondition.Stop ? DispenserCondition.Ok : Status.Dispenser;
            Status.LastFault = null;
            return;
        }

        Status.LastFault = $"dispense ended with {error}";
        switch (error.Completion)
        {
            case DispenseCompletion.CassetteEmpty or DispenseCompletion.CassetteMissing or DispenseCompletion.PickFailure:
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

    [LoggerMessage(Level = LogLevel.Information, Message = "LCDM-4000 dispense {Completion}: {Summary}")]
    private static partial void LogDispensed(ILogger logger, DispenseCompletion completion, string summary);

    [LoggerMessage(Level = LogLevel.Warning, Message = "LCDM-4000 counter file {Path}: command 0x{Command:X2} ({Asked} notes) was in flight when the driver last stopped; LAST_STATUS will settle it")]
    private static partial void LogInFlightAtStart(ILogger logger, string path, byte command, string asked);

    [LoggerMessage(Level = LogLevel.Information, Message = "LCDM-4000 LAST_STATUS settled the command in flight (position: presented/rejected) {Moved}")]
    private static partial void LogSettled(ILogger logger, string moved);

    [LoggerMessage(Level = LogLevel.Warning, Message = "LCDM-4000 command in flight not settled: {Reason}")]
    private static partial void LogNotSettled(ILogger logger, string reason);
}
