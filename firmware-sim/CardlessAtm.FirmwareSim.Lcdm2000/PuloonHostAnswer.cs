namespace CardlessAtm.FirmwareSim.Lcdm2000;

/// <summary>
/// What the firmware of both Puloon emulators (LCDM-2000 and LCDM-4000) does after it sent a response: wait for the host's
/// ACK or NAK of it. The two protocols agree on this part (EOT 0x04, ACK 0x06, NAK 0x15); their frames differ.
/// </summary>
public static class PuloonHostAnswer
{
    private const byte Eot = 0x04, Ack = 0x06, Nak = 0x15;

    /// <summary>
    /// The host's ACK or NAK, taken from <paramref name="input"/> and then read from <paramref name="pty"/> within
    /// <paramref name="timeout"/>; 0 for silence, for a stop, or when the host has moved on to a new command (its EOT is
    /// left at the head of <paramref name="input"/> for the command loop). Other bytes before it are dropped.
    /// </summary>
    /// <param name="pty">The emulator's pseudo-terminal.</param>
    /// <param name="input">Bytes read and not yet consumed; what is read while waiting is appended.</param>
    /// <param name="readBuffer">Scratch buffer for each read.</param>
    /// <param name="timeout">How long the firmware waits for the host (the options' <c>HostAckTimeout</c>).</param>
    /// <param name="stopping">Set when the emulator stops.</param>
    public static byte Wait(PseudoTerminal pty, List<byte> input, byte[] readBuffer, TimeSpan timeout, ManualResetEventSlim stopping)
    {
        ArgumentNullException.ThrowIfNull(pty);
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(stopping);
        var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (!stopping.IsSet)
        {
            while (input.Count > 0)
            {
                var b = input[0];
                if (b == Eot)
                {
                    return 0;
                }

                input.RemoveAt(0);
                if (b is Ack or Nak)
                {
                    return b;
                }
            }

            var left = deadline - Environment.TickCount64;
            if (left <= 0)
            {
                return 0;
            }

            var n = pty.Read(readBuffer, (int)Math.Min(left, 50));
            input.AddRange(readBuffer.AsSpan(0, n));
        }

        return 0;
    }
}
