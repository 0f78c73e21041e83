using CardlessAtm.Devices.Dispenser;
using CardlessAtm.FirmwareSim.Lcdm2000;

namespace CardlessAtm.Devices.Lcdm2000.Tests;

/// <summary>One emulator on a real pty plus a driver on its slave path, per test.</summary>
public sealed class Rig : IDisposable
{
    public Rig(Action<Lcdm2000EmulatorOptions>? emulator = null, Action<Lcdm2000Options>? driver = null)
    {
        var emulatorOptions = Lcdm2000EmulatorOptions.Instant();
        emulatorOptions.HostAckTimeout = TimeSpan.FromSeconds(5); // patient firmware: a loaded CI machine must not look like a fault
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

    /// <summary>
    /// Limits generous enough for a loaded CI machine (a success never depends on speed); tests of
    /// silence shorten them with <see cref="Silent"/>. Outcomes, not durations, are asserted.
    /// </summary>
    public static Lcdm2000Options FastOptions(string port) => new()
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
    public static void Silent(Lcdm2000Options o)
    {
        o.AckTimeout = TimeSpan.FromMilliseconds(250);
        o.StatusTimeout = TimeSpan.FromMilliseconds(500);
        o.DispenseBaseTimeout = TimeSpan.FromMilliseconds(500);
        o.DispensePerNoteTimeout = TimeSpan.Zero;
        o.Retries = 1;
    }

    public Task<DeviceDispenseResult> Dispense(int upper, int lower = 0)
    {
        var request = new List<PositionCount>();
        if (upper > 0)
        {
            request.Add(new PositionCount(1, upper));
        }

        if (lower > 0)
        {
            request.Add(new PositionCount(2, lower));
        }

        return Dispenser.DispenseAsync(request, CancellationToken.None);
    }

    public static PositionMovement Of(DeviceDispenseResult result, int position) =>
        Assert.Single(result.Movements, m => m.Position == position);

    public void Dispose()
    {
        Dispenser.Dispose();
        Emulator.Dispose();
    }
}
