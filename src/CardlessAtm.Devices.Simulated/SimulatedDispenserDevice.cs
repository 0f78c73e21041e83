using System.Text.Json;
using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Status;

namespace CardlessAtm.Devices.Simulated;

/// <summary>Faults a test or the demo can inject into the simulated dispenser (<c>Devices:Dispenser:Simulated:Faults</c>).</summary>
public sealed class SimulatedDispenserFaults
{
    /// <summary>After this many notes in one dispense, the next note jams in the transport (it ends in the reject tray on reset).</summary>
    public int? JamAfterNotes { get; set; }

    /// <summary>Positions whose cassette has been pulled out.</summary>
    public ISet<int> RemovedCassettes { get; } = new HashSet<int>();

    /// <summary>Positions whose picker fails: each note tried goes to the reject tray, and the dispense stops after three.</summary>
    public ISet<int> PickFailures { get; } = new HashSet<int>();

    /// <summary>The shutter does not open: the stacked notes are retained (counted as rejected).</summary>
    public bool ShutterJam { get; set; }

    /// <summary>The device stops answering: a dispense ends in a timeout and every picked note is unknown.</summary>
    public bool NoAnswer { get; set; }

    /// <summary>Time per note (through the <see cref="TimeProvider"/>), zero for instant.</summary>
    public TimeSpan NoteDelay { get; set; }

    /// <summary>The customer does not take the notes: they stay at the exit until retracted (or <see cref="SimulatedDispenserDevice.TakeNotes"/>).</summary>
    public bool NotesNotTaken { get; set; }

    /// <summary>How long the customer takes to pick the notes up (through the <see cref="TimeProvider"/>), zero for at once.</summary>
    public TimeSpan TakeDelay { get; set; }

    /// <summary>A retract fails: the notes stay at the exit.</summary>
    public bool RetractFails { get; set; }

    /// <summary>Clears every fault.</summary>
    public void Clear()
    {
        JamAfterNotes = null;
        RemovedCassettes.Clear();
        PickFailures.Clear();
        ShutterJam = false;
        NoAnswer = false;
        NoteDelay = TimeSpan.Zero;
        NotesNotTaken = false;
        TakeDelay = TimeSpan.Zero;
        RetractFails = false;
    }
}

/// <summary>
/// A dispenser in memory: physical cassettes with note counts, a reject tray and injectable faults.
/// It implements the vendor interface, so the framework's accounting runs above it exactly as above a
/// real driver. It has an exit sensor and a retract bin (<see cref="IPresentingDispenserDevice"/>), each of which a
/// test can take away with the <c>presenting</c> capability; by default the customer takes the notes at once.
/// </summary>
public sealed class SimulatedDispenserDevice : IPresentingDispenserDevice
{
    private const int PickRetries = 3;
    private readonly Lock _gate = new();
    private readonly Dictionary<int, int> _cassettes;
    private readonly Dictionary<int, (int Presented, int Rejected)> _counters = [];
    private readonly TimeProvider _time;
    private readonly string? _statePath;
    private readonly Dictionary<int, int> _atExit = [];
    private TaskCompletionSource _taken = NewTaken(completed: true);
    private bool _notesInTransport;

    /// <summary>Creates the device with the physical note count per position.</summary>
    /// <param name="notesPerPosition">Notes in each cassette when the device is new.</param>
    /// <param name="maxNotesPerDispense">Most notes per dispense.</param>
    /// <param name="timeProvider">Clock for the per-note delay.</param>
    /// <param name="faults">Faults to start with.</param>
    /// <param name="statePath">
    /// Optional file that plays the device's own memory: cassette contents and lifetime counters, written
    /// after every note, so they survive a crash of the process that drives the device (as a real
    /// dispenser's do). Loaded at start when it exists.
    /// </param>
    /// <param name="presenting">What the device can do at its exit; default: detects taken, retracts and counts.</param>
    public SimulatedDispenserDevice(
        IReadOnlyDictionary<int, int> notesPerPosition, int maxNotesPerDispense, TimeProvider timeProvider, SimulatedDispenserFaults? faults = null, string? statePath = null, PresentCapability? presenting = null)
    {
        ArgumentNullException.ThrowIfNull(notesPerPosition);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxNotesPerDispense);
        _cassettes = notesPerPosition.ToDictionary(p => p.Key, p => p.Value);
        _statePath = statePath;
        Presenting = presenting ?? new PresentCapability(DetectsTaken: true, CanRetract: true, CountsRetracted: true);
        LoadState();
        _time = timeProvider;
        Faults = faults ?? new SimulatedDispenserFaults();
        Info = new DispenserDeviceInfo("Simulated dispenser", _cassettes.Count == 0 ? 1 : _cassettes.Keys.Max(), maxNotesPerDispense, "sim-1.0");
        Status = new DispenserStatus("Dispenser");
        UpdateStatus(null);
    }

    /// <summary>The injectable faults; change them at any time.</summary>
    public SimulatedDispenserFaults Faults { get; }

    /// <inheritdoc />
    public DispenserDeviceInfo Info { get; }

    /// <inheritdoc />
    public DispenserStatus Status { get; }

    /// <summary>Notes in the reject tray.</summary>
    public int RejectTray { get; private set; }

    /// <summary>Notes that reached the customer, in total.</summary>
    public int PresentedTotal { get; private set; }

    /// <summary>Notes retracted from the exit into the retract bin, in total.</summary>
    public int RetractBin { get; private set; }

    /// <summary>Notes waiting at the exit.</summary>
    public int NotesAtExit
    {
        get
        {
            lock (_gate)
            {
                return _atExit.Values.Sum();
            }
        }
    }

    /// <inheritdoc />
    public PresentCapability Presenting { get; }

    /// <summary>The customer takes the notes waiting at the exit now.</summary>
    public void TakeNotes()
    {
        TaskCompletionSource taken;
        lock (_gate)
        {
            _atExit.Clear();
            SaveState();
            taken = _taken;
        }

        taken.TrySetResult();
    }

    /// <inheritdoc />
    public async Task WaitForTakenAsync(CancellationToken cancellationToken)
    {
        Task taken;
        lock (_gate)
        {
            taken = _taken.Task;
        }

        if (!taken.IsCompleted && !Faults.NotesNotTaken)
        {
            if (Faults.TakeDelay > TimeSpan.Zero)
            {
                await Task.Delay(Faults.TakeDelay, _time, cancellationToken);
            }

            TakeNotes();
        }

        await taken.WaitAsync(cancellationToken);
    }

    /// <inheritdoc />
    public Task<ExitState> ReadExitAsync(CancellationToken cancellationToken) =>
        Task.FromResult(!Presenting.DetectsTaken ? ExitState.Unknown : NotesAtExit > 0 ? ExitState.NotesPresent : ExitState.Empty);

    /// <inheritdoc />
    public Task<DeviceRetractResult> RetractAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!Presenting.CanRetract)
            {
                return Task.FromResult(new DeviceRetractResult(RetractCompletion.Failed, null, "SIM-NORETRACT", "This simulated dispenser has no retract path."));
            }

            if (Faults.RetractFails)
            {
                return Task.FromResult(new DeviceRetractResult(RetractCompletion.Failed, null, "SIM-RETRACT", "The retract failed; the notes are still at the exit."));
            }

            if (_atExit.Count == 0)
            {
                return Task.FromResult(new DeviceRetractResult(RetractCompletion.NothingToRetract, []));
            }

            List<PositionCount> retracted = [.. _atExit.OrderBy(p => p.Key).Select(p => new PositionCount(p.Key, p.Value))];
            RetractBin += retracted.Sum(r => r.Notes);
            _atExit.Clear();
            SaveState();
            return Task.FromResult(new DeviceRetractResult(RetractCompletion.Ok, Presenting.CountsRetracted ? retracted : null));
        }
    }

    /// <summary>Notes physically in a position's cassette.</summary>
    public int NotesAt(int position)
    {
        lock (_gate)
        {
            return _cassettes.GetValueOrDefault(position);
        }
    }

    /// <inheritdoc />
    public async Task<DeviceDispenseResult> DispenseAsync(IReadOnlyList<PositionCount> notesPerPosition, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(notesPerPosition);
        var invalid = Check(notesPerPosition);
        if (invalid is not null)
        {
            return invalid;
        }

        var movements = notesPerPosition.ToDictionary(p => p.Position, p => new PositionMovement(p.Position, 0, 0, 0));
        var stacked = 0;
        DispenseCompletion? fault = null;
        string? detail = null;
        foreach (var request in notesPerPosition)
        {
            for (var n = 0; n < request.Notes && fault is null; n++)
            {
                if (Faults.NoteDelay > TimeSpan.Zero)
                {
                    await Task.Delay(Faults.NoteDelay, _time, CancellationToken.None);
                }

                (fault, detail) = PickOne(request.Position, stacked, movements);
                if (fault is null)
                {
                    stacked++;
                }
            }

            if (fault is not null)
            {
                break;
            }
        }

        lock (_gate)
        {
            return Finish(fault, detail, movements);
        }
    }

    /// <inheritdoc />
    public Task<DeviceDispenseResult?> RefreshStatusAsync(CancellationToken cancellationToken)
    {
        UpdateStatus(Faults.NoAnswer ? "no answer" : null);
        return Task.FromResult<DeviceDispenseResult?>(null);
    }

    /// <inheritdoc />
    public Task<DeviceCounters?> ReadCountersAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult<DeviceCounters?>(new DeviceCounters(
                [.. _cassettes.Keys.Order().Select(p => new PositionMovement(p, _counters.GetValueOrDefault(p).Presented, _counters.GetValueOrDefault(p).Rejected, 0))]));
        }
    }

    /// <inheritdoc />
    public Task<DeviceDispenseResult> ResetAsync(CancellationToken cancellationToken)
    {
        if (Faults.NoAnswer)
        {
            UpdateStatus("no answer to reset");
            return Task.FromResult(new DeviceDispenseResult(DispenseCompletion.Timeout, [], "SIM-TIMEOUT", "The simulated dispenser did not answer the reset."));
        }

        lock (_gate)
        {
            _notesInTransport = false;
        }

        UpdateStatus(null);
        return Task.FromResult(new DeviceDispenseResult(DispenseCompletion.Ok, []));
    }

    private DeviceDispenseResult? Check(IReadOnlyList<PositionCount> request)
    {
        foreach (var item in request)
        {
            if (!_cassettes.ContainsKey(item.Position) || item.Notes <= 0)
            {
                return new DeviceDispenseResult(DispenseCompletion.InvalidRequest, [], "SIM-BADREQ", $"Position {item.Position} with {item.Notes} notes is not a valid request.");
            }
        }

        if (request.Sum(r => r.Notes) > Info.MaxNotesPerDispense)
        {
            return new DeviceDispenseResult(DispenseCompletion.InvalidRequest, [], "SIM-BADREQ", $"More than {Info.MaxNotesPerDispense} notes requested.");
        }

        if (_notesInTransport)
        {
            return new DeviceDispenseResult(DispenseCompletion.HardwareError, [], "SIM-TRANSPORT", "Notes are left in the transport; reset first.");
        }

        return null;
    }

    /// <summary>Moves one note from a cassette toward the stacker, or reports the fault that stops the dispense.</summary>
    private (DispenseCompletion? Fault, string? Detail) PickOne(int position, int stackedSoFar, Dictionary<int, PositionMovement> movements)
    {
        lock (_gate)
        {
            var moved = movements[position];
            if (Faults.NoAnswer)
            {
                // The mechanism keeps running but nothing reports back: the note's fate is unknown.
                _cassettes[position]--;
                movements[position] = moved with { Unknown = moved.Unknown + 1 };
                Record(position, 1, 0);
                return (null, null);
            }

            if (Faults.RemovedCassettes.Contains(position))
            {
                return (DispenseCompletion.CassetteMissing, $"Cassette at position {position} is missing.");
            }

            if (_cassettes[position] <= 0)
            {
                return (DispenseCompletion.CassetteEmpty, $"Cassette at position {position} is empty.");
            }

            if (Faults.PickFailures.Contains(position))
            {
                var rejects = Math.Min(PickRetries, _cassettes[position]);
                _cassettes[position] -= rejects;
                RejectTray += rejects;
                Record(position, 0, rejects);
                movements[position] = moved with { Rejected = moved.Rejected + rejects };
                return (DispenseCompletion.PickFailure, $"Pick failure at position {position}: {rejects} notes rejected.");
            }

            _cassettes[position]--;
            if (Faults.JamAfterNotes is { } limit && stackedSoFar >= limit)
            {
                // The jammed note stays in the transport and ends in the reject tray at the next reset.
                _notesInTransport = true;
                RejectTray++;
                Record(position, 0, 1);
                movements[position] = moved with { Rejected = moved.Rejected + 1 };
                return (DispenseCompletion.Jam, $"Note jam in the transport after {stackedSoFar} notes.");
            }

            movements[position] = moved with { Presented = moved.Presented + 1 };
            Record(position, 1, 0);
            return (null, null);
        }
    }

    private DeviceDispenseResult Finish(DispenseCompletion? fault, string? detail, Dictionary<int, PositionMovement> movements)
    {
        var list = movements.Values.OrderBy(m => m.Position).ToList();
        if (Faults.NoAnswer)
        {
            UpdateStatus("no answer");
            return new DeviceDispenseResult(DispenseCompletion.Timeout, list, "SIM-TIMEOUT", "The simulated dispenser stopped answering; every picked note is unknown.");
        }

        if (Faults.ShutterJam && fault is null)
        {
            // Notes were stacked but never reached the customer: retained, counted as rejected.
            foreach (var m in list)
            {
                Record(m.Position, -m.Presented, m.Presented);
            }

            list = [.. list.Select(m => m with { Presented = 0, Rejected = m.Rejected + m.Presented })];
            RejectTray += list.Sum(m => m.Rejected);
            fault = DispenseCompletion.ShutterFault;
            detail = "The shutter did not open; the notes were retained.";
        }

        PresentedTotal += list.Sum(m => m.Presented);
        // The notes wait at the exit until taken; a device without an exit sensor never knows, so they count as taken.
        // Notes a previous customer left at the exit were taken by now (a real device would refuse to dispense first).
        _atExit.Clear();
        if (Presenting.DetectsTaken)
        {
            foreach (var m in list.Where(m => m.Presented > 0))
            {
                _atExit[m.Position] = m.Presented;
            }
        }

        _taken.TrySetResult();
        _taken = NewTaken(completed: _atExit.Count == 0);
        SaveState();
        UpdateStatus(detail);
        return new DeviceDispenseResult(fault ?? DispenseCompletion.Ok, list, fault is null ? null : $"SIM-{fault}", detail);
    }

    private static TaskCompletionSource NewTaken(bool completed)
    {
        var taken = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (completed)
        {
            taken.SetResult();
        }

        return taken;
    }

    /// <summary>Counts notes in the device's lifetime counters and persists its memory.</summary>
    private void Record(int position, int presented, int rejected)
    {
        var (p, r) = _counters.GetValueOrDefault(position);
        _counters[position] = (p + presented, r + rejected);
        SaveState();
    }

    private void SaveState()
    {
        if (_statePath is null)
        {
            return;
        }

        var state = new DeviceMemory(
            _cassettes.ToDictionary(c => c.Key, c => c.Value),
            _counters.ToDictionary(c => c.Key, c => c.Value.Presented),
            _counters.ToDictionary(c => c.Key, c => c.Value.Rejected),
            RejectTray,
            _atExit.ToDictionary(c => c.Key, c => c.Value),
            RetractBin);
        var temporary = _statePath + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            JsonSerializer.Serialize(stream, state);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, _statePath, overwrite: true);
    }

    private void LoadState()
    {
        if (_statePath is null || !File.Exists(_statePath))
        {
            return;
        }

        var state = JsonSerializer.Deserialize<DeviceMemory>(File.ReadAllText(_statePath))
            ?? throw new ConfigurationException("Devices:Dispenser:Simulated:StateFile", $"{_statePath} is empty");
        foreach (var (position, notes) in state.Cassettes)
        {
            _cassettes[position] = notes;
        }

        foreach (var position in state.Presented.Keys.Union(state.Rejected.Keys))
        {
            _counters[position] = (state.Presented.GetValueOrDefault(position), state.Rejected.GetValueOrDefault(position));
        }

        RejectTray = state.RejectTray;
        RetractBin = state.RetractBin;
        foreach (var (position, notes) in state.AtExit ?? [])
        {
            _atExit[position] = notes;
        }

        _taken = NewTaken(completed: _atExit.Count == 0);
    }

    private void UpdateStatus(string? lastFault)
    {
        Status.Device = Faults.NoAnswer ? DeviceState.Offline : DeviceState.Online;
        Status.Transport = _notesInTransport ? TransportState.NotEmpty : TransportState.Empty;
        Status.Shutter = Faults.ShutterJam ? ShutterState.Jammed : ShutterState.Closed;
        Status.Dispenser = _notesInTransport || Faults.ShutterJam || Faults.NoAnswer ? DispenserCondition.Stop
            : Faults.RemovedCassettes.Count > 0 || Faults.PickFailures.Count > 0 ? DispenserCondition.Attention
            : DispenserCondition.Ok;
        if (lastFault is not null)
        {
            Status.LastFault = lastFault;
        }
    }
}

/// <summary>What a simulated dispenser remembers across restarts of the process driving it.</summary>
internal sealed record DeviceMemory(
    Dictionary<int, int> Cassettes, Dictionary<int, int> Presented, Dictionary<int, int> Rejected, int RejectTray, Dictionary<int, int>? AtExit = null, int RetractBin = 0);
