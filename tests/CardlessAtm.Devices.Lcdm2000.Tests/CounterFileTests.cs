using System.Text.Json;
using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Puloon;

namespace CardlessAtm.Devices.Lcdm2000.Tests;

/// <summary>The driver's durable counters against the emulated firmware on a real pseudo-terminal.</summary>
public sealed class CounterFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cardless-lcdm-counters-").FullName;

    private string CounterPath => Path.Combine(_dir, "lcdm2000-counters.json");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static PositionMovement At(DeviceCounters counters, int position) => Assert.Single(counters.Positions, p => p.Position == position);

    private static Task<DeviceCounters?> ReadAfterRestart(string path)
    {
        // A new driver on the same file, as after a restart of the process (nothing is opened).
        using var restarted = Lcdm2000Dispenser.Create(new Lcdm2000Options { PortName = "/dev/null-lcdm", CounterFile = path });
        return restarted.ReadCountersAsync(CancellationToken.None);
    }

    [Fact]
    public async Task After_a_two_command_dispense_the_counters_equal_what_the_emulator_moved_and_survive_a_restart()
    {
        using var rig = new Rig(driver: o => o.CounterFile = CounterPath);
        var before = await rig.Dispenser.ReadCountersAsync(CancellationToken.None);
        Assert.NotNull(before);
        Assert.All(before.Positions, p => Assert.Equal(0, p.Picked));

        rig.Emulator.InjectDoubleNote(pickNumber: 3);
        var result = await rig.Dispense(70, 30); // 60 notes per command: two commands
        Assert.Equal(DispenseCompletion.Ok, result.Completion);
        Assert.True(rig.Dispenser.LinkCounters.ResponseFrames >= 2);

        var after = await rig.Dispenser.ReadCountersAsync(CancellationToken.None);
        var moved = after!.Since(before).ToDictionary(m => m.Position);
        Assert.Equal(new PositionMovement(1, 70, 2, 0), moved[1]);
        Assert.Equal(new PositionMovement(2, 30, 0, 0), moved[2]);

        // Exactly what the emulated mechanism did.
        Assert.Equal(500 - rig.Emulator.UpperCount, moved[1].Picked);
        Assert.Equal(500 - rig.Emulator.LowerCount, moved[2].Picked);
        Assert.Equal(rig.Emulator.PresentedCount, moved[1].Presented + moved[2].Presented);
        Assert.Equal(rig.Emulator.RejectTrayCount, moved[1].Rejected + moved[2].Rejected);

        var reread = await ReadAfterRestart(CounterPath);
        Assert.Equal(after.Positions, reread!.Positions);
        Assert.False(File.Exists(CounterPath + ".tmp"));
    }

    [Fact]
    public async Task A_dispense_interrupted_in_its_second_command_leaves_the_first_certain_and_the_second_unknown()
    {
        using var rig = new Rig(
            emulator: e =>
            {
                e.NoteInterval = TimeSpan.FromMilliseconds(150);
                e.StartDelay = TimeSpan.FromMilliseconds(200);
            },
            driver: o =>
            {
                o.CounterFile = CounterPath;
                o.MaxNotesPerCommand = 5; // 8 notes: a command of 5, then one of 3
                o.DispenseBaseTimeout = TimeSpan.FromSeconds(2);
            });
        var before = (await rig.Dispenser.ReadCountersAsync(CancellationToken.None))!;
        var dispense = rig.Dispense(8);

        // Wait until the file on disk shows the second command in flight, then "crash": keep that file as it is.
        var crashCopy = Path.Combine(_dir, "at-crash.json");
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!SecondCommandInFlight())
        {
            Assert.True(DateTime.UtcNow < deadline, "the second command never showed as in flight");
            Assert.False(dispense.IsCompleted, "the dispense ended before the second command was seen in flight");
            await Task.Delay(5);
        }

        File.Copy(CounterPath, crashCopy);

        // And the device stops answering: the second command runs, its answer never comes.
        rig.Emulator.AckWithoutResponse(1);
        var result = await dispense;

        // What a process restarted from the crash copy learns: 5 certain, 3 unknown.
        var atCrash = (await ReadAfterRestart(crashCopy))!;
        Assert.Equal(new PositionMovement(1, 5, 0, 3), Assert.Single(atCrash.Since(before)));

        // What the living driver says when the answer never came: the same.
        Assert.Equal(DispenseCompletion.Timeout, result.Completion);
        Assert.Equal(new PositionMovement(1, 5, 0, 3), Rig.Of(result, 1));
        Assert.Equal(500 - 8, rig.Emulator.UpperCount); // the mechanism did pick all 8: only the driver could not know
        var now = (await rig.Dispenser.ReadCountersAsync(CancellationToken.None))!;
        Assert.Equal(new PositionMovement(1, 5, 0, 3), Assert.Single(now.Since(before)));
        Assert.Equal(now.Positions, (await ReadAfterRestart(CounterPath))!.Positions);

        bool SecondCommandInFlight()
        {
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllBytes(CounterPath));
                return doc.RootElement.GetProperty("inFlight") is { ValueKind: JsonValueKind.Object } f && f.GetProperty("upper").GetInt32() == 3;
            }
            catch (FileNotFoundException)
            {
                return false;
            }
        }
    }

    [Fact]
    public async Task A_command_in_flight_at_a_crash_stays_unknown_after_the_next_dispense()
    {
        File.WriteAllText(CounterPath, $$"""
            { "format": "{{Lcdm2000CounterFile.Format}}",
              "positions": [ { "position": 1, "presented": 40, "rejected": 1, "unknown": 0 },
                             { "position": 2, "presented": 7, "rejected": 0, "unknown": 0 } ],
              "inFlight": { "command": "0x45", "upper": 6, "lower": 0 } }
            """);
        using var rig = new Rig(driver: o => o.CounterFile = CounterPath);
        var atStart = (await rig.Dispenser.ReadCountersAsync(CancellationToken.None))!;
        Assert.Equal(new PositionMovement(1, 40, 1, 6), At(atStart, 1));

        Assert.Equal(DispenseCompletion.Ok, (await rig.Dispense(4)).Completion);
        var after = (await rig.Dispenser.ReadCountersAsync(CancellationToken.None))!;
        Assert.Equal(new PositionMovement(1, 44, 1, 6), At(after, 1));
        Assert.Equal(new PositionMovement(2, 7, 0, 0), At(after, 2));
        Assert.Equal(new PositionMovement(1, 4, 0, 0), Assert.Single(after.Since(atStart)));
    }

    [Theory]
    [InlineData("torn")]
    [InlineData("garbage")]
    [InlineData("negative")]
    [InlineData("format")]
    public async Task A_torn_or_corrupt_counter_file_is_a_typed_error_naming_the_path_and_is_left_as_it_is(string damage)
    {
        using (var rig = new Rig(driver: o => o.CounterFile = CounterPath))
        {
            await rig.Dispense(3);
        }

        var good = File.ReadAllText(CounterPath);
        var bad = damage switch
        {
            "torn" => good[..(good.Length / 2)],
            "garbage" => "\0\0\0\0",
            "negative" => good.Replace("\"presented\": 3", "\"presented\": -3", StringComparison.Ordinal),
            _ => good.Replace(Lcdm2000CounterFile.Format, "something/else", StringComparison.Ordinal),
        };
        Assert.NotEqual(good, bad);
        File.WriteAllText(CounterPath, bad);

        var error = Assert.Throws<PuloonCounterFileException>(
            () => Lcdm2000Dispenser.Create(new Lcdm2000Options { PortName = "/dev/null-lcdm", CounterFile = CounterPath }));
        Assert.Equal(CounterPath, error.Path);
        Assert.Contains(CounterPath, error.Message, StringComparison.Ordinal);
        Assert.Equal(bad, File.ReadAllText(CounterPath));
    }

    [Theory]
    [InlineData("counters.json")]
    [InlineData("/tmp/")]
    public void A_counter_file_setting_that_is_not_a_full_file_path_is_refused_naming_the_setting(string value)
    {
        var errors = new Lcdm2000OptionsValidator("Devices:Dispenser:Lcdm2000").Problems(new Lcdm2000Options { PortName = "/dev/ttyUSB0", CounterFile = value });
        Assert.Contains(errors, e => e.Contains("Devices:Dispenser:Lcdm2000:CounterFile", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Without_a_counter_file_the_driver_reports_no_counters()
    {
        using var rig = new Rig();
        Assert.Null(await rig.Dispenser.ReadCountersAsync(CancellationToken.None));
    }
}
