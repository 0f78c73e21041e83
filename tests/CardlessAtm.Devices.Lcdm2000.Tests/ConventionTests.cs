using CardlessAtm.Devices.Configuration;
using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Lcdm2000.Protocol;
using CardlessAtm.FirmwareSim.Lcdm2000;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace CardlessAtm.Devices.Lcdm2000.Tests;

/// <summary>
/// The two details public sources disagree on (0x56 field order, meaning of a set cassette bit) are settings;
/// the emulator is run with each convention and the driver with the matching setting must read it right.
/// </summary>
public class ConventionTests
{
    [Theory]
    [InlineData(EmulatedCombinedAnswerOrder.CassetteByCassette, Lcdm2000CombinedAnswerOrder.CassetteByCassette)]
    [InlineData(EmulatedCombinedAnswerOrder.CountByCount, Lcdm2000CombinedAnswerOrder.CountByCount)]
    public async Task The_combined_answer_is_read_in_the_configured_field_order(EmulatedCombinedAnswerOrder unit, Lcdm2000CombinedAnswerOrder setting)
    {
        using var rig = new Rig(e => e.CombinedAnswerOrder = unit, o => o.CombinedAnswerOrder = setting);
        rig.Emulator.InjectDoubleNote(2); // upper: 9 checked, 7 exited, 2 rejected — every count differs
        var result = await rig.Dispense(7, 3);
        Assert.Equal(DispenseCompletion.Ok, result.Completion);
        Assert.Equal(new PositionMovement(1, 7, 2, 0), Rig.Of(result, 1));
        Assert.Equal(new PositionMovement(2, 3, 0, 0), Rig.Of(result, 2));
        Assert.Equal([0x56], rig.Emulator.ReceivedCommands.Select(f => f[3]));
        Assert.Equal((491, 497), (rig.Emulator.UpperCount, rig.Emulator.LowerCount));
    }

    [Fact]
    public async Task The_default_order_misreads_a_unit_that_answers_count_by_count()
    {
        // Why the setting exists: the same unit read with the other guess reports a shortfall that did not happen.
        using var rig = new Rig(e => e.CombinedAnswerOrder = EmulatedCombinedAnswerOrder.CountByCount);
        var result = await rig.Dispense(7, 3);
        Assert.NotEqual(new PositionMovement(1, 7, 0, 0), Rig.Of(result, 1));
        Assert.Equal(10, rig.Emulator.PresentedCount);
    }

    [Theory]
    [InlineData(EmulatedCassetteBit.SetWhenMissing, Lcdm2000CassetteSensorBit.SetWhenMissing)]
    [InlineData(EmulatedCassetteBit.SetWhenPresent, Lcdm2000CassetteSensorBit.SetWhenPresent)]
    public async Task A_pulled_cassette_is_read_with_the_configured_bit_meaning(EmulatedCassetteBit unit, Lcdm2000CassetteSensorBit setting)
    {
        using var rig = new Rig(e => e.CassetteBit = unit, o => o.CassetteSensorBit = setting);
        Assert.Null(await rig.Dispenser.RefreshStatusAsync(CancellationToken.None));
        var missing = Lcdm2000Sensors.UpperCassetteMissing | Lcdm2000Sensors.LowerCassetteMissing;
        Assert.Equal(Lcdm2000Sensors.None, rig.Dispenser.Sensors!.Value & missing);
        Assert.Equal(DispenserCondition.Ok, rig.Dispenser.Status.Dispenser);

        rig.Emulator.SetCassettePresent(2, false);
        Assert.Null(await rig.Dispenser.RefreshStatusAsync(CancellationToken.None));
        Assert.Equal(Lcdm2000Sensors.LowerCassetteMissing, rig.Dispenser.Sensors!.Value & missing);
        Assert.Equal(DispenserCondition.Attention, rig.Dispenser.Status.Dispenser);
        Assert.Equal("lower cassette missing", rig.Dispenser.Status.LastFault);
    }

    [Fact]
    public void Both_settings_bind_from_configuration_by_name()
    {
        var options = new Lcdm2000Options();
        AtmDevicesBuilder.Bind(Section(new() { ["CombinedAnswerOrder"] = "CountByCount", ["CassetteSensorBit"] = "SetWhenPresent" }), options);
        Assert.Equal(Lcdm2000CombinedAnswerOrder.CountByCount, options.CombinedAnswerOrder);
        Assert.Equal(Lcdm2000CassetteSensorBit.SetWhenPresent, options.CassetteSensorBit);
        Assert.Equal(Lcdm2000CombinedAnswerOrder.CassetteByCassette, new Lcdm2000Options().CombinedAnswerOrder);
        Assert.Equal(Lcdm2000CassetteSensorBit.SetWhenMissing, new Lcdm2000Options().CassetteSensorBit);
    }

    [Fact]
    public void Values_outside_the_two_conventions_are_refused_naming_the_setting()
    {
        var options = new Lcdm2000Options { PortName = "/dev/ttyUSB0", CombinedAnswerOrder = (Lcdm2000CombinedAnswerOrder)7, CassetteSensorBit = (Lcdm2000CassetteSensorBit)9 };
        var errors = new Lcdm2000OptionsValidator("Devices:Dispenser:Lcdm2000").Problems(options);
        Assert.Equal(2, errors.Count);
        Assert.StartsWith("Devices:Dispenser:Lcdm2000:CombinedAnswerOrder is 7", errors[0]);
        Assert.Contains("CassetteByCassette, CountByCount", errors[0]);
        Assert.StartsWith("Devices:Dispenser:Lcdm2000:CassetteSensorBit is 9", errors[1]);
    }

    [Fact]
    public void A_misspelt_convention_fails_the_dispenser_at_start_up_naming_the_setting()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Devices:Dispenser:Kind"] = "Lcdm2000",
            ["Devices:Dispenser:Lcdm2000:PortName"] = "/dev/ttyUSB0",
            ["Devices:Dispenser:Lcdm2000:CombinedAnswerOrder"] = "Sideways",
        }).Build();
        using var services = new ServiceCollection().AddAtmDevices(configuration, k => k.AddLcdm2000Dispenser()).BuildServiceProvider();
        var error = Assert.Throws<InvalidOperationException>(() => { _ = services.GetRequiredService<IDispenserDevice>(); });
        Assert.StartsWith("Failed to convert configuration value 'Sideways'", error.Message, StringComparison.Ordinal);
        Assert.Contains("'Devices:Dispenser:Lcdm2000:CombinedAnswerOrder'", error.Message, StringComparison.Ordinal);
    }

    private static IConfigurationSection Section(Dictionary<string, string?> values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.ToDictionary(kv => "Lcdm2000:" + kv.Key, kv => kv.Value)).Build().GetSection("Lcdm2000");
}
