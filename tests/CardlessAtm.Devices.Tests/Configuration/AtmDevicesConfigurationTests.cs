using CardlessAtm.Devices.Configuration;
using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Simulated;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace CardlessAtm.Devices.Tests.Configuration;

public sealed class AtmDevicesConfigurationTests : IDisposable
{
    private readonly string _stateFile = Path.Combine(Path.GetTempPath(), $"cardless-atm-{Guid.NewGuid():N}.json");

    public void Dispose() => File.Delete(_stateFile);

    [Fact]
    public async Task Simulated_configuration_resolves_every_device()
    {
        var devices = await ResolveAsync([]);
        Assert.IsType<SimulatedDisplay>(devices.Display);
        Assert.IsType<SimulatedKeypad>(devices.Keypad);
        Assert.Equal(4, devices.Dispenser.CashUnits.Count);
        Assert.True(devices.FaultCheck.Check(Money.FromMajor(80, "EUR")).IsReady);
    }

    [Fact]
    public void A_second_AddAtmDevices_call_registers_nothing_twice_and_its_kinds_join_the_first()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>()).Build();
        var once = new ServiceCollection().AddAtmDevices(configuration, kinds => kinds.AddSimulatedDevices());
        var twice = new ServiceCollection()
            .AddAtmDevices(configuration, kinds => kinds.AddSimulatedDevices())
            .AddAtmDevices(configuration, kinds => kinds.AddSimulatedDevices());

        Assert.Equal(once.Count, twice.Count);
        Assert.All(twice.GroupBy(d => d.ServiceType), g => Assert.Single(g));
    }

    [Theory]
    [InlineData("Devices:Dispenser:Kind", "Lcdm9000", "Devices:Dispenser:Kind", "allowed: Simulated")]
    [InlineData("Devices:Display:Kind", "", "Devices:Display:Kind", "is not set")]
    [InlineData("Devices:Dispenser:CashUnits:1:Denomination", "20.005", "Devices:Dispenser:CashUnits:1:Denomination", "at most 2 decimal places")]
    [InlineData("Devices:Dispenser:CashUnits:1:Denomination", "0", "Devices:Dispenser:CashUnits:1:Denomination", "greater than zero")]
    [InlineData("Devices:Dispenser:CashUnits:0:Currency", "EURO", "Devices:Dispenser:CashUnits:0:Currency", "not a known ISO 4217")]
    [InlineData("Devices:Dispenser:CashUnits:0:Position", "0", "Devices:Dispenser:CashUnits:0:Position", "between 1 and 16")]
    [InlineData("Devices:Dispenser:CashUnits:0:Count", "lots", "Devices:Dispenser:CashUnits:0", "lots")]
    [InlineData("Devices:Dispenser:CashUnits:0:Id", "bad id!", "Devices:Dispenser:CashUnits:0:Id", "letters, digits")]
    [InlineData("Devices:Dispenser:CashUnits:0:Count", "3000", "Devices:Dispenser:CashUnits:0:Count", "capacity")]
    [InlineData("Devices:Dispenser:CashUnits:1:Position", "1", "Devices:Dispenser:CashUnits:1", "position 1 is used by both")]
    [InlineData("Devices:Dispenser:CashUnits:2:Id", "CASS1", "Devices:Dispenser:CashUnits:2", "used twice")]
    [InlineData("Devices:Dispenser:MixAlgorithm", "Greedy", "Devices:Dispenser:MixAlgorithm", "MinimumNotes, EqualEmptying")]
    [InlineData("Devices:FaultCheck:RequiredSensors:0", "Door", "Devices:FaultCheck:RequiredSensors:0", "SafeDoor")]
    [InlineData("Devices:Dispenser:Simulated:MaxNotesPerDispense", "0", "Devices:Dispenser:Simulated:MaxNotesPerDispense", "greater than zero")]
    public async Task Bad_settings_stop_start_up_naming_the_setting(string key, string value, string setting, string hint)
    {
        var error = await Assert.ThrowsAsync<ConfigurationException>(() => ResolveAsync(new() { [key] = value }));
        Assert.Equal(setting, error.Setting);
        Assert.Contains(hint, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void No_cash_unit_is_a_configuration_error_naming_the_list()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Devices:Dispenser:Kind"] = "Simulated" }).Build();
        var error = Assert.Throws<ConfigurationException>(() => AtmDevicesBuilder.ReadCashUnits(configuration.GetSection("Devices:Dispenser")));
        Assert.Equal("Devices:Dispenser:CashUnits", error.Setting);
        Assert.Contains("at least one cash unit", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_cash_dispenser_resolves_only_once_the_devices_are_opened()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>()).Build();
        using var services = new ServiceCollection().AddAtmDevices(configuration, kinds => kinds.AddSimulatedDevices()).BuildServiceProvider();

        var error = Assert.Throws<InvalidOperationException>(() => services.GetRequiredService<ICashDispenser>());
        Assert.Contains("OpenAtmDevicesAsync", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_state_file_must_be_configured()
    {
        var error = await Assert.ThrowsAsync<ConfigurationException>(() => ResolveAsync(new() { ["Devices:Dispenser:StateFile"] = string.Empty }));
        Assert.Equal("Devices:Dispenser:StateFile", error.Setting);
    }

    private async Task<AtmDevices> ResolveAsync(Dictionary<string, string?> overrides)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Devices:Display:Kind"] = "Simulated",
            ["Devices:Keypad:Kind"] = "Simulated",
            ["Devices:Sensors:Kind"] = "Simulated",
            ["Devices:Dispenser:Kind"] = "Simulated",
            ["Devices:Dispenser:StateFile"] = _stateFile,
            ["Devices:Dispenser:CashUnits:0:Id"] = "CASS1",
            ["Devices:Dispenser:CashUnits:0:Position"] = "1",
            ["Devices:Dispenser:CashUnits:0:Currency"] = "EUR",
            ["Devices:Dispenser:CashUnits:0:Denomination"] = "10",
            ["Devices:Dispenser:CashUnits:0:Count"] = "100",
            ["Devices:Dispenser:CashUnits:1:Id"] = "CASS2",
            ["Devices:Dispenser:CashUnits:1:Position"] = "2",
            ["Devices:Dispenser:CashUnits:1:Currency"] = "EUR",
            ["Devices:Dispenser:CashUnits:1:Denomination"] = "20.00",
            ["Devices:Dispenser:CashUnits:1:Count"] = "100",
            ["Devices:Dispenser:CashUnits:2:Id"] = "CASS3",
            ["Devices:Dispenser:CashUnits:2:Position"] = "3",
            ["Devices:Dispenser:CashUnits:2:Currency"] = "EUR",
            ["Devices:Dispenser:CashUnits:2:Denomination"] = "50",
            ["Devices:Dispenser:CashUnits:2:Count"] = "100",
            ["Devices:Dispenser:CashUnits:3:Id"] = "CASS4",
            ["Devices:Dispenser:CashUnits:3:Position"] = "4",
            ["Devices:Dispenser:CashUnits:3:Currency"] = "EUR",
            ["Devices:Dispenser:CashUnits:3:Denomination"] = "100",
            ["Devices:Dispenser:CashUnits:3:Count"] = "100",
        };
        foreach (var (key, value) in overrides)
        {
            settings[key] = value;
        }

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection().AddAtmDevices(configuration, kinds => kinds.AddSimulatedDevices()).BuildServiceProvider();
        return await services.OpenAtmDevicesAsync();
    }
}
