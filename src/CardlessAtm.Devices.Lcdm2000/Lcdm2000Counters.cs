namespace CardlessAtm.Devices.Lcdm2000;

/// <summary>Traffic counters of one driver instance (for diagnostics and for measuring what a dispense costs on the wire).</summary>
/// <param name="CommandFrames">Command frames written, repeats included.</param>
/// <param name="Repeats">Command frames written again after a NAK or silence.</param>
/// <param name="ResponseFrames">Response frames received and accepted.</param>
/// <param name="ResponsesRefused">Response frames we answered with NAK (bad BCC, bad shape, truncated).</param>
/// <param name="NaksReceived">NAKs the device sent for our command frames.</param>
/// <param name="GarbageBytes">Bytes received that belonged to no expected frame.</param>
/// <param name="Timeouts">Waits that ended without the expected answer.</param>
/// <param name="BytesWritten">Bytes written to the line.</param>
/// <param name="BytesRead">Bytes read from the line.</param>
public readonly record struct Lcdm2000Counters(
    long CommandFrames,
    long Repeats,
    long ResponseFrames,
    long ResponsesRefused,
    long NaksReceived,
    long GarbageBytes,
    long Timeouts,
    long BytesWritten,
    long BytesRead)
{
    /// <summary>Bytes on the wire in both directions.</summary>
    public long BytesOnWire => BytesWritten + BytesRead;

    /// <summary>The difference between two snapshots (what happened in between).</summary>
    public static Lcdm2000Counters operator -(Lcdm2000Counters after, Lcdm2000Counters before) => new(
        after.CommandFrames - before.CommandFrames,
        after.Repeats - before.Repeats,
        after.ResponseFrames - before.ResponseFrames,
        after.ResponsesRefused - before.ResponsesRefused,
        after.NaksReceived - before.NaksReceived,
        after.GarbageBytes - before.GarbageBytes,
        after.Timeouts - before.Timeouts,
        after.BytesWritten - before.BytesWritten,
        after.BytesRead - before.BytesRead);

    /// <summary>The difference between two snapshots.</summary>
    public static Lcdm2000Counters Subtract(Lcdm2000Counters after, Lcdm2000Counters before) => after - before;
}
