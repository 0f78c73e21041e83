using CardlessAtm.Devices.Dispenser;
using CardlessAtm.FirmwareSim.Lcdm4000;

namespace CardlessAtm.Devices.Lcdm4000.Tests;

/// <summary>One emulator on a real pty plus the real driver on its slave path, per test.</summary>
public sealed class Rig : IDisposable
{
    public Rig(Action<Lcdm4000EmulatorOptions>? emulator = null, Action<Lcdm4000Options>? driver = null)
    {
        var emulatorOptions = Lcdm4000EmulatorOptions.Instant();
        emulatorOptions.HostAckTimeout = TimeSpan.FromSeconds(5); // patient firmware: a loaded machine must not look like a fault
        emulator?.Invoke(emulatorOptions);
        Emulator = new Lcdm4000Emulator(emulatorOptions);
        Emulator.Start();
        Options = FastOptions(Emulator.SlavePath);
        driver?.Invoke(Options);
        Dispenser = Lcdm4000Dispenser.Create(Options);
    }

    public Lcdm4000Emulator Emulator { get; }

    public Lcdm4000Options Options { get; }

    public Lcdm4000Dispenser Dispenser { get; private set; }

    /// <summary>Limits generous enough for a loaded machine; outcomes, not durations, are asserted.</summary>
    public static Lcdm4000Options FastOptions(string port) => new()
    {
        PortName = port,
        AckTimeout = TimeSpan.FromSeconds(1),
        InterByteTimeout = TimeSpan.FromMilliseconds(300),
        StatusTimeout = TimeSpan.FromSeconds(5),
        PurgeTimeout = TimeSpan.FromSeconds(5),
        DispenseBaseTimeout = TimeSpan.FromSeconds(5),
        DispensePerNoteTimeout = TimeSpan.FromMilliseconds(50),
        MaxNotesPerDispense = 200,
    };

    /// <summary>Short limits for tests where the device stays silent on purpose.</summary>
    public static void Silent(Lcdm4000Options o)
    {
        o.AckTimeout = TimeSpan.FromMilliseconds(250);
        o.StatusTimeout = TimeSpan.FromMilliseconds(500);
        o.DispenseBaseTimeout = TimeSpan.FromMilliseconds(500);
        o.DispensePerNoteTimeout = TimeSpan.Zero;
        o.Retries = 1;
    }

    /// <summary>A new driver instance on the same port and settings (a restarted process).</summary>
    public void Restart()
    {
        Dispenser.Dispose();
        Dispenser = Lcdm4000Dispenser.Create(Options);
    }

    public Task<DeviceDispenseResult> Dispense(params int[] perPosition) =>
        Dispenser.DispenseAsync([.. perPosition.Select((n, i) => new PositionCount(i + 1, n)).Where(p => p.Notes > 0)], CancellationToken.None);

    public static PositionMovement Of(DeviceDispenseResult result, int position) =>
        Assert.Single(result.Movements, m => m.Position == position);

    /// <summary>The dispense commands the emulator received, as their four counts.</summary>
    public IEnumerable<int[]> DispenseCounts() =>
        Emulator.ReceivedCommands.Where(f => f[3] == 0x52).Select(f => f[4..8].Select(b => b - 0x20).ToArray());

    public void Dispose()
    {
        Dispenser.Dispose();
        Emulator.Dispose();
    }
}
