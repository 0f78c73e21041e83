using CardlessAtm.Cli.Commands;
using CardlessAtm.Cli.Rigs;
using CardlessAtm.Devices;
using CardlessAtm.Devices.Configuration;
using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Keypad;
using CardlessAtm.Devices.Lcdm2000;
using CardlessAtm.Devices.RaspberryPi.Display;
using CardlessAtm.Devices.RaspberryPi.Keypad;
using CardlessAtm.Devices.RaspberryPi.Sensors;
using CardlessAtm.Devices.Status;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Cli.Tests;

/// <summary>The firmware-sim rig: the Pi registration over emulated buses, with the rig's settings under the user's.</summary>
public sealed class FirmwareSimRigTests : IDisposable
{
    private readonly DirectoryInfo _state = Directory.CreateTempSubdirectory("cardless-atm-rig-test-");
    private readonly FirmwareSimRig _rig = FirmwareSimRig.Start();

    [Fact]
    public async Task Every_device_of_the_rig_is_a_Pi_driver_on_firmware_sim_and_answers()
    {
        using var services = Build([]);

        var devices = services.GetRequiredService<AtmDevices>();
        await devices.Dispenser.RefreshStatusAsync(CancellationToken.None); // the terminal asks the LCDM-2000 at start

        var display = Assert.IsType<MirroredDisplay>(devices.Display);
        Assert.Equal(DeviceState.Online, display.Status.Device);
        Assert.Equal(DeviceState.Online, display.SecondaryStatus.Device);
        Assert.IsType<MatrixKeypad>(devices.Keypad);
        Assert.IsType<GpioFaultSensors>(devices.Sensors);
        Assert.IsType<Lcdm2000Dispenser>(services.GetRequiredService<IDispenserDevice>());
        var verdict = devices.FaultCheck.Check(Money.Of(8000, "EUR"));
        Assert.True(verdict.IsReady, string.Join("; ", verdict.Reasons.Select(r => r.LogText)));
        Assert.True(_rig.MirrorLcd.DisplayOn);
        Assert.Empty(_rig.Buses.Refusals);
    }

    [Fact]
    public void A_wrong_SPI_chip_select_in_configuration_fails_start_up_naming_the_setting()
    {
        const string setting = "Devices:Display:Ili934x:SpiChipSelect";
        using var services = Build(new() { [setting] = "1" });

        var error = Assert.Throws<DeviceConfigurationException>(() => services.GetRequiredService<AtmDevices>());

        Assert.Equal(setting, error.Setting);
        Assert.Contains($"Configuration error in {setting}:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_wrong_mirror_LCD_address_is_a_warning_naming_the_setting_and_the_TFT_serves_alone()
    {
        var loggers = new CapturingLoggers();
        using var services = Build(new() { ["Devices:Display:CharacterLcd:I2cAddress"] = "63" }, loggers);

        var display = services.GetRequiredService<AtmDevices>().Display;

        Assert.IsType<Ili934xDisplay>(display);
        var warning = Assert.Single(loggers.Lines, l => l.StartsWith("Warning:", StringComparison.Ordinal) && l.Contains("mirror LCD", StringComparison.Ordinal));
        Assert.Contains("Devices:Display:CharacterLcd", warning, StringComparison.Ordinal);
        Assert.Contains("I2cAddress 0x3F", warning, StringComparison.Ordinal);
        Assert.Contains("/dev/i2c-1: nothing acknowledges address 0x3F", _rig.Buses.Refusals);
    }

    [Fact]
    public void A_terminal_process_gives_its_rig_the_emulator_timings_and_the_jam_in_configuration()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["FirmwareSim:Lcdm2000:NoteInterval"] = "00:00:00.400",
            [FirmwareSimRig.JamAfterNotesSetting] = "1",
        }).Build();

        var options = FirmwareSimRig.DispenserOptions(configuration, out var jam);

        Assert.Equal(TimeSpan.FromMilliseconds(400), options.NoteInterval);
        Assert.Equal(FirmwareSimRig.NotesPerCassette, options.UpperNotes); // the rig's defaults under the setting
        Assert.Equal(1, jam);
        FirmwareSimRig.DispenserOptions(new ConfigurationBuilder().Build(), out var none);
        Assert.Null(none);
    }

    [Theory]
    [InlineData("FirmwareSim:Faults:JamAfterNotes", "one", "FirmwareSim:Faults:JamAfterNotes")]
    [InlineData("FirmwareSim:Lcdm2000:UpperNotes", "-5", "FirmwareSim:Lcdm2000")]
    public void A_bad_rig_fault_setting_is_a_configuration_error_naming_it(string key, string value, string setting)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [key] = value }).Build();

        var error = Assert.Throws<DeviceConfigurationException>(() => FirmwareSimRig.DispenserOptions(configuration, out _));

        Assert.Equal(setting, error.Setting);
    }

    [Fact]
    public async Task A_key_tapped_on_the_matrix_reaches_the_terminal_through_the_keypad_driver()
    {
        using var services = Build([]);
        var keypad = services.GetRequiredService<AtmDevices>().Keypad;

        Assert.Equal(DeviceState.Online, keypad.Status.Device);
        await Task.Factory.StartNew(() => _rig.Press(AtmKey.D7, AtmKey.Enter), TaskCreationOptions.LongRunning);

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Assert.Equal(AtmKey.D7, (await keypad.ReadKeyAsync(timeout.Token)).Key);
        Assert.Equal(AtmKey.Enter, (await keypad.ReadKeyAsync(timeout.Token)).Key);
    }

    public void Dispose()
    {
        _rig.Dispose();
        _state.Delete(recursive: true);
    }

    private ServiceProvider Build(Dictionary<string, string?> overrides, ILoggerFactory? loggers = null)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(_rig.Settings(_state.FullName))
            .AddInMemoryCollection(overrides)
            .Build();
        var services = new ServiceCollection().AddSingleton(TimeProvider.System);
        if (loggers is not null)
        {
            services.AddSingleton(loggers);
        }

        _rig.AddServices(services);
        return services.AddAtmDevices(configuration, DevicesCommand.AddDeviceKinds).BuildServiceProvider();
    }
}
