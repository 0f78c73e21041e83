using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Simulated;
using Microsoft.Extensions.Logging.Abstractions;
using static CardlessAtm.Devices.Tests.TestUnits;

namespace CardlessAtm.Devices.Tests.Dispenser;

public class CashDispenserTests
{
    [Fact]
    public async Task A_dispense_moves_exactly_the_mix_and_updates_counts_and_counters()
    {
        using var atm = await Harness.CreateAsync();
        var result = await atm.Dispenser.DispenseAsync(atm.Dispenser.Denominate(Eur(170)).Mix!, CancellationToken.None);

        Assert.True(result.IsComplete);
        Assert.Equal(Eur(170), result.Presented);
        var units = atm.Dispenser.CashUnits.ToDictionary(u => u.Id);
        Assert.Equal(99, units["CASS2"].Count);
        Assert.Equal(1, units["CASS2"].Counters.Presented);
        Assert.Equal(100, units["CASS1"].Count);
        Assert.Equal(3, atm.Device.PresentedTotal);
    }

    [Fact]
    public async Task A_jam_reports_what_reached_the_customer_and_what_went_to_the_reject_tray()
    {
        using var atm = await Harness.CreateAsync();
        atm.Device.Faults.JamAfterNotes = 2;
        var mix = new Mix(Eur(80), [new MixItem("CASS2", 2, Eur(20), 4)]);

        var result = await atm.Dispenser.DispenseAsync(mix, CancellationToken.None);

        Assert.Equal(DispenseCompletion.Jam, result.Completion);
        Assert.Equal(Eur(40), result.Presented);
        var movement = Assert.Single(result.Movements);
        Assert.Equal((2, 1, 0), (movement.Presented, movement.Rejected, movement.Unknown));
        var unit = atm.Dispenser.CashUnits.Single(u => u.Id == "CASS2");
        Assert.Equal(97, unit.Count); // two presented + one rejected left the cassette
        Assert.Equal(unit.Count, atm.Device.NotesAt(2)); // accounting matches the physical cassette
    }

    [Fact]
    public async Task A_timeout_marks_notes_unknown_never_guessed()
    {
        using var atm = await Harness.CreateAsync();
        atm.Device.Faults.NoAnswer = true;
        var result = await atm.Dispenser.DispenseAsync(new Mix(Eur(100), [new MixItem("CASS3", 3, Eur(50), 2)]), CancellationToken.None);

        Assert.Equal(DispenseCompletion.Timeout, result.Completion);
        Assert.True(result.HasUnknown);
        Assert.Equal(Eur(0), result.Presented);
        Assert.Equal(2, atm.Dispenser.CashUnits.Single(u => u.Id == "CASS3").Counters.Unknown);
    }

    [Theory]
    [InlineData(DispenseCompletion.CassetteMissing)]
    [InlineData(DispenseCompletion.PickFailure)]
    [InlineData(DispenseCompletion.ShutterFault)]
    public async Task Device_faults_are_results_with_exact_movements(DispenseCompletion fault)
    {
        using var atm = await Harness.CreateAsync();
        switch (fault)
        {
            case DispenseCompletion.CassetteMissing: atm.Device.Faults.RemovedCassettes.Add(3); break;
            case DispenseCompletion.PickFailure: atm.Device.Faults.PickFailures.Add(3); break;
            default: atm.Device.Faults.ShutterJam = true; break;
        }

        var mix = new Mix(Eur(120), [new MixItem("CASS2", 2, Eur(20), 1), new MixItem("CASS3", 3, Eur(50), 2)]);
        var result = await atm.Dispenser.DispenseAsync(mix, CancellationToken.None);

        Assert.Equal(fault, result.Completion);
        Assert.False(result.IsComplete);
        var expectedPresented = fault == DispenseCompletion.ShutterFault ? Eur(0) : Eur(20);
        Assert.Equal(expectedPresented, result.Presented);
        foreach (var unit in atm.Dispenser.CashUnits)
        {
            Assert.Equal(unit.Count, atm.Device.NotesAt(unit.Position));
        }
    }

    [Fact]
    public async Task A_mix_naming_an_unknown_cash_unit_is_refused_and_nothing_moves()
    {
        using var atm = await Harness.CreateAsync();
        var error = await Assert.ThrowsAsync<UnknownCashUnitException>(() =>
            atm.Dispenser.DispenseAsync(new Mix(Eur(20), [new MixItem("NOPE", 2, Eur(20), 1)]), CancellationToken.None));
        Assert.Contains("NOPE", error.Message, StringComparison.Ordinal);
        Assert.Contains("CASS1", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, atm.Device.PresentedTotal);
    }

    [Theory]
    [InlineData("sum")]
    [InlineData("too-many")]
    [InlineData("limit")]
    [InlineData("wrong-denomination")]
    [InlineData("locked")]
    public async Task Invalid_mixes_are_refused_and_nothing_moves(string kind)
    {
        using var atm = await Harness.CreateAsync(Standard(tens: 100, twenties: 3, fifties: 100, hundreds: 100), maxNotes: 10);
        if (kind == "locked")
        {
            await atm.Dispenser.SetLockedAsync("CASS1", locked: true, CancellationToken.None);
        }

        var mix = kind switch
        {
            "sum" => new Mix(Eur(50), [new MixItem("CASS2", 2, Eur(20), 2)]),
            "too-many" => new Mix(Eur(80), [new MixItem("CASS2", 2, Eur(20), 4)]),
            "limit" => new Mix(Eur(110), [new MixItem("CASS1", 1, Eur(10), 11)]),
            "wrong-denomination" => new Mix(Eur(50), [new MixItem("CASS2", 2, Eur(50), 1)]),
            _ => new Mix(Eur(10), [new MixItem("CASS1", 1, Eur(10), 1)]),
        };
        var before = atm.Dispenser.CashUnits;

        await Assert.ThrowsAsync<InvalidMixException>(() => atm.Dispenser.DispenseAsync(mix, CancellationToken.None));

        Assert.Equal(0, atm.Device.PresentedTotal);
        Assert.Equal(before.Select(u => u.Count), atm.Dispenser.CashUnits.Select(u => u.Count));
    }

    [Fact]
    public async Task Counts_survive_a_restart_through_the_state_file()
    {
        var directory = Directory.CreateTempSubdirectory("cardless-atm-test-");
        try
        {
            var path = Path.Combine(directory.FullName, "cash-units.json");
            using (var atm = await Harness.CreateAsync(store: new JsonFileCashUnitStore(path)))
            {
                await atm.Dispenser.DispenseAsync(atm.Dispenser.Denominate(Eur(250)).Mix!, CancellationToken.None);
            }

            using var restarted = await Harness.CreateAsync(store: new JsonFileCashUnitStore(path));
            var units = restarted.Dispenser.CashUnits.ToDictionary(u => u.Id);
            Assert.Equal(98, units["CASS4"].Count);
            Assert.Equal(99, units["CASS3"].Count);
            Assert.Equal(2, units["CASS4"].Counters.Presented);
            Assert.False(File.Exists(path + ".tmp"));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_corrupt_state_file_is_a_clear_error_naming_the_file()
    {
        var path = Path.Combine(Path.GetTempPath(), $"cardless-atm-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(path, "{ not json");
        try
        {
            var error = await Assert.ThrowsAsync<CashUnitStoreException>(() => Harness.CreateAsync(store: new JsonFileCashUnitStore(path)));
            Assert.Contains(path, error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Replenish_sets_counts_and_refuses_bad_input()
    {
        using var atm = await Harness.CreateAsync();
        await atm.Dispenser.ReplenishAsync("CASS1", 1500, CancellationToken.None);
        var unit = atm.Dispenser.CashUnits.Single(u => u.Id == "CASS1");
        Assert.Equal((1500, 1500), (unit.Count, unit.InitialCount));

        await Assert.ThrowsAsync<UnknownCashUnitException>(() => atm.Dispenser.ReplenishAsync("CASS9", 10, CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => atm.Dispenser.ReplenishAsync("CASS1", -1, CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => atm.Dispenser.ReplenishAsync("CASS1", 5000, CancellationToken.None));
        Assert.Equal(1500, atm.Dispenser.CashUnits.Single(u => u.Id == "CASS1").Count);
    }

    [Fact]
    public async Task Cash_unit_status_follows_count_and_thresholds()
    {
        using var atm = await Harness.CreateAsync([Unit("A", 1, 20, 7, low: 5)]);
        Assert.Equal(CashUnitStatus.Good, atm.Dispenser.CashUnits[0].Status);
        await atm.Dispenser.DispenseAsync(new Mix(Eur(40), [new MixItem("A", 1, Eur(20), 2)]), CancellationToken.None);
        Assert.Equal(CashUnitStatus.Low, atm.Dispenser.CashUnits[0].Status);
        await atm.Dispenser.DispenseAsync(new Mix(Eur(100), [new MixItem("A", 1, Eur(20), 5)]), CancellationToken.None);
        Assert.Equal(CashUnitStatus.Empty, atm.Dispenser.CashUnits[0].Status);
    }

    [Fact]
    public async Task Duplicate_positions_are_a_configuration_error()
    {
        var error = await Assert.ThrowsAsync<ConfigurationException>(() => Harness.CreateAsync([Unit("A", 1, 20, 7), Unit("B", 1, 50, 7)]));
        Assert.Equal("Devices:Dispenser:CashUnits:1", error.Setting);
        Assert.Contains("position 1 is used by both 'A' and 'B'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_layout_without_units_or_with_an_id_twice_is_a_configuration_error_naming_the_setting()
    {
        var empty = Assert.Throws<ConfigurationException>(() => CashUnitLayout.Create([]));
        Assert.Equal("Devices:Dispenser:CashUnits", empty.Setting);
        Assert.Contains("at least one cash unit", empty.Message, StringComparison.Ordinal);

        var twice = Assert.Throws<ConfigurationException>(() => CashUnitLayout.Create([Unit("A", 1, 20, 7), Unit("A", 2, 50, 7)], "Atm:Units"));
        Assert.Equal("Atm:Units:1", twice.Setting);
        Assert.Contains("cash unit id 'A' is used twice", twice.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_unit_at_a_position_the_device_lacks_is_a_configuration_error_naming_the_unit()
    {
        var device = new SimulatedDispenserDevice(new Dictionary<int, int> { [1] = 7, [2] = 7 }, 40, TimeProvider.System);
        var layout = CashUnitLayout.Create([Unit("A", 1, 20, 7), Unit("B", 3, 50, 7)]);

        var error = await Assert.ThrowsAsync<ConfigurationException>(() => CashDispenser.OpenAsync(
            device, layout, new InMemoryCashUnitStore(), MixAlgorithm.MinimumNotes, null, NullLogger.Instance, CancellationToken.None));

        Assert.Equal("Devices:Dispenser:CashUnits:1:Position", error.Setting);
        Assert.Contains("cash unit 'B' is at position 3, but the Simulated dispenser has positions 1 to 2", error.Message, StringComparison.Ordinal);
    }
}
