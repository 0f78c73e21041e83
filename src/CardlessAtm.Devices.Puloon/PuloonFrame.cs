namespace CardlessAtm.Devices.Puloon;

/// <summary>
/// What differs between the framings of the Puloon dispensers that share one serial protocol family
/// (LCDM-2000, LCDM-4000): the communication id, and whether the device closes an exchange with EOT
/// after the host's ACK. Everything else is common: the host sends <c>EOT ID STX CMD DATA ETX BCC</c>, the device
/// answers ACK or NAK, runs the command and replies <c>SOH ID STX CMD DATA ETX BCC</c>, which the host
/// acknowledges (ACK) or refuses (NAK; the device repeats it). BCC is the XOR of every byte from the
/// first up to and including ETX.
/// </summary>
/// <param name="Model">The model name for logs and messages, e.g. <c>LCDM-2000</c>.</param>
/// <param name="DeviceId">The communication id byte of both frame directions.</param>
/// <param name="EotAfterAck">
/// The device sends EOT once the host has acknowledged its response; the link then reads it as the end of the
/// exchange (tolerating its absence) instead of finding it later as a stray byte.
/// </param>
public sealed record PuloonFrameLayout(string Model, byte DeviceId, bool EotAfterAck = false);

/// <summary>Building and checking frames of a <see cref="PuloonFrameLayout"/>.</summary>
public static class PuloonFrame
{
    /// <summary>Start of a response frame.</summary>
    public const byte Soh = 0x01;

    /// <summary>Start of text.</summary>
    public const byte Stx = 0x02;

    /// <summary>End of text.</summary>
    public const byte Etx = 0x03;

    /// <summary>Start of a command frame.</summary>
    public const byte Eot = 0x04;

    /// <summary>Positive acknowledgement.</summary>
    public const byte Ack = 0x06;

    /// <summary>Negative acknowledgement.</summary>
    public const byte Nak = 0x15;

    /// <summary>Bytes a frame adds around its data: start, id, STX, CMD, ETX, BCC.</summary>
    public const int Overhead = 6;

    /// <summary>XOR of the given bytes.</summary>
    public static byte Bcc(ReadOnlySpan<byte> bytes)
    {
        byte bcc = 0;
        foreach (var b in bytes)
        {
            bcc ^= b;
        }

        return bcc;
    }

    /// <summary>Builds a command frame <c>EOT ID STX CMD DATA ETX BCC</c>.</summary>
    public static byte[] BuildCommand(PuloonFrameLayout layout, byte command, ReadOnlySpan<byte> data) =>
        Build(layout, Eot, command, data);

    /// <summary>Builds a response frame <c>SOH ID STX CMD DATA ETX BCC</c> (for tests and tools).</summary>
    public static byte[] BuildResponse(PuloonFrameLayout layout, byte command, ReadOnlySpan<byte> data) =>
        Build(layout, Soh, command, data);

    /// <summary>
    /// Checks a complete response frame: length, start bytes, echoed command, ETX at the end and the BCC.
    /// Returns null if it is sound, else the reason (for the log).
    /// </summary>
    public static string? Verify(PuloonFrameLayout layout, ReadOnlySpan<byte> frame, byte command, int expectedLength)
    {
        ArgumentNullException.ThrowIfNull(layout);
        if (frame.Length != expectedLength)
        {
            return $"length {frame.Length}, expected {expectedLength}";
        }

        if (frame[0] != Soh || frame[1] != layout.DeviceId || frame[2] != Stx)
        {
            return $"bad header {Convert.ToHexString(frame[..3])}";
        }

        if (frame[3] != command)
        {
            return $"answers command 0x{frame[3]:X2}, expected 0x{command:X2}";
        }

        if (frame[^2] != Etx)
        {
            return $"no ETX before BCC (0x{frame[^2]:X2})";
        }

        var bcc = Bcc(frame[..^1]);
        return bcc == frame[^1] ? null : $"BCC mismatch: got 0x{frame[^1]:X2}, computed 0x{bcc:X2}";
    }

    private static byte[] Build(PuloonFrameLayout layout, byte start, byte command, ReadOnlySpan<byte> data)
    {
        ArgumentNullException.ThrowIfNull(layout);
        var frame = new byte[data.Length + Overhead];
        frame[0] = start;
        frame[1] = layout.DeviceId;
        frame[2] = Stx;
        frame[3] = command;
        data.CopyTo(frame.AsSpan(4));
        frame[^2] = Etx;
        frame[^1] = Bcc(frame.AsSpan(0, frame.Length - 1));
        return frame;
    }
}
