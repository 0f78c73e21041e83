using CardlessAtm.Devices.Dispenser;
using static CardlessAtm.Devices.Tests.TestUnits;

namespace CardlessAtm.Devices.Tests.Dispenser;

/// <summary>The framework's accounting of present/take/retract over the simulated dispenser (issue 19).</summary>
public class PresentRetractTests
{
    [Fact]
    public async Task A_retract_moves_the_notes_from_presented_to_the_retract_bin_and_not_back_into_the_cassette()
    {
        using var atm = await Harness.CreateAsync();
        atm.Device.Faults.NotesNotTaken = true;
        var dispensed = await atm.Dispenser.DispenseAsync(atm.Dispenser.Denominate(Eur(170)).Mix!, CancellationToken.None);
        Assert.Equal(ExitState.NotesPresent, await atm.Dispenser.ReadExitAsync(CancellationToken.None));

        var retract = await atm.Dispenser.RetractAsync(dispensed.Movements, CancellationToken.None);

        Assert.Equal((RetractCompletion.Ok, true, Eur(170)), (retract.Completion, retract.Counted, retract.ValueIn(Eur(0).Currency)));
        var units = atm.Dispenser.CashUnits.Where(u => u.Counters.Retracted > 0).ToList();
        Assert.Equal(3, units.Sum(u => u.Counters.Retracted));
        Assert.All(units, u => Assert.Equal((0, u.InitialCount - u.Counters.Retracted), (u.Counters.Presented, u.Count)));
        Assert.Equal(Eur(170), units.Aggregate(Eur(0), (sum, u) => sum + u.RetractedValue));
        Assert.Equal((3, 0), (atm.Device.RetractBin, atm.Device.NotesAtExit));
        Assert.Equal(ExitState.Empty, await atm.Dispenser.ReadExitAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_retract_of_an_empty_exit_changes_nothing()
    {
        using var atm = await Harness.CreateAsync();
        var dispensed = await atm.Dispenser.DispenseAsync(atm.Dispenser.Denominate(Eur(50)).Mix!, CancellationToken.None);
        await atm.Dispenser.WaitForTakenAsync(CancellationToken.None); // the default customer takes the notes at once

        var retract = await atm.Dispenser.RetractAsync(dispensed.Movements, CancellationToken.None);

        Assert.Equal(RetractCompletion.NothingToRetract, retract.Completion);
        Assert.Empty(retract.Units);
        Assert.Equal(1, atm.Dispenser.CashUnits.Sum(u => u.Counters.Presented));
        Assert.Equal(0, atm.Dispenser.CashUnits.Sum(u => u.Counters.Retracted));
    }

    [Fact]
    public async Task Waiting_for_a_customer_who_does_not_take_the_notes_ends_only_by_cancellation_or_a_late_take()
    {
        using var atm = await Harness.CreateAsync();
        atm.Device.Faults.NotesNotTaken = true;
        await atm.Dispenser.DispenseAsync(atm.Dispenser.Denominate(Eur(50)).Mix!, CancellationToken.None);
        using var cancel = new CancellationTokenSource();

        var waiting = atm.Dispenser.WaitForTakenAsync(cancel.Token);
        await Task.Delay(50);
        Assert.False(waiting.IsCompleted);
        atm.Device.TakeNotes();

        await waiting.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(ExitState.Empty, await atm.Dispenser.ReadExitAsync(CancellationToken.None));
    }

    [Fact]
    public async Task The_retracted_counter_survives_a_restart_and_an_older_state_file_without_it_loads_as_zero()
    {
        var directory = Directory.CreateTempSubdirectory("cardless-atm-retract-");
        try
        {
            var path = Path.Combine(directory.FullName, "cash-units.json");
            using (var atm = await Harness.CreateAsync(store: new JsonFileCashUnitStore(path)))
            {
                atm.Device.Faults.NotesNotTaken = true;
                var dispensed = await atm.Dispenser.DispenseAsync(atm.Dispenser.Denominate(Eur(50)).Mix!, CancellationToken.None);
                await atm.Dispenser.RetractAsync(dispensed.Movements, CancellationToken.None);
            }

            using (var restarted = await Harness.CreateAsync(store: new JsonFileCashUnitStore(path)))
            {
                Assert.Equal(1, restarted.Dispenser.CashUnits.Sum(u => u.Counters.Retracted));
            }

            await File.WriteAllTextAsync(path, (await File.ReadAllTextAsync(path)).Replace("\"Retracted\": 1", "\"Unused\": 0", StringComparison.Ordinal).Replace(",\n    \"Retracted\": 0", string.Empty, StringComparison.Ordinal));
            Assert.DoesNotContain("Retracted", await File.ReadAllTextAsync(path), StringComparison.Ordinal);
            using var old = await Harness.CreateAsync(store: new JsonFileCashUnitStore(path));
            Assert.All(old.Dispenser.CashUnits, u => Assert.Equal(0, u.Counters.Retracted));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_device_without_the_capability_reports_none_and_its_retract_changes_nothing()
    {
        using var atm = await Harness.CreateAsync(presenting: PresentCapability.None);
        var dispensed = await atm.Dispenser.DispenseAsync(atm.Dispenser.Denominate(Eur(50)).Mix!, CancellationToken.None);

        var retract = await atm.Dispenser.RetractAsync(dispensed.Movements, CancellationToken.None);

        Assert.Equal(PresentCapability.None, atm.Dispenser.Presenting);
        Assert.StartsWith("no exit sensor", atm.Dispenser.Presenting.Describe(), StringComparison.Ordinal);
        Assert.Equal(ExitState.Unknown, await atm.Dispenser.ReadExitAsync(CancellationToken.None));
        Assert.Equal(RetractCompletion.Failed, retract.Completion);
        Assert.Equal(1, atm.Dispenser.CashUnits.Sum(u => u.Counters.Presented));
    }
}
