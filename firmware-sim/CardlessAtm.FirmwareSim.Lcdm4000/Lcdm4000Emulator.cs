using System.ComponentModel;
using CardlessAtm.FirmwareSim.Lcdm2000;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.FirmwareSim.Lcdm4000;

/// <summary>
/// Simulated firmware of a Puloon LCDM-4000 behind a pseudo-terminal: EOT/SOH framing with id 0x30, ACK/NAK, BCC,
/// the EOT after the host's ACK, counts as 0x20 + n, four cassettes, a reject tray, LAST_STATUS, and fault injection,
/// power loss mid-dispense included. Its framing is written apart from the driver's, so that one cannot hide a bug of the other.
/// </summary>
public sealed partial class Lcdm4000Emulator : IDisposable
{
    private const byte Soh = 0x01, Stx = 0x02, Etx = 0x03, Eot = 0x04, Ack = 0x06, Nak = 0x15, Id = 0x30, Good = 0x20;

    private readonly Lcdm4000EmulatorOptions _options;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly ManualResetEventSlim _stopping = new(false);
    private readonly List<byte[]> _commands = [];
    private readonly List<byte> _input = [];
    private readonly byte[] _readBuffer = new byte[256];
    private PseudoTerminal? _pty;
    private Thread? _thread;

    // Mechanism state (guarded by _gate).
    private readonly int[] _cassette = new int[4];
    private readonly bool[] _present = [true, true, true, true];
    private readonly int[] _inPath = new int[4];
    private bool _rejectTrayPresent = true;
    private int _rejectTray, _presented;
    private byte _pathError = 0x2B;
    private byte[] _lastOperation = [0x20, 0x20, 0x30, .. Triples(new int[4], new int[4], [true, true, true, true])]; // LAST_CMD ERROR MISS + triples

    // Faults (guarded by _gate).
    private (int AfterNotes, EmulatedJamPoint4000 At)? _jam;
    private (int AfterNotes, byte Code)? _error;
    private int? _powerLossAfter;
    private bool _poweredOff;
    private readonly SortedSet<int> _doubleNotes = [];
    private bool _purgeError;
    private int _nakCommands, _corruptResponses, _truncateResponses, _oversizeResponses, _ignoreCommands, _ackWithoutResponse;
    private bool _mute;
    private (int Count, TimeSpan Delay) _lateNaks;
    private byte[]? _garbageBeforeAck, _garbageBeforeResponse;

    /// <summary>Creates the emulator (nothing runs until <see cref="Start"/>).</summary>
    /// <exception cref="ArgumentException">An option is invalid (the message names it).</exception>
    public Lcdm4000Emulator(Lcdm4000EmulatorOptions? options = null, ILogger<Lcdm4000Emulator>? logger = null)
    {
        _options = options ?? new Lcdm4000EmulatorOptions();
        var errors = _options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid LCDM-4000 emulator options: " + string.Join(" ", errors), nameof(options));
        }

        _logger = logger ?? NullLogger<Lcdm4000Emulator>.Instance;
        _options.Notes.CopyTo(_cassette, 0);
    }

    /// <summary>The pty slave path the driver opens (valid after <see cref="Start"/>).</summary>
    public string SlavePath => _pty?.SlavePath ?? throw new InvalidOperationException("The emulator is not started.");

    /// <summary>The stable link if <see cref="Lcdm4000EmulatorOptions.LinkPath"/> was set, else the slave path.</summary>
    public string DevicePath => _options.LinkPath ?? SlavePath;

    /// <summary>Notes in cassette <paramref name="position"/> (1..4).</summary>
    public int CassetteCount(int position)
    {
        lock (_gate)
        {
            return _cassette[Index(position)];
        }
    }

    /// <summary>Notes in the reject tray.</summary>
    public int RejectTrayCount { get { lock (_gate) { return _rejectTray; } } }

    /// <summary>Notes left in the transport path (after a jam, until a purge).</summary>
    public int NotesInPath { get { lock (_gate) { return _inPath.Sum(); } } }

    /// <summary>Notes that left through the exit since start.</summary>
    public int PresentedCount { get { lock (_gate) { return _presented; } } }

    /// <summary>Whether an injected power loss has switched the unit off (until <see cref="PowerOn"/>).</summary>
    public bool IsPoweredOff { get { lock (_gate) { return _poweredOff; } } }

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
        _thread = new Thread(Run) { IsBackground = true, Name = "LCDM-4000 emulator" };
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

    /// <summary>Sets the notes in a cassette (1..4); 0 makes it empty.</summary>
    public void SetCassetteNotes(int position, int notes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(notes);
        lock (_gate)
        {
            _cassette[Index(position)] = notes;
        }
    }

    /// <summary>Removes (false) or inserts (true) a cassette.</summary>
    public void SetCassettePresent(int position, bool present)
    {
        lock (_gate)
        {
            _present[Index(position)] = present;
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

    /// <summary>The next dispense jams after <paramref name="afterNotes"/> notes have exited; the next note sticks in the path.</summary>
    public void InjectJam(int afterNotes, EmulatedJamPoint4000 at = EmulatedJamPoint4000.EjectToExit)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(afterNotes);
        lock (_gate)
        {
            _jam = (afterNotes, at);
        }
    }

    /// <summary>In the next dispense, pick number <paramref name="pickNumber"/> (1-based, per command) takes two notes stuck together: both are rejected.</summary>
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

    /// <summary>The next dispense stops with the raw error <paramref name="code"/> after <paramref name="afterNotes"/> notes have exited.</summary>
    public void InjectError(byte code, int afterNotes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(afterNotes);
        lock (_gate)
        {
            _error = (afterNotes, code);
        }
    }

    /// <summary>
    /// The unit loses power in the next dispense once <paramref name="afterNotes"/> notes have exited: it answers nothing
    /// until <see cref="PowerOn"/>; then LAST_STATUS reports what that dispense moved.
    /// </summary>
    public void InjectPowerLoss(int afterNotes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(afterNotes);
        lock (_gate)
        {
            _powerLossAfter = afterNotes;
        }
    }

    /// <summary>Power comes back: the unit answers again, keeping the last operation's result for LAST_STATUS.</summary>
    public void PowerOn()
    {
        lock (_gate)
        {
            _poweredOff = false;
        }
    }

    /// <summary>The next purge fails with "abnormal termination during purge" (0x2E) and leaves the path blocked.</summary>
    public void InjectPurgeError()
    {
        lock (_gate)
        {
            _purgeError = true;
        }
    }

    /// <summary>The next <paramref name="count"/> command frames are refused with NAK.</summary>
    public void NakNextCommands(int count = 1) => Set(ref _nakCommands, count);

    /// <summary>The next <paramref name="count"/> command frames are refused with NAK after <paramref name="delay"/> (past the host's ACK window).</summary>
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

    /// <summary>The next <paramref name="count"/> response frames stop half-way.</summary>
    public void TruncateNextResponses(int count = 1) => Set(ref _truncateResponses, count);

    /// <summary>The next <paramref name="count"/> response frames carry three extra bytes before ETX (BCC correct for the longer frame).</summary>
    public void OversizeNextResponses(int count = 1) => Set(ref _oversizeResponses, count);

    /// <summary>The next <paramref name="count"/> command frames get no answer at all (not run).</summary>
    public void IgnoreNextCommands(int count = 1) => Set(ref _ignoreCommands, count);

    /// <summary>The next <paramref name="count"/> commands are acknowledged and run, but their response is never sent.</summary>
    public void AckWithoutResponse(int count = 1) => Set(ref _ackWithoutResponse, count);

    /// <summary>Mute (true): the device answers nothing until unmuted.</summary>
    public void SetMute(bool mute)
    {
        lock (_gate)
        {
            _mute = mute;
        }
    }

    /// <summary>Writes <paramref name="bytes"/> once at the given point of the next exchange.</summary>
    public void InjectGarbage(byte[] bytes, GarbagePoint4000 where)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        lock (_gate)
        {
            if (where == GarbagePoint4000.BeforeAck)
            {
                _garbageBeforeAck = [.. bytes];
            }
            else
            {
                _garbageBeforeResponse = [.. bytes];
            }
        }
    }

    // ---- Firmware loop -------------------------------------------------------------------------

    private void Run()
    {
        var lastByte = Environment.TickCount64;
        while (!_stopping.IsSet)
        {
            int n;
            try
            {
                n = _pty!.Read(_readBuffer, 50);
            }
            catch (Win32Exception ex)
            {
                LogLoopFailed(_logger, ex.Message);
                return;
            }

            if (n == 0)
            {
                if (_input.Count > 0 && Environment.TickCount64 - lastByte > 500)
                {
                    _input.Clear(); // a partial frame that stopped arriving is line noise
                }

                continue;
            }

            lastByte = Environment.TickCount64;
            _input.AddRange(_readBuffer.AsSpan(0, n));
            ProcessInput();
        }
    }

    private void ProcessInput()
    {
        while (_input.Count > 0 && !_stopping.IsSet)
        {
            var start = _input.IndexOf(Eot);
            if (start < 0)
            {
                _input.Clear();
                return;
            }

            _input.RemoveRange(0, start);
            if (_input.Count < 4)
            {
                return;
            }

            if (_input[1] != Id || _input[2] != Stx)
            {
                _input.RemoveAt(0);
                continue;
            }

            int length;
            if (_input[3] == 0x52 || _input[3] == 0x53)
            {
                length = 6 + 15;
            }
            else
            {
                var etx = _input.IndexOf(Etx, 4);
                if (etx < 0 || etx + 1 >= _input.Count)
                {
                    return;
                }

                length = etx + 2;
            }

            if (_input.Count < length)
            {
                return;
            }

            var frame = _input.GetRange(0, length).ToArray();
            _input.RemoveRange(0, length);
            HandleCommand(frame);
        }
    }

    private void HandleCommand(byte[] frame)
    {
        bool silent;
        lock (_gate)
        {
            silent = _mute || _poweredOff;
        }

        if (silent || Take(ref _ignoreCommands))
        {
            LogIgnored(_logger, frame[3]);
            return;
        }

        if (frame[^2] != Etx || Xor(frame.AsSpan(0, frame.Length - 1)) != frame[^1])
        {
            Send([Nak]);
            return;
        }

        lock (_gate)
        {
            _commands.Add(frame);
        }

        if (Take(ref _nakCommands))
        {
            Send([Nak]);
            return;
        }

        if (TakeLateNak() is { } late)
        {
            Delay(late);
            Send([Nak]);
            return;
        }

        if (TakeGarbage(ref _garbageBeforeAck) is { } noise)
        {
            Send(noise);
        }

        Send([Ack]);
        var data = Execute(frame[3], frame.AsSpan(4, frame.Length - 6).ToArray());
        if (data is null || Take(ref _ackWithoutResponse))
        {
            return; // reset (no response), power lost, or the withheld-response fault
        }

        SendResponse(BuildResponse(frame[3], data));
    }

    private void SendResponse(byte[] response)
    {
        for (var attempt = 0; attempt <= _options.ResponseRepeats && !_stopping.IsSet; attempt++)
        {
            if (TakeGarbage(ref _garbageBeforeResponse) is { } noise)
            {
                Send(noise);
            }

            var bytes = response;
            if (Take(ref _corruptResponses))
            {
                bytes = [.. response];
                bytes[^1] ^= 0x5A;
            }
            else if (Take(ref _truncateResponses))
            {
                bytes = response[..(response.Length / 2)];
            }
            else if (Take(ref _oversizeResponses))
            {
                bytes = BuildResponse(response[3], [.. response[4..^2], 0x20, 0x20, 0x20]);
            }

            Send(bytes);
            var answer = WaitForHost();
            if (answer == Ack)
            {
                Send([Eot]); // the LCDM-4000 closes the exchange
                return;
            }

            if (answer != Nak)
            {
                return; // silence, or the host has moved on
            }
        }
    }

    /// <summary>The host's ACK/NAK to a response; 0 for silence. A new command is left in the input.</summary>
    private byte WaitForHost() => PuloonHostAnswer.Wait(_pty!, _input, _readBuffer, _options.HostAckTimeout, _stopping);

    private byte[]? Execute(byte command, byte[] data)
    {
        switch (command)
        {
            case 0x44:
                return null; // reset: no response
            case 0x50:
                return StatusData();
            case 0x51:
                return Purge();
            case 0x52 or 0x53:
                return Dispense(command, data);
            case 0x55:
                lock (_gate)
                {
                    return [.. _lastOperation];
                }

            default:
                return [0x50]; // abnormal command
        }
    }

    private byte[] StatusData()
    {
        lock (_gate)
        {
            byte disp = 0;
            if (_inPath.Sum() > 0)
            {
                disp |= _pathError switch { 0x22 => 0x01, 0x23 => 0x04, 0x24 or 0x25 => 0x08, _ => 0x04 };
            }

            var data = new List<byte> { Good, disp };
            for (var i = 0; i < 4; i++)
            {
                var stat = (byte)((_present[i] ? 0x04 : 0) | (_present[i] && _cassette[i] < _options.NearEndThreshold ? 0x08 : 0));
                data.AddRange([stat, _present[i] ? (byte)(0x31 + i) : (byte)0x30, 0x20, 0x20]);
            }

            return [.. data];
        }
    }

    private byte[] Purge()
    {
        Delay(_options.PurgeTime);
        lock (_gate)
        {
            var rejected = new int[4];
            byte error = Good;
            if (_purgeError)
            {
                _purgeError = false;
                error = 0x2E;
            }
            else if (!_rejectTrayPresent)
            {
                error = 0x46;
            }
            else
            {
                for (var i = 0; i < 4; i++)
                {
                    rejected[i] = _inPath[i];
                    _rejectTray += _inPath[i];
                    _inPath[i] = 0;
                }
            }

            byte[] answer = [error, 0x30, .. Triples(new int[4], rejected, _present)];
            _lastOperation = [0x51, .. answer];
            return answer;
        }
    }

    /// <summary>Dispense (0x52) or test dispense (0x53); null when power is lost mid-way (no answer ever comes).</summary>
    private byte[]? Dispense(byte command, byte[] data)
    {
        var test = command == 0x53;
        var asked = new int[4];
        var valid = data.Length == 15;
        for (var i = 0; i < 4 && valid; i++)
        {
            asked[i] = data[i] - 0x20;
            valid = data[i] >= 0x20;
        }

        var exited = new int[4];
        var rejected = new int[4];
        byte error = Good;
        lock (_gate)
        {
            if (!valid || asked.Sum() == 0 || asked.Sum() > _options.MaxNotesPerCommand)
            {
                error = 0x51;
            }
            else if (!_rejectTrayPresent)
            {
                error = 0x46;
            }
            else if (Enumerable.Range(0, 4).Any(i => asked[i] > 0 && !_present[i]))
            {
                error = 0x44;
            }
            else if (_inPath.Sum() > 0)
            {
                error = 0x2B; // notes on the path before the pick-up
            }
        }

        if (error == Good)
        {
            Delay(_options.StartDelay);
            error = Move(asked, exited, rejected, test);
        }

        if (error == 0xFF)
        {
            return null; // power lost: _lastOperation already holds what moved
        }

        lock (_gate)
        {
            byte[] answer = [error, 0x30, .. Triples(exited, rejected, _present), .. Enumerable.Repeat((byte)0x20, 9)];
            _lastOperation = [command, error, 0x30, .. Triples(exited, rejected, _present)];
            return answer;
        }
    }

    /// <summary>Moves the notes; returns the error byte, or 0xFF when power was lost.</summary>
    private byte Move(int[] asked, int[] exited, int[] rejected, bool test)
    {
        var exitedInCommand = 0;
        var rejectedInCommand = 0;
        var pick = 0;
        for (var i = 0; i < 4; i++)
        {
            while ((test ? rejected[i] : exited[i]) < asked[i])
            {
                lock (_gate)
                {
                    if (_powerLossAfter is { } after && after == exitedInCommand)
                    {
                        _powerLossAfter = null;
                        _poweredOff = true;
                        _lastOperation = [(byte)(test ? 0x53 : 0x52), Good, 0x30, .. Triples(exited, rejected, _present)];
                        LogPowerLost(_logger, exitedInCommand);
                        return 0xFF;
                    }

                    if (_error is { } injected && injected.AfterNotes == exitedInCommand)
                    {
                        _error = null;
                        if (injected.Code is 0x22 or 0x23 or 0x24 or 0x25 or 0x29 or 0x2A && _cassette[i] > 0)
                        {
                            _cassette[i]--;
                            _inPath[i]++;
                            _pathError = injected.Code;
                        }

                        return injected.Code;
                    }

                    if (_jam is { } jam && jam.AfterNotes == exitedInCommand)
                    {
                        _jam = null;
                        var code = jam.At switch
                        {
                            EmulatedJamPoint4000.CheckToDivert => (byte)0x22,
                            EmulatedJamPoint4000.DivertToEject => (byte)0x23,
                            EmulatedJamPoint4000.Exit => (byte)0x25,
                            _ => (byte)0x24,
                        };
                        if (_cassette[i] > 0)
                        {
                            _cassette[i]--;
                            _inPath[i]++;
                            _pathError = code;
                        }

                        return code;
                    }

                    if (_cassette[i] == 0)
                    {
                        return 0x21; // pick-up error: the cassette gives no note
                    }

                    pick++;
                    _cassette[i]--;
                    if (test)
                    {
                        rejected[i]++;
                        _rejectTray++;
                    }
                    else if (_doubleNotes.Remove(pick))
                    {
                        var stuck = _cassette[i] > 0 ? 1 : 0;
                        _cassette[i] -= stuck;
                        rejected[i] += 1 + stuck;
                        _rejectTray += 1 + stuck;
                        rejectedInCommand += 1 + stuck;
                        if (rejectedInCommand > _options.MaxRejectsPerCommand)
                        {
                            return 0x2D;
                        }
                    }
                    else
                    {
                        exited[i]++;
                        exitedInCommand++;
                        _presented++;
                    }
                }

                Delay(_options.NoteInterval);
            }
        }

        return Good;
    }

    private static byte[] Triples(int[] exited, int[] rejected, bool[] present)
    {
        var bytes = new byte[12];
        for (var i = 0; i < 4; i++)
        {
            bytes[i * 3] = (byte)(0x20 + exited[i]);
            bytes[(i * 3) + 1] = (byte)(0x20 + rejected[i]);
            bytes[(i * 3) + 2] = present[i] ? (byte)(0x31 + i) : (byte)0x30;
        }

        return bytes;
    }

    private static byte[] BuildResponse(byte command, byte[] data)
    {
        var frame = new byte[data.Length + 6];
        frame[0] = Soh;
        frame[1] = Id;
        frame[2] = Stx;
        frame[3] = command;
        data.CopyTo(frame, 4);
        frame[^2] = Etx;
        frame[^1] = Xor(frame.AsSpan(0, frame.Length - 1));
        return frame;
    }

    private static byte Xor(ReadOnlySpan<byte> bytes)
    {
        byte x = 0;
        foreach (var b in bytes)
        {
            x ^= b;
        }

        return x;
    }

    private static int Index(int position) =>
        position is >= 1 and <= 4 ? position - 1 : throw new ArgumentOutOfRangeException(nameof(position), position, "Position is 1 (top) to 4 (bottom).");

    private void Send(byte[] bytes) => _pty!.Write(bytes);

    private void Delay(TimeSpan delay)
    {
        if (delay > TimeSpan.Zero)
        {
            _stopping.Wait(delay);
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

    private byte[]? TakeGarbage(ref byte[]? field)
    {
        lock (_gate)
        {
            var bytes = field;
            field = null;
            return bytes;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "LCDM-4000 emulator listening on {Path}")]
    private static partial void LogStarted(ILogger logger, string path);

    [LoggerMessage(Level = LogLevel.Error, Message = "LCDM-4000 emulator stopped: {Reason}")]
    private static partial void LogLoopFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "LCDM-4000 emulator ignored command 0x{Command:X2} (no-answer fault or power off)")]
    private static partial void LogIgnored(ILogger logger, byte command);

    [LoggerMessage(Level = LogLevel.Information, Message = "LCDM-4000 emulator lost power mid-dispense after {Exited} notes")]
    private static partial void LogPowerLost(ILogger logger, int exited);
}
