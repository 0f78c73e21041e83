using CardlessAtm.Devices.Puloon;

namespace CardlessAtm.Devices.Lcdm4000.Protocol;

/// <summary>The LCDM-4000 command bytes (the <c>CMD</c> byte of a frame; the response echoes it).</summary>
public enum Lcdm4000Command : byte
{
    /// <summary>Software reset; the device sends no response and needs about 2 s (not used by the driver).</summary>
    Reset = 0x44,

    /// <summary>Sensor and cassette status.</summary>
    Status = 0x50,

    /// <summary>Purge: moves notes left in the path to the reject tray (one left at the exit may be presented).</summary>
    Purge = 0x51,

    /// <summary>Dispense from up to four cassettes in one operation.</summary>
    Dispense = 0x52,

    /// <summary>Picks notes straight into the reject tray.</summary>
    TestDispense = 0x53,

    /// <summary>Repeats the result of the last purge, dispense or test dispense.</summary>
    LastStatus = 0x55,
}

/// <summary>
/// Framing of the LCDM-4000: the shared Puloon framing with id 0x30 ('0') and the EOT the device sends after
/// the host's ACK, counts sent as 0x20 + n, and fixed response lengths per command.
/// </summary>
public static class Lcdm4000Frame
{
    /// <summary>The communication id of the LCDM-4000 (ASCII '0').</summary>
    public const byte DeviceId = 0x30;

    /// <summary>The offset of every count byte (count n is sent as 0x20 + n); 0x20 is also "no error".</summary>
    public const byte CountOffset = 0x20;

    /// <summary>Cassette positions, 1 (top) to 4 (bottom).</summary>
    public const int Positions = 4;

    /// <summary>The most notes one dispense command asks in total (all cassettes together).</summary>
    public const int MaxNotesPerCommand = 40;

    /// <summary>Bytes of a dispense or test-dispense command's data: QTY1..4, TO1, TO2, 9 reserved.</summary>
    public const int DispenseDataLength = 15;

    /// <summary>The LCDM-4000's frame layout.</summary>
    public static PuloonFrameLayout Layout { get; } = new("LCDM-4000", DeviceId, EotAfterAck: true);

    /// <summary>Builds a command frame.</summary>
    public static byte[] BuildCommand(Lcdm4000Command command, ReadOnlySpan<byte> data) => PuloonFrame.BuildCommand(Layout, (byte)command, data);

    /// <summary>Checks a complete response frame; null if sound, else the reason.</summary>
    public static string? Verify(ReadOnlySpan<byte> frame, Lcdm4000Command command) =>
        PuloonFrame.Verify(Layout, frame, (byte)command, ResponseLength(command));

    /// <summary>The full length of the response to a command.</summary>
    public static int ResponseLength(Lcdm4000Command command) => command switch
    {
        Lcdm4000Command.Status => PuloonFrame.Overhead + 18,          // ERROR DISP (STAT TYPE OPAC LENG) x 4
        Lcdm4000Command.Purge => PuloonFrame.Overhead + 14,           // ERROR MISS (EXIT REJECT TYPE) x 4
        Lcdm4000Command.Dispense or Lcdm4000Command.TestDispense => PuloonFrame.Overhead + 23, // as purge + 9 reserved
        Lcdm4000Command.LastStatus => PuloonFrame.Overhead + 15,      // LAST_CMD ERROR MISS (EXIT REJECT TYPE) x 4
        _ => throw new ArgumentOutOfRangeException(nameof(command), command, "Not an LCDM-4000 command with a response."),
    };

    /// <summary>The count byte for <paramref name="count"/> notes (0x20 + n).</summary>
    public static byte EncodeCount(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, MaxNotesPerCommand);
        return (byte)(CountOffset + count);
    }

    /// <summary>Reads a count byte; false if it is below 0x20 or above 0x7F.</summary>
    public static bool TryDecodeCount(byte value, out int count)
    {
        count = value - CountOffset;
        return value is >= CountOffset and <= 0x7F;
    }

    /// <summary>The data of a dispense command: four counts, no device time-out (TO1 = TO2 = 0x20), nine reserved 0x20.</summary>
    public static byte[] DispenseData(IReadOnlyList<int> perPosition)
    {
        ArgumentNullException.ThrowIfNull(perPosition);
        if (perPosition.Count != Positions)
        {
            throw new ArgumentException($"Four counts are needed, got {perPosition.Count}.", nameof(perPosition));
        }

        var data = new byte[DispenseDataLength];
        Array.Fill(data, CountOffset);
        for (var i = 0; i < Positions; i++)
        {
            data[i] = EncodeCount(perPosition[i]);
        }

        return data;
    }
}
