using CardlessAtm.Devices.Puloon;

namespace CardlessAtm.Devices.Lcdm2000.Protocol;

/// <summary>
/// Framing of the LCDM-2000 serial protocol: the shared Puloon framing (<see cref="PuloonFrame"/>) with the
/// LCDM-2000's <see cref="Layout"/> and its fixed response lengths. The host sends <c>EOT ID STX CMD DATA ETX BCC</c>; the
/// device answers one byte (ACK or NAK), runs the command and replies <c>SOH ID STX CMD DATA ETX BCC</c>,
/// which the host acknowledges with ACK or refuses with NAK (the device then repeats it).
/// BCC is the XOR of every byte from the first (EOT or SOH) up to and including ETX.
/// </summary>
public static class Lcdm2000Frame
{
    /// <summary>Start of a response frame.</summary>
    public const byte Soh = PuloonFrame.Soh;

    /// <summary>Start of text.</summary>
    public const byte Stx = PuloonFrame.Stx;

    /// <summary>End of text.</summary>
    public const byte Etx = PuloonFrame.Etx;

    /// <summary>Start of a command frame.</summary>
    public const byte Eot = PuloonFrame.Eot;

    /// <summary>Positive acknowledgement.</summary>
    public const byte Ack = PuloonFrame.Ack;

    /// <summary>Negative acknowledgement.</summary>
    public const byte Nak = PuloonFrame.Nak;

    /// <summary>The communication id of the LCDM-2000 (ASCII 'P').</summary>
    public const byte DeviceId = 0x50;

    /// <summary>Bytes a frame adds around its data: start, id, STX, CMD, ETX, BCC.</summary>
    public const int Overhead = PuloonFrame.Overhead;

    /// <summary>The LCDM-2000's frame layout: id 'P', no EOT after the host's ACK.</summary>
    public static PuloonFrameLayout Layout { get; } = new("LCDM-2000", DeviceId);

    /// <summary>The most notes one dispense command can ask of one cassette (two ASCII digits, tens digit '0'..'6').</summary>
    public const int MaxNotesPerCommand = 60;

    /// <summary>XOR of the given bytes.</summary>
    public static byte Bcc(ReadOnlySpan<byte> bytes) => PuloonFrame.Bcc(bytes);

    /// <summary>Builds a command frame.</summary>
    /// <param name="command">The command.</param>
    /// <param name="data">The command's data bytes (ASCII digits for dispense counts, else empty).</param>
    public static byte[] BuildCommand(Lcdm2000Command command, ReadOnlySpan<byte> data) => PuloonFrame.BuildCommand(Layout, (byte)command, data);

    /// <summary>Two ASCII digits for a note count (0..99).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The count is not 0..<see cref="MaxNotesPerCommand"/>.</exception>
    public static void WriteCount(Span<byte> destination, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, MaxNotesPerCommand);
        destination[0] = (byte)('0' + (count / 10));
        destination[1] = (byte)('0' + (count % 10));
    }

    /// <summary>Reads two ASCII digits; returns false if they are not digits.</summary>
    public static bool TryReadCount(ReadOnlySpan<byte> digits, out int count)
    {
        count = 0;
        if (digits.Length < 2 || !char.IsAsciiDigit((char)digits[0]) || !char.IsAsciiDigit((char)digits[1]))
        {
            return false;
        }

        count = ((digits[0] - '0') * 10) + (digits[1] - '0');
        return true;
    }

    /// <summary>
    /// The full length of the device's response to a command (fixed per command; a frame cannot be
    /// delimited by ETX alone, because a sensor byte of the status response can itself be 0x03).
    /// </summary>
    public static int ResponseLength(Lcdm2000Command command) => command switch
    {
        Lcdm2000Command.Purge => Overhead + 1,                                  // ERROR
        Lcdm2000Command.Status => Overhead + 4,                                 // flag, ERROR, SENSOR0, SENSOR1
        Lcdm2000Command.RomVersion => Overhead + 8,                             // 'T' ROM ROM 'T' + 4 check characters
        Lcdm2000Command.UpperDispense or Lcdm2000Command.LowerDispense
            or Lcdm2000Command.UpperTestDispense or Lcdm2000Command.LowerTestDispense => Overhead + 8, // CHK2 EXIT2 ERROR STATUS REJECT2
        Lcdm2000Command.UpperAndLowerDispense => Overhead + 15,                 // CHK2 EXIT2 CHK2 EXIT2 ERROR ST ST REJ2 REJ2
        _ => throw new ArgumentOutOfRangeException(nameof(command), command, "Not an LCDM-2000 command."),
    };

    /// <summary>
    /// Checks a complete response frame: start bytes, echoed command, ETX at the end and the BCC.
    /// Returns null if it is sound, else the reason (for the log).
    /// </summary>
    public static string? Verify(ReadOnlySpan<byte> frame, Lcdm2000Command command) =>
        PuloonFrame.Verify(Layout, frame, (byte)command, ResponseLength(command));
}
