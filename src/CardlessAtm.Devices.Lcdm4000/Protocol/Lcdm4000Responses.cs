namespace CardlessAtm.Devices.Lcdm4000.Protocol;

/// <summary>What one cassette position reported after a purge, dispense or test dispense.</summary>
/// <param name="Position">1 (top) to 4 (bottom).</param>
/// <param name="Exited">Notes counted out of the exit (presented).</param>
/// <param name="Rejected">Notes diverted to the reject tray.</param>
/// <param name="CassettePresent">The TYPE byte said a cassette is in place.</param>
public sealed record Lcdm4000CassetteReport(int Position, int Exited, int Rejected, bool CassettePresent);

/// <summary>A parsed purge, dispense, test-dispense or last-status answer.</summary>
/// <param name="Command">The command the counts belong to (for LAST_STATUS: the last operation's command byte).</param>
/// <param name="Error">The operation's error byte, described.</param>
/// <param name="Cassettes">Positions 1..4, in order.</param>
public sealed record Lcdm4000OperationReport(byte Command, Lcdm4000ErrorInfo Error, IReadOnlyList<Lcdm4000CassetteReport> Cassettes)
{
    /// <summary>Whether two reports carry the same command, error and counts.</summary>
    public bool SameCounts(Lcdm4000OperationReport other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return Command == other.Command && Error.Code == other.Error.Code
            && Cassettes.Select(c => (c.Exited, c.Rejected)).SequenceEqual(other.Cassettes.Select(c => (c.Exited, c.Rejected)));
    }
}

/// <summary>One cassette's part of the status answer.</summary>
/// <param name="Position">1..4.</param>
/// <param name="Stat">The raw STAT byte (bit 0 CHKL, bit 1 CHKR, bit 3 near end).</param>
/// <param name="Present">TYPE byte is 0x30 + position (0x30: removed).</param>
/// <param name="NearEnd">STAT bit 3.</param>
/// <param name="CheckBlocked">STAT bit 0 or 1: a note sits at this cassette's check sensors.</param>
public sealed record Lcdm4000CassetteStatus(int Position, byte Stat, bool Present, bool NearEnd, bool CheckBlocked);

/// <summary>The DISP byte of the status answer: a set bit means the sensor is blocked.</summary>
[Flags]
public enum Lcdm4000PathSensors : byte
{
    /// <summary>Nothing blocked.</summary>
    None = 0,

    /// <summary>Diverter sensor left.</summary>
    DivertLeft = 0x01,

    /// <summary>Diverter sensor right.</summary>
    DivertRight = 0x02,

    /// <summary>Eject sensor.</summary>
    Eject = 0x04,

    /// <summary>Exit sensor.</summary>
    Exit = 0x08,

    /// <summary>Reject path sensor.</summary>
    Reject = 0x10,

    /// <summary>Solenoid sensor.</summary>
    Solenoid = 0x20,
}

/// <summary>A parsed status answer.</summary>
/// <param name="LastError">The error byte.</param>
/// <param name="Path">The path sensors.</param>
/// <param name="Cassettes">Positions 1..4.</param>
public sealed record Lcdm4000StatusReport(Lcdm4000ErrorInfo LastError, Lcdm4000PathSensors Path, IReadOnlyList<Lcdm4000CassetteStatus> Cassettes)
{
    /// <summary>Notes sit in the transport (a path or check sensor is blocked).</summary>
    public bool NotesInPath => (Path & ~Lcdm4000PathSensors.Solenoid) != Lcdm4000PathSensors.None || Cassettes.Any(c => c.CheckBlocked);
}

/// <summary>Parses verified response frames.</summary>
public static class Lcdm4000ResponseParser
{
    /// <summary>Parses a purge, dispense or test-dispense answer; null if a count byte is not a count.</summary>
    public static Lcdm4000OperationReport? ParseOperation(ReadOnlySpan<byte> frame) =>
        ParseCounts(frame[3], frame[4], frame[6..]);

    /// <summary>Parses a LAST_STATUS answer; null if a count byte is not a count.</summary>
    public static Lcdm4000OperationReport? ParseLastStatus(ReadOnlySpan<byte> frame) =>
        ParseCounts(frame[4], frame[5], frame[7..]);

    /// <summary>Parses a status answer.</summary>
    public static Lcdm4000StatusReport ParseStatus(ReadOnlySpan<byte> frame)
    {
        var cassettes = new Lcdm4000CassetteStatus[Lcdm4000Frame.Positions];
        for (var p = 1; p <= Lcdm4000Frame.Positions; p++)
        {
            var at = 6 + ((p - 1) * 4);
            var stat = frame[at];
            cassettes[p - 1] = new(p, stat, frame[at + 1] == 0x30 + p, (stat & 0x08) != 0, (stat & 0x03) != 0);
        }

        return new(Lcdm4000Errors.Describe(frame[4]), (Lcdm4000PathSensors)(frame[5] & 0x3F), cassettes);
    }

    private static Lcdm4000OperationReport? ParseCounts(byte command, byte error, ReadOnlySpan<byte> triples)
    {
        var cassettes = new Lcdm4000CassetteReport[Lcdm4000Frame.Positions];
        for (var p = 1; p <= Lcdm4000Frame.Positions; p++)
        {
            var at = (p - 1) * 3;
            if (!Lcdm4000Frame.TryDecodeCount(triples[at], out var exited) || !Lcdm4000Frame.TryDecodeCount(triples[at + 1], out var rejected))
            {
                return null;
            }

            cassettes[p - 1] = new(p, exited, rejected, triples[at + 2] == 0x30 + p);
        }

        return new(command, Lcdm4000Errors.Describe(error), cassettes);
    }
}

/// <summary>Splits a dispense into commands of at most the per-command limit in total.</summary>
public static class Lcdm4000DispensePlan
{
    /// <summary>The commands (four counts each) for <paramref name="perPosition"/> notes, as few as the limit allows.</summary>
    public static IReadOnlyList<int[]> Split(IReadOnlyList<int> perPosition, int maxPerCommand)
    {
        ArgumentNullException.ThrowIfNull(perPosition);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPerCommand, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxPerCommand, Lcdm4000Frame.MaxNotesPerCommand);
        var left = perPosition.ToArray();
        if (left.Length != Lcdm4000Frame.Positions || left.Any(n => n < 0))
        {
            throw new ArgumentException("Four non-negative counts are needed.", nameof(perPosition));
        }

        var steps = new List<int[]>();
        while (left.Sum() > 0)
        {
            var step = new int[Lcdm4000Frame.Positions];
            var room = maxPerCommand;
            for (var i = 0; i < left.Length && room > 0; i++)
            {
                var n = Math.Min(left[i], room);
                step[i] = n;
                left[i] -= n;
                room -= n;
            }

            steps.Add(step);
        }

        return steps;
    }
}
