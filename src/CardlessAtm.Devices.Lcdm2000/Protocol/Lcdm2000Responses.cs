namespace CardlessAtm.Devices.Lcdm2000.Protocol;

/// <summary>What one cassette reported after a dispense command.</summary>
/// <param name="Position">1 = upper cassette, 2 = lower cassette.</param>
/// <param name="Checked">Notes counted at the CHK sensors (picked from the cassette).</param>
/// <param name="Exited">Notes counted at the EXIT sensor (presented).</param>
/// <param name="Rejected">Notes diverted to the reject tray.</param>
/// <param name="NearEnd">The cassette reported near end.</param>
public sealed record Lcdm2000CassetteReport(int Position, int Checked, int Exited, int Rejected, bool NearEnd)
{
    /// <summary>Notes picked but neither presented nor rejected (still in the path, or lost): never guessed.</summary>
    public int Unaccounted => Math.Max(0, Checked - Exited - Rejected);
}

/// <summary>A parsed dispense (or test dispense) response.</summary>
/// <param name="Error">The device's error byte, described.</param>
/// <param name="Cassettes">One report per cassette the command used.</param>
public sealed record Lcdm2000DispenseReport(Lcdm2000ErrorInfo Error, IReadOnlyList<Lcdm2000CassetteReport> Cassettes);

/// <summary>A parsed status response.</summary>
/// <param name="Flag">The first data byte (vendor-defined; kept for the technician's log).</param>
/// <param name="LastError">The error of the last operation.</param>
/// <param name="Sensors">The sensor bits.</param>
public sealed record Lcdm2000StatusReport(byte Flag, Lcdm2000ErrorInfo LastError, Lcdm2000Sensors Sensors);

/// <summary>A parsed ROM version response, e.g. <c>T20T</c> with check characters.</summary>
/// <param name="Version">The version characters (e.g. <c>T20T</c>).</param>
/// <param name="Check">The check characters that follow it.</param>
public sealed record Lcdm2000RomVersion(string Version, string Check)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Version} ({Check})";
}

/// <summary>Parses verified response frames (<see cref="Lcdm2000Frame.Verify"/> must have passed).</summary>
public static class Lcdm2000ResponseParser
{
    /// <summary>Parses a dispense or test-dispense response. Returns null if a count field is not two ASCII digits.</summary>
    /// <param name="frame">The verified response frame.</param>
    /// <param name="combinedOrder">The field order of a combined (0x56) answer; ignored for the other commands.</param>
    public static Lcdm2000DispenseReport? ParseDispense(
        ReadOnlySpan<byte> frame, Lcdm2000CombinedAnswerOrder combinedOrder = Lcdm2000CombinedAnswerOrder.CassetteByCassette)
    {
        var command = (Lcdm2000Command)frame[3];
        var data = frame[4..^2];
        if (command == Lcdm2000Command.UpperAndLowerDispense)
        {
            // CHK(u) EXIT(u) CHK(l) EXIT(l) or CHK(u) CHK(l) EXIT(u) EXIT(l), then ERROR STATUS(u) STATUS(l) REJECT(u) REJECT(l)
            var (exitUpper, checkLower) = combinedOrder == Lcdm2000CombinedAnswerOrder.CountByCount ? (4, 2) : (2, 4);
            if (!Lcdm2000Frame.TryReadCount(data[0..2], out var chkU) || !Lcdm2000Frame.TryReadCount(data[exitUpper..(exitUpper + 2)], out var exitU)
                || !Lcdm2000Frame.TryReadCount(data[checkLower..(checkLower + 2)], out var chkL) || !Lcdm2000Frame.TryReadCount(data[6..8], out var exitL)
                || !Lcdm2000Frame.TryReadCount(data[11..13], out var rejU) || !Lcdm2000Frame.TryReadCount(data[13..15], out var rejL))
            {
                return null;
            }

            return new Lcdm2000DispenseReport(
                Lcdm2000Errors.Describe(data[8]),
                [new(1, chkU, exitU, rejU, data[9] == (byte)'1'), new(2, chkL, exitL, rejL, data[10] == (byte)'1')]);
        }

        // CHK EXIT ERROR STATUS REJECT
        if (!Lcdm2000Frame.TryReadCount(data[0..2], out var chk) || !Lcdm2000Frame.TryReadCount(data[2..4], out var exit)
            || !Lcdm2000Frame.TryReadCount(data[6..8], out var rej))
        {
            return null;
        }

        var position = command is Lcdm2000Command.UpperDispense or Lcdm2000Command.UpperTestDispense ? 1 : 2;
        return new Lcdm2000DispenseReport(Lcdm2000Errors.Describe(data[4]), [new(position, chk, exit, rej, data[5] == (byte)'1')]);
    }

    /// <summary>Parses a status response; the cassette bits are read with <paramref name="cassetteBit"/>.</summary>
    public static Lcdm2000StatusReport ParseStatus(
        ReadOnlySpan<byte> frame, Lcdm2000CassetteSensorBit cassetteBit = Lcdm2000CassetteSensorBit.SetWhenMissing) =>
        new(frame[4], Lcdm2000Errors.Describe(frame[5]), Lcdm2000SensorBytes.Decode(frame[6], frame[7], cassetteBit));

    /// <summary>Parses a purge response: its error byte.</summary>
    public static Lcdm2000ErrorInfo ParsePurge(ReadOnlySpan<byte> frame) => Lcdm2000Errors.Describe(frame[4]);

    /// <summary>Parses a ROM version response; non-printable bytes are shown as '?'.</summary>
    public static Lcdm2000RomVersion ParseRomVersion(ReadOnlySpan<byte> frame)
    {
        var data = frame[4..^2];
        return new Lcdm2000RomVersion(Printable(data[..4]), Printable(data[4..]));
    }

    private static string Printable(ReadOnlySpan<byte> bytes)
    {
        Span<char> chars = stackalloc char[bytes.Length];
        for (var i = 0; i < bytes.Length; i++)
        {
            chars[i] = bytes[i] is >= 0x20 and < 0x7F ? (char)bytes[i] : '?';
        }

        return new string(chars);
    }
}
