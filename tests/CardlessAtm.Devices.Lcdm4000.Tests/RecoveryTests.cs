using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Puloon;

namespace CardlessAtm.Devices.Lcdm4000.Tests;

/// <summary>Power loss mid-dispense, a new driver instance, and LAST_STATUS settling what was presented.</summary>
public sealed class RecoveryTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lcdm4000-").FullName;

    private string CounterFile => Path.Combine(_dir, "counters.json");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private void Durable(Lcdm4000Options o)
    {
        Rig.Silent(o);
        o.StatusTimeout = TimeSpan.FromSeconds(5);
        o.CounterFile = CounterFile;
    }

    [Fact]
    public async Task After_power_loss_mid_dispense_a_new_driver_learns_exactly_what_was_presented()
    {
        using var rig = new Rig(driver: Durable);
        Assert.Equal(DispenseCompletion.Ok, (await rig.Dispense(2, 1)).Completion);
        var before = await rig.Dispenser.ReadCountersAsync(CancellationToken.None);
        Assert.NotNull(before);

        rig.Emulator.InjectPowerLoss(afterNotes: 13);
        var result = await rig.Dispense(10, 0, 8);
        Assert.Equal(DispenseCompletion.Timeout, result.Completion);
        Assert.Equal(18, result.Movements.Sum(m => m.Unknown)); // the live driver cannot know
        Assert.True(rig.Emulator.IsPoweredOff);

        rig.Restart(); // the process dies and comes back, with the same counter file
        rig.Emulator.PowerOn();
        var after = await rig.Dispenser.ReadCountersAsync(CancellationToken.None);
        Assert.NotNull(after);
        var moved = after.Since(before);
        Assert.Equal([new PositionMovement(1, 10, 0, 0), new PositionMovement(3, 3, 0, 0)], moved);
        Assert.Equal(13, rig.Emulator.PresentedCount - 3);
        Assert.All(after.Positions, p => Assert.Equal(0, p.Unknown));
        Assert.Equal(2, rig.DispenseCounts().Count()); // the interrupted dispense was never sent again
    }

    [Fact]
    public async Task A_dispense_the_device_never_received_is_not_settled_by_an_older_last_status()
    {
        using var rig = new Rig(driver: Durable);
        Assert.Equal(DispenseCompletion.Ok, (await rig.Dispense(4)).Completion);
        rig.Emulator.IgnoreNextCommands(1);
        var lost = await rig.Dispense(4);
        Assert.Equal(DispenseCompletion.Timeout, lost.Completion);

        rig.Restart();
        var counters = await rig.Dispenser.ReadCountersAsync(CancellationToken.None);
        // LAST_STATUS repeats the first dispense (4 presented): it cannot be told from the lost one, so those 4 stay unknown.
        Assert.Equal(new PositionMovement(1, 4, 0, 4), counters!.Positions[0]);
        Assert.Equal(496, rig.Emulator.CassetteCount(1));
    }

    [Fact]
    public async Task The_next_dispense_settles_a_command_left_in_flight_first()
    {
        using var rig = new Rig(driver: Durable);
        rig.Emulator.AckWithoutResponse(1);
        Assert.Equal(DispenseCompletion.Timeout, (await rig.Dispense(0, 6)).Completion);
        Assert.Equal(DispenseCompletion.Ok, (await rig.Dispense(0, 2)).Completion);
        var counters = await rig.Dispenser.ReadCountersAsync(CancellationToken.None);
        Assert.Equal(new PositionMovement(2, 8, 0, 0), counters!.Positions[1]);
    }

    [Fact]
    public async Task Without_a_counter_file_there_are_no_counters()
    {
        using var rig = new Rig();
        Assert.Null(await rig.Dispenser.ReadCountersAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_corrupt_counter_file_is_an_error_never_reset()
    {
        await File.WriteAllTextAsync(CounterFile, "{ torn");
        var options = Rig.FastOptions("/dev/null");
        options.CounterFile = CounterFile;
        Assert.Throws<PuloonCounterFileException>(() => Lcdm4000Dispenser.Create(options));
        Assert.Equal("{ torn", await File.ReadAllTextAsync(CounterFile));
    }
}
