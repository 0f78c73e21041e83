using CardlessAtm.Devices.Configuration;
using CardlessAtm.Devices.Dispenser;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CardlessAtm.Devices.Lcdm4000.Tests;

/// <summary>The <c>Lcdm4000</c> dispenser kind, bound from <c>Devices:Dispenser:Lcdm4000</c>.</summary>
public class RegistrationTests
{
    private static ServiceProvider Services(Dictionary<string, string?> values)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        return new ServiceCollection().AddAtmDevices(configuration, k => k.AddLcdm4000Dispenser()).BuildServiceProvider();
    }

    [Fact]
    public async Task The_kind_binds_its_section_and_talks_to_the_emulator()
    {
        using var emulator = new FirmwareSim.Lcdm4000.Lcdm4000Emulator(FirmwareSim.Lcdm4000.Lcdm4000EmulatorOptions.Instant());
        emulator.Start();
        using var services = Services(new()
        {
            ["Devices:Dispenser:Kind"] = Lcdm4000Registration.Kind,
            ["Devices:Dispenser:Lcdm4000:PortName"] = emulator.SlavePath,
            ["Devices:Dispenser:Lcdm4000:MaxNotesPerCommand"] = "20",
        });
        var device = Assert.IsType<Lcdm4000Dispenser>(services.GetRequiredService<IDispenserDevice>());
        Assert.Equal(4, device.Info.Positions);
        Assert.Null(await device.RefreshStatusAsync(CancellationToken.None));
    }

    [Fact]
    public void A_bad_setting_fails_the_dispenser_at_start_up_naming_the_setting()
    {
        using var services = Services(new()
        {
            ["Devices:Dispenser:Kind"] = "Lcdm4000",
            ["Devices:Dispenser:Lcdm4000:PortName"] = "/dev/ttyUSB0",
            ["Devices:Dispenser:Lcdm4000:MaxNotesPerCommand"] = "80",
        });
        var error = Assert.Throws<OptionsValidationException>(() => { _ = services.GetRequiredService<IDispenserDevice>(); });
        Assert.Equal(typeof(Lcdm4000Options), error.OptionsType);
        Assert.Contains(error.Failures, f => f.StartsWith("Devices:Dispenser:Lcdm4000:MaxNotesPerCommand is 80", StringComparison.Ordinal));
    }

    [Fact]
    public void The_selected_kind_is_checked_at_start_naming_the_setting()
    {
        using var services = Services(new()
        {
            ["Devices:Dispenser:Kind"] = "Lcdm4000",
            ["Devices:Dispenser:Lcdm4000:PortName"] = "",
        });
        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IStartupValidator>().Validate());
        Assert.Contains(error.Failures, f => f.StartsWith("Devices:Dispenser:Lcdm4000:PortName is required", StringComparison.Ordinal));
    }

    [Fact]
    public void A_kind_that_is_not_selected_does_not_stop_start_up()
    {
        using var services = Services(new()
        {
            ["Devices:Dispenser:Kind"] = "Simulated",
            ["Devices:Dispenser:Lcdm4000:MaxNotesPerCommand"] = "80",
        });
        services.GetService<IStartupValidator>()?.Validate();
    }
}
