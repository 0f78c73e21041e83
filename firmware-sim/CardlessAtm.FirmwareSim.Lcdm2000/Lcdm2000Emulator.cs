using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.FirmwareSim.Lcdm2000;

/// <summary>
/// Simulated firmware of a Puloon LCDM-2000 behind a pseudo-terminal. It answers byte for byte as
/// the device does (EOT/SOH framing, ACK/NAK, BCC), keeps cassette counts and the reject tray as
/// state, takes time per note, and lets a test or a developer inject faults. Its framing is written
/// independently of the driver's, so that one cannot hide a bug of the other.
/// </summary>
public sealed partial class Lcdm2000Emulator : IDisposable
{
    private const byte Soh = 0x01, Stx = 0x02, Etx = 0x03, Eot = 0x04, Ack = 0x06, Nak = 0x15, Id = 0x50;

    private readonly Lcdm2000EmulatorOptions _options;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly ManualResetEventSlim _stopping = new(false);
    private readonly List<byte[]> _commands = [];
    private readonly List<byte> _input = [];
    private PseudoTerminal? _pty;
    private Thread? _thread;

    // Mechanism state (guarded by _gate).
    private int _upper, _lower, _rejectTray, _notesInPath, _presented;
    private bool _upperPresent = true, _lowerPresent = true, _rejectTrayPresent = true;
    private ushort _pathSensors; // wire layout: low byte SENSOR0 bits, high byte SENSOR1 bits
    private byte _pathError = 0x35;
    private byte _lastError = 0x30;

    // Faults (guarded by _gate).
    private (int AfterNotes, EmulatedJamPoint At)? _jam;
    private (int AfterNotes, byte Code)? _error;
    private readonly SortedSet<int> _doubleNotes = [];
    private byte? _purgeError;
    private int _nakCommands, _corruptResponses, _truncateResponses, _oversizeResponses, _ignoreCommands, _ackWithoutResponse;
    private bool _mute;
    private (int Count, TimeSpan Delay) _lateNaks;
    private byte[]? _garbageBeforeAck, _garbageBeforeResponse;

    /// <summary>Creates the emulator (nothing runs until <see cref="Start"/>).</summary>
    /// <exception cref="ArgumentException">An option is invalid (the message names it).</exception>
    public Lcdm2000Emulator(Lcdm2000EmulatorOptions? options = null, ILogger<Lcdm2000Emulator>? logger = null)
    {
        _options = options ?? new Lcdm2000EmulatorOptions();
        var errors = _options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid LCDM-2000 emulator options: " + string.Join(" ", errors), nameof(options));
        }

        _logger = logger ?? NullLogger<Lcdm2000Emulator>.Instance;
        _upper = _options.UpperNotes;
        _lower = _options.LowerNotes;
    }

    /// <summary>The pty slave path the driver opens (valid after <see cref="Start"/>).</summary>
    public string SlavePath => _pty?.SlavePath ?? throw new InvalidOperationException("The emulator is not started.");

    /// <summary>The stable link to the slave if <see cref="Lcdm2000EmulatorOptions.LinkPath"/> was set, else the slave path.</summary>
    public string DevicePath => _options.LinkPath ?? SlavePath;

    /// <summary>Whether the firmware loop runs.</summary>
    public bool IsRunning => _thread is { IsAlive: true };

    /// <summary>Notes in the upper cassette.</summary>
    public int UpperCount { get { lock (_gate) { return _upper; } } }

    /// <summary>Notes in the lower cassette.</summary>
    public int LowerCount { get { lock (_gate) { return _lower; } } }

    /// <summary>Notes in the reject tray.</summary>
    public int RejectTrayCount { get { lock (_gate) { return _rejectTray; } } }

    /// <summary>Notes left in the transport path (after a jam, until a purge).</summary>
    public int NotesInPath { get { lock (_gate) { return _notesInPath; } } }

    /// <summary>Notes that left through the exit since start.</summary>
    public int PresentedCount { get { lock (_gate) { return _presented; } } }

    /// <summary>Every well-formed command frame received, in order (repeats included).</summary>
    public IReadOnlyList<byte[]> ReceivedCommands { get { lock (_gate) { return [.. _commands]; } } }

    /// <summary>Starts the firmware on a new pseudo-terminal.</summary>
    public void Start()
    {
        if (_thread is not null)
        {
            throw new InvalidOperationException("The emulator is already started.");
        }

        _pty = PseudoTerminal.Open(_options.LinkPath);

        _stopping.Reset();
        _thread = new Thread(Run) { IsBackground = true, Name = "LCDM-2000 emulator" };
        _thread.Start();
        LogStarted(_logger, _pty.SlavePath);
    }

    /// <summary>Stops the firmware and closes the pseudo-terminal.</summary>
    public void Stop()
    {
        if (_thread is null)
        {
            return;
        }

        _stopping.Set();
        _thread.Join();
        _thread = null;
        _pty?.Dispose(); // also removes the link
        _pty = null;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        Stop();
        _stopping.Dispose();
    }

    // ---- State changes -------------------------------------------------------------------------

    /// <summary>Sets the notes in a cassette (1 = upper, 2 = lower); 0 makes it empty.</summary>
    public void SetCassetteNotes(int position, int notes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(notes);
        lock (_gate)
        {
            _ = position switch
            {
                1 => _upper = notes,
                2 => _lower = notes,
                _ => throw new ArgumentOutOfRangeException(nameof(position), position, "Position is 1 (upper) or 2 (lower)."),
            };
        }
    }

    /// <summary>Removes (false) or inserts (true) a cassette.</summary>
    public void SetCassettePresent(int position, bool present)
    {
        lock (_gate)
        {
            _ = position switch
            {
                1 => _upperPresent = present,
                2 => _lowerPresent = present,
                _ => throw new ArgumentOutOfRangeException(nameof(position), position, "Position is 1 (upper) or 2 (lower)."),
            };
        }
    }

    /// <summary>Removes (false) or inserts (true) the reject tray; inserting empties it.</summary>
    public void SetRejectTrayPresent(bool present)
    {
        lock (_gate)
        {
            _rejectTrayPresent = present;
            if (present)
            {
                _rejectTray = 0;
            }
        }
    }

    // ---- Faults --------------------------------------------------------------------------------

    /// <summary>The next dispense jams after <paramref name="afterNotes"/> notes have exited; the next note sticks at <paramref name="at"/>.</summary>
    public void InjectJam(int afterNotes, EmulatedJamPoint at = EmulatedJamPoint.Exit)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(afterNotes);
        lock (_gate)
        {
            _jam = (afterNotes, at);
        }
    }

    /// <summary>In the next dispense, pick number <paramref name="pickNumber"/> (1-based, per command) takes two notes stuck together: both go to the reject tray.</summary>
    public void InjectDoubleNote(int pickNumber)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pickNumber, 1);
        lock (_gate)
        {
            _doubleNotes.Add(pickNumber);
        }
    }

    /// <summary>True while an injected jam waits for the dispense it stops (a front panel reads its switch back from this).</summary>
    public bool JamPending { get { lock (_gate) { return _jam is not null; } } }

    /// <summary>True while an injected double note waits for its pick.</summary>
    public bool DoubleNotePending { get { lock (_gate) { return _doubleNotes.Count > 0; } } }

    /// <summary>True while the device is muted (<see cref="SetMute"/>).</summary>
    public bool IsMuted { get { lock (_gate) { return _mute; } } }

    /// <summary>Withdraws an injected jam that no dispense has met yet.</summary>
    public void ClearJam()
    {
        lock (_gate)
        {
            _jam = null;
        }
    }

    /// <summary>Withdraws injected double notes that no pick has met yet.</summary>
    public void ClearDoubleNotes()
    {
        lock (_gate)
        {
            _doubleNotes.Clear();
        }
    }

    /// <summary>
    /// The next dispense stops with the raw error <paramref name="code"/> after <paramref name="afterNotes"/>
    /// notes have exited; the note being moved stays in the path (for any code from the public table, or an unknown one).
    /// </summary>
    public void InjectError(byte code, int afterNotes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(afterNotes);
        lock (_gate)
        {
            _error = (afterNotes, code);
        }
    }

    /// <summary>The next purge fails with "purge error (jam at DIV sensor)" (0x4E) and leaves the path blocked.</summary>
    public void InjectPurgeError()
    {
        lock (_gate)
        {
            _purgeError = 0x4E;
        }
    }

    /// <summary>The next <paramref name="count"/> command frames are refused with NAK (as if their BCC were bad).</summary>
    public void NakNextCommands(int count = 1) => Set(ref _nakCommands, count);

    /// <summary>
    /// The next <paramref name="count"/> command frames are refused with NAK, but only after <paramref name="delay"/>:
    /// later than the host's ACK window, while the host already waits for the response (a slow or busy unit).
    /// </summary>
    public void NakNextCommandsLate(TimeSpan delay, int count = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        lock (_gate)
        {
            _lateNaks = (count, delay);
        }
    }

    /// <summary>The next <paramref name="count"/> response frames are sent with a wrong BCC.</summary>
    public void CorruptNextResponses(int count = 1) => Set(ref _corruptResponses, count);

    /// <summary>The next <paramref name="count"/> response frames stop half-way (the rest never comes).</summary>
    public void TruncateNextResponses(int count = 1) => Set(ref _truncateResponses, count);

    /// <summary>The next <paramref name="count"/> response frames carry three extra bytes before ETX (BCC correct for the longer frame).</summary>
    public void OversizeNextResponses(int count = 1) => Set(ref _oversizeResponses, count);

    /// <summary>The next <paramref name="count"/> command frames get no answer at all (not run).</summary>
    public void IgnoreNextCommands(int count = 1) => Set(ref _ignoreCommands, count);

    /// <summary>The next <paramref name="count"/> commands are acknowledged and run, but their response is never sent.</summary>
    public void AckWithoutResponse(int count = 1) => Set(ref _ackWithoutResponse, count);

    /// <summary>Mute (true): the device answers nothing until unmuted (a cut cable, a powered-off unit).</summary>
    public void SetMute(bool mute)
    {
        lock (_gate)
        {
            _mute = mute;
        }
    }

    /// <summary>Writes <paramref name="bytes"/> once at the given point of the next exchange (line noise).</summary>
    public void InjectGarbage(byte[] bytes, GarbagePoint where)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        lock (_gate)
        {
            if (where == GarbagePoint.BeforeAck)
            {
                _garbageBeforeAck = [.. bytes];
            }
            else
            {
                _garbageBeforeResponse = [.. bytes];
            }
        }
    }

    private void Set(ref int field, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        lock (_gate)
        {
            field = count;
        }
    }

    private TimeSpan? TakeLateNak()
    {
        lock (_gate)
        {
            if (_lateNaks.Count <= 0)
            {
                return null;
            }

            _lateNaks.Count--;
            return _lateNaks.Delay;
        }
    }

    private bool Take(ref int field)
    {
        lock (_gate)
        {
            if (field <= 0)
            {
                return false;
            }

            field--;
            return true;
        }
    }

    private byte[]? TakeGarbage(ref byte[]? field)
    {
        lock (_gate)
        {
            var bytes = field;
            field = null;
            return bytes;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "LCDM-2000 emulator listening on {Path}")]
    private static partial void LogStarted(ILogger logger, string path);
}
