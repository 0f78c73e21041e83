using CardlessAtm.FirmwareSim.Lcdm2000;

namespace CardlessAtm.Devices.Lcdm2000.Tests;

/// <summary>One emulator on a real pty plus a driver on its slave path, per test.</summary>
public sealed class Rig : IDisposable
{
    public Rig(Action<Lcdm2000EmulatorOptions>? emulator = null, Action<Lcdm2000Options>? driver = null)
    {
        var emulatorOptions = Lcdm2000EmulatorOptions.Instant();
        emulator?.Invoke(emulatorOptions);
        Emulator = new Lcdm2000Emulator(emulatorOptions);
        Emulator.Start();
        Options = FastOptions(Emulator.SlavePath);
        driver?.Invoke(Options);
        Dispenser = Lcdm2000Dispenser.Create(Options);
    }

    public Lcdm2000Emulator Emulator { get; }

    public Lcdm2000Options Options { get; }

    public Lcdm2000Dispenser Dispenser { get; }

    /// <summary>Short limits so that fault tests finish quickly; outcomes, not durations, are asserted.</summary>
    public static Lcdm2000Options FastOptions(string port) => new()
    {
        PortName = port,
        AckTimeout = TimeSpan.FromMilliseconds(300),
        InterByteTimeout = TimeSpan.FromMilliseconds(100),
        StatusTimeout = TimeSpan.FromSeconds(2),
        PurgeTimeout = TimeSpan.FromSeconds(2),
        DispenseBaseTimeout = TimeSpan.FromSeconds(1),
        DispensePerNoteTimeout = TimeSpan.FromMilliseconds(20),
    };

    public void Dispose()
    {
        Dispenser.Dispose();
        Emulator.Dispose();
    }
}
