using System.Globalization;
using CardlessAtm.Cli.Commands;
using CardlessAtm.Devices.Configuration;
using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Lcdm4000;
using CardlessAtm.FirmwareSim.Lcdm4000;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CardlessAtm.Cli.Tests;

/// <summary>The CLI's device layer knows the LCDM-4000: <c>Devices:Dispenser:Kind=Lcdm4000</c> pays out of four cassettes on the emulator.</summary>
public sealed class Lcdm4000KindTests : IDisposable
{
    private static readonly (string Id, int Denomination)[] Units = [("CASS1", 5), ("CASS2", 10), ("CASS3", 20), ("CASS4", 50)];
    private readonly DirectoryInfo _state = Directory.CreateTempSubdirectory("cardless-atm-lcdm4000-kind-");
    private readonly Lcdm4000Emulator _emulator = new(Lcdm4000EmulatorOptions.Instant());

    public Lcdm4000KindTests() => _emulator.Start();

    [Fact]
    public async Task Kind_Lcdm4000_dispenses_from_all_four_cassettes_and_the_counts_agree_with_the_device()
    {
        using var services = Build([]);
        var devices = await services.OpenAtmDevicesAsync();
        await devices.Dispenser.RefreshStatusAsync(CancellationToken.None);
        Assert.IsType<Lcdm4000Dispenser>(services.GetRequiredService<IDispenserDevice>());
        Assert.Equal(4, devices.Dispenser.CashUnits.Count);

        var amount = Money.Of(8500, "EUR"); // 85.00 = 50 + 20 + 10 + 5 with the fewest notes
        var verdict = devices.FaultCheck.Check(amount);
        Assert.True(verdict.IsReady, string.Join("; ", verdict.Reasons.Select(r => r.LogText)));
        var mix = devices.Dispenser.Denominate(amount).Mix!;
        var result = await devices.Dispenser.DispenseAsync(mix, CancellationToken.None);

        Assert.True(result.IsComplete, result.Detail);
        Assert.Equal(amount, result.Presented);
        Assert.Equal(4, _emulator.PresentedCount);
        for (var position = 1; position <= 4; position++)
        {
            Assert.Equal(499, _emulator.CassetteCount(position));
            Assert.Equal(499, devices.Dispenser.CashUnits.Single(u => u.Position == position).Count);
        }

        var counters = await devices.Dispenser.ReadDeviceCountersAsync(CancellationToken.None);
        Assert.NotNull(counters);
    }

    [Fact]
    public async Task A_bad_LCDM_4000_setting_fails_start_up_naming_the_setting()
    {
        using var services = Build(new() { ["Devices:Dispenser:Lcdm4000:PortName"] = "" });

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => services.OpenAtmDevicesAsync());

        var (exit, line) = CliErrors.Describe(error);
        Assert.Equal(CliErrors.ConfigurationExit, exit);
        Assert.StartsWith("Configuration error in Devices:Dispenser:Lcdm4000:PortName is required", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("500,500,500", "four cassettes")]
    [InlineData("500,x,500,500", "'x' (cassette 2) is not a note count")]
    public void Cassettes_option_names_what_is_wrong(string value, string problem)
    {
        var error = Assert.ThrowsAny<Exception>(() => FirmwareSimCommand.ParseCassettes(value));

        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
        Assert.Equal([1, 2, 3, 4], FirmwareSimCommand.ParseCassettes("1, 2,3 ,4"));
    }

    public void Dispose()
    {
        _emulator.Dispose();
        _state.Delete(recursive: true);
    }

    private ServiceProvider Build(Dictionary<string, string?> overrides)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Devices:Display:Kind"] = "Simulated",
            ["Devices:Keypad:Kind"] = "Simulated",
            ["Devices:Sensors:Kind"] = "Simulated",
            ["Devices:Dispenser:Kind"] = Lcdm4000Registration.Kind,
            ["Devices:Dispenser:Lcdm4000:PortName"] = _emulator.DevicePath,
            ["Devices:Dispenser:Lcdm4000:CounterFile"] = Path.Combine(_state.FullName, "lcdm4000-counters.json"),
            ["Devices:Dispenser:StateFile"] = Path.Combine(_state.FullName, "cash-units.json"),
        };
        for (var i = 0; i < Units.Length; i++)
        {
            settings[$"Devices:Dispenser:CashUnits:{i}:Id"] = Units[i].Id;
            settings[$"Devices:Dispenser:CashUnits:{i}:Position"] = (i + 1).ToString(CultureInfo.InvariantCulture);
            settings[$"Devices:Dispenser:CashUnits:{i}:Currency"] = "EUR";
            settings[$"Devices:Dispenser:CashUnits:{i}:Denomination"] = Units[i].Denomination.ToString(CultureInfo.InvariantCulture);
            settings[$"Devices:Dispenser:CashUnits:{i}:Count"] = "500";
        }

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).AddInMemoryCollection(overrides).Build();
        return new ServiceCollection().AddSingleton(TimeProvider.System)
            .AddAtmDevices(configuration, DevicesCommand.AddDeviceKinds).BuildServiceProvider();
    }
}
