namespace CardlessAtm.Devices.Puloon;

/// <summary>Traffic counters of one link (for diagnostics and for measuring what a dispense costs on the wire).</summary>
/// <param name="CommandFrames">Command frames written, repeats included.</param>
/// <param name="Repeats">Command frames written again after a NAK or silence.</param>
/// <param name="ResponseFrames">Response frames received and accepted.</param>
/// <param name="ResponsesRefused">Response frames answered with NAK (bad BCC, bad shape, truncated).</param>
/// <param name="NaksReceived">NAKs the device sent for command frames.</param>
/// <param name="GarbageBytes">Bytes received that belonged to no expected frame.</param>
/// <param name="Timeouts">Waits that ended without the expected answer.</param>
/// <param name="BytesWritten">Bytes written to the line.</param>
/// <param name="BytesRead">Bytes read from the line.</param>
public readonly record struct PuloonLinkCounters(
    long CommandFrames,
    long Repeats,
    long ResponseFrames,
    long ResponsesRefused,
    long NaksReceived,
    long GarbageBytes,
    long Timeouts,
    long BytesWritten,
    long BytesRead);

/// <summary>The link's timing and retry settings (taken from a driver's options).</summary>
/// <param name="PortName">The port's name, for messages.</param>
/// <param name="AckTimeout">How long the device has to answer a command frame with ACK/NAK.</param>
/// <param name="InterByteTimeout">Longest silence allowed between two bytes of one response frame.</param>
/// <param name="Retries">How often a refused command or a corrupted response is repeated.</param>
internal sealed record PuloonLinkSettings(string PortName, TimeSpan AckTimeout, TimeSpan InterByteTimeout, int Retries);
