using System.ComponentModel;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.FirmwareSim.Lcdm2000;

/// <summary>The firmware loop: framing, ACK/NAK, command execution, response repeats.</summary>
public sealed partial class Lcdm2000Emulator
{
    private const byte Good = 0x30;

    private readonly byte[] _readBuffer = new byte[256];

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
                // A partial frame that stopped arriving is line noise: forget it.
                if (_input.Count > 0 && Environment.TickCount64 - lastByte > 500)
                {
                    LogDropped(_logger, _input.Count);
                    _input.Clear();
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
                _input.Clear(); // stray ACK/NAK or noise between exchanges
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

            var length = CommandLength(_input[3]);
            if (length < 0)
            {
                // Unknown command: its end is the first ETX after the command byte.
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

    private static int CommandLength(byte command) => command switch
    {
        0x45 or 0x55 => 8,
        0x56 => 10,
        0x44 or 0x46 or 0x47 or 0x76 or 0x77 => 6,
        _ => -1,
    };

    private void HandleCommand(byte[] frame)
    {
        if (_options.LineBaudRate is { } baud)
        {
            // The frame would have taken this long to arrive on a real line.
            Delay(TimeSpan.FromSeconds(frame.Length * 10.0 / baud));
        }

        bool mute;
        lock (_gate)
        {
            mute = _mute;
        }

        if (mute || Take(ref _ignoreCommands))
        {
            LogIgnored(_logger, frame[3]);
            return;
        }

        if (frame[^2] != Etx || Xor(frame.AsSpan(0, frame.Length - 1)) != frame[^1])
        {
            LogBadFrame(_logger, Convert.ToHexString(frame));
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
        if (Take(ref _ackWithoutResponse))
        {
            LogResponseWithheld(_logger, frame[3]);
            return;
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
                bytes = BuildResponse(response[3], [.. response[4..^2], 0x30, 0x30, 0x30]);
            }

            Send(bytes);
            switch (WaitForHost())
            {
                case Nak:
                    continue;
                default:
                    return; // ACK, silence, or the host has moved on to a new command
            }
        }
    }

    /// <summary>The host's ACK/NAK to a response; 0 for silence. A new command is left in the input.</summary>
    private byte WaitForHost() => PuloonHostAnswer.Wait(_pty!, _input, _readBuffer, _options.HostAckTimeout, _stopping);

    private byte[] Execute(byte command, byte[] data)
    {
        switch (command)
        {
            case 0x44:
                return [Purge()];
            case 0x46:
                return StatusData();
            case 0x47:
                return [.. (_options.RomVersion + _options.RomCheck).Select(c => (byte)c)];
            case 0x45 or 0x55 or 0x76 or 0x77:
                {
                    var test = command is 0x76 or 0x77;
                    var upper = command is 0x45 or 0x76;
                    var asked = test ? 1 : Count(data, 0);
                    var result = Dispense(upper ? asked : 0, upper ? 0 : asked, test);
                    var c = upper ? result.Upper : result.Lower;
                    return [.. Digits(c.Checked), .. Digits(c.Exited), result.Error, NearEnd(upper ? 1 : 2), .. Digits(c.Rejected)];
                }

            case 0x56:
                {
                    var result = Dispense(Count(data, 0), Count(data, 2), test: false);
                    byte[] counts = _options.CombinedAnswerOrder == EmulatedCombinedAnswerOrder.CountByCount
                        ? [.. Digits(result.Upper.Checked), .. Digits(result.Lower.Checked), .. Digits(result.Upper.Exited), .. Digits(result.Lower.Exited)]
                        : [.. Digits(result.Upper.Checked), .. Digits(result.Upper.Exited), .. Digits(result.Lower.Checked), .. Digits(result.Lower.Exited)];
                    return [.. counts, result.Error, NearEnd(1), NearEnd(2), .. Digits(result.Upper.Rejected), .. Digits(result.Lower.Rejected)];
                }

            default:
                lock (_gate)
                {
                    _lastError = 0x37;
                }

                return [0x37]; // undefined command
        }
    }

    private byte Purge()
    {
        Delay(_options.PurgeTime);
        lock (_gate)
        {
            byte error;
            if (_purgeError is { } failure)
            {
                _purgeError = null;
                error = failure;
            }
            else if (!_rejectTrayPresent)
            {
                error = 0x3F;
            }
            else
            {
                _rejectTray += _notesInPath;
                _notesInPath = 0;
                _pathSensors = 0;
                error = Good;
            }

            _lastError = error;
            return error;
        }
    }

    private byte[] StatusData()
    {
        var setWhenPresent = _options.CassetteBit == EmulatedCassetteBit.SetWhenPresent;
        lock (_gate)
        {
            var sensor0 = (byte)(0x80 | (_pathSensors & 0x3F) | (_upperPresent && _upper < _options.NearEndThreshold ? 0x40 : 0));
            var sensor1 = (byte)((_pathSensors >> 8)
                | (_upperPresent == setWhenPresent ? 0x02 : 0)
                | (_lowerPresent == setWhenPresent ? 0x04 : 0)
                | (_lowerPresent && _lower < _options.NearEndThreshold ? 0x20 : 0)
                | (_rejectTrayPresent ? 0 : 0x40));
            return [(byte)'0', _lastError, sensor0, sensor1];
        }
    }

    private readonly record struct CassetteCounts(int Checked, int Exited, int Rejected);

    private readonly record struct DispenseOutcome(byte Error, CassetteCounts Upper, CassetteCounts Lower);

    private DispenseOutcome Dispense(int upperAsked, int lowerAsked, bool test)
    {
        var zero = new DispenseOutcome(Good, default, default);
        byte? refusal = null;
        lock (_gate)
        {
            if (upperAsked < 0 || lowerAsked < 0 || upperAsked > _options.MaxNotesPerCommand || lowerAsked > _options.MaxNotesPerCommand
                || (!test && upperAsked + lowerAsked == 0))
            {
                refusal = 0x3B;
            }
            else if (!_rejectTrayPresent)
            {
                refusal = 0x3F;
            }
            else if (upperAsked > 0 && !_upperPresent)
            {
                refusal = 0x45;
            }
            else if (lowerAsked > 0 && !_lowerPresent)
            {
                refusal = 0x46;
            }
            else if (_notesInPath > 0)
            {
                refusal = _pathError; // a note still blocks the path
            }

            if (refusal is { } code)
            {
                _lastError = code;
                return zero with { Error = code };
            }
        }

        Delay(_options.StartDelay);
        var counts = new CassetteCounts[3];
        var error = Good;
        var exitedInCommand = 0;
        var rejectedInCommand = 0;
        var pick = 0;
        for (var position = 1; position <= 2 && error == Good; position++)
        {
            var asked = position == 1 ? upperAsked : lowerAsked;
            var c = counts[position];
            while ((test ? c.Checked : c.Exited) < asked && error == Good)
            {
                lock (_gate)
                {
                    ref var cassette = ref (position == 1 ? ref _upper : ref _lower);
                    if (_error is { } injected && injected.AfterNotes == exitedInCommand)
                    {
                        _error = null;
                        error = injected.Code;
                        if (LeavesNoteInPath(error) && cassette > 0)
                        {
                            cassette--;
                            c = c with { Checked = c.Checked + 1 };
                            _notesInPath++;
                            _pathSensors |= 0x0004; // DIV 1
                            _pathError = error;
                        }

                        break;
                    }

                    if (_jam is { } jam && jam.AfterNotes == exitedInCommand)
                    {
                        _jam = null;
                        (error, var sensor) = JamCode(jam.At);
                        if (cassette > 0)
                        {
                            cassette--;
                            c = c with { Checked = c.Checked + 1 };
                            _notesInPath++;
                            _pathSensors |= sensor;
                            _pathError = error;
                        }

                        break;
                    }

                    if (cassette == 0)
                    {
                        error = position == 1 ? (byte)0x38 : (byte)0x40;
                        break;
                    }

                    pick++;
                    cassette--;
                    c = c with { Checked = c.Checked + 1 };
                    if (test)
                    {
                        _rejectTray++;
                        c = c with { Rejected = c.Rejected + 1 };
                    }
                    else if (_doubleNotes.Remove(pick))
                    {
                        var stuck = cassette > 0 ? 1 : 0;
                        cassette -= stuck;
                        c = c with { Checked = c.Checked + stuck, Rejected = c.Rejected + 1 + stuck };
                        _rejectTray += 1 + stuck;
                        rejectedInCommand += 1 + stuck;
                        if (rejectedInCommand > _options.MaxRejectsPerCommand)
                        {
                            error = 0x44;
                            break;
                        }
                    }
                    else
                    {
                        c = c with { Exited = c.Exited + 1 };
                        exitedInCommand++;
                        _presented++;
                    }
                }

                Delay(_options.NoteInterval);
            }

            counts[position] = c;
        }

        lock (_gate)
        {
            _lastError = error;
        }

        return new DispenseOutcome(error, counts[1], counts[2]);
    }

    private static bool LeavesNoteInPath(byte error) =>
        error is not (0x32 or 0x37 or 0x38 or 0x3B or 0x3F or 0x40 or 0x44 or 0x45 or 0x46);

    private static (byte Error, ushort Sensor) JamCode(EmulatedJamPoint at) => at switch
    {
        EmulatedJamPoint.Check12 => (0x33, 0x0001),
        EmulatedJamPoint.Check34 => (0x4C, 0x0800),
        EmulatedJamPoint.Divert => (0x36, 0x0004),
        EmulatedJamPoint.Eject => (0x48, 0x0010),
        _ => (0x35, 0x0020),
    };

    private byte NearEnd(int position)
    {
        lock (_gate)
        {
            var count = position == 1 ? _upper : _lower;
            return count < _options.NearEndThreshold ? (byte)'1' : (byte)'0';
        }
    }

    private static int Count(byte[] data, int offset) =>
        data.Length >= offset + 2 && char.IsAsciiDigit((char)data[offset]) && char.IsAsciiDigit((char)data[offset + 1])
            ? ((data[offset] - '0') * 10) + (data[offset + 1] - '0')
            : -1;

    private static byte[] Digits(int value) => [(byte)('0' + (value / 10 % 10)), (byte)('0' + (value % 10))];

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

    private void Send(byte[] bytes)
    {
        if (_options.LineBaudRate is { } baud)
        {
            Delay(TimeSpan.FromSeconds(bytes.Length * 10.0 / baud));
        }

        _pty!.Write(bytes);
    }

    private void Delay(TimeSpan delay)
    {
        if (delay > TimeSpan.Zero)
        {
            _stopping.Wait(delay);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "LCDM-2000 emulator stopped: {Reason}")]
    private static partial void LogLoopFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "LCDM-2000 emulator dropped {Count} bytes of an unfinished frame")]
    private static partial void LogDropped(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Debug, Message = "LCDM-2000 emulator ignored command 0x{Command:X2} (no-answer fault)")]
    private static partial void LogIgnored(ILogger logger, byte command);

    [LoggerMessage(Level = LogLevel.Debug, Message = "LCDM-2000 emulator refused a bad frame {Hex}")]
    private static partial void LogBadFrame(ILogger logger, string hex);

    [LoggerMessage(Level = LogLevel.Debug, Message = "LCDM-2000 emulator ran 0x{Command:X2} but withholds its response (fault)")]
    private static partial void LogResponseWithheld(ILogger logger, byte command);
}
