using CardlessAtm.Cli.Commands;
using CardlessAtm.Cli.Rigs;
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

        var devices = await services.OpenAtmDevicesAsync();
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
    public async Task A_wrong_SPI_chip_select_in_configuration_fails_start_up_naming_the_setting()
    {
        const string setting = "Devices:Display:Ili934x:SpiChipSelect";
        using var services = Build(new() { [setting] = "1" });

        var error = await Assert.ThrowsAsync<ConfigurationException>(() => services.OpenAtmDevicesAsync());

        Assert.Equal(setting, error.Setting);
        Assert.Contains($"Configuration error in {setting}:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_mirror_LCD_address_is_a_warning_naming_the_setting_and_the_TFT_serves_alone()
    {
        var loggers = new CapturingLoggers();
        using var services = Build(new() { ["Devices:Display:CharacterLcd:I2cAddress"] = "63" }, loggers);

        var display = (await services.OpenAtmDevicesAsync()).Display;

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

        var options = RigDispenserOptions.Read(configuration);

        Assert.Equal(RigDispenserModel.Lcdm2000, options.Model); // the default model
        Assert.Equal(TimeSpan.FromMilliseconds(400), options.Lcdm2000.NoteInterval);
        Assert.Equal(FirmwareSimRig.NotesPerCassette, options.Lcdm2000.UpperNotes); // the rig's defaults under the setting
        Assert.Equal(1, options.JamAfterNotes);
        Assert.Null(RigDispenserOptions.Read(new ConfigurationBuilder().Build()).JamAfterNotes);
    }

    [Fact]
    public void With_model_Lcdm4000_the_rig_reads_the_LCDM_4000_emulator_section_and_the_same_jam_setting()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            [FirmwareSimRig.DispenserModelSetting] = "Lcdm4000",
            ["FirmwareSim:Lcdm4000:NoteInterval"] = "00:00:00.250",
            ["FirmwareSim:Lcdm2000:UpperNotes"] = "-5", // the other model's section is not read
            [FirmwareSimRig.JamAfterNotesSetting] = "2",
        }).Build();

        var options = RigDispenserOptions.Read(configuration);

        Assert.Equal(RigDispenserModel.Lcdm4000, options.Model);
        Assert.Equal(TimeSpan.FromMilliseconds(250), options.Lcdm4000.NoteInterval);
        Assert.Equal([500, 500, 500, 500], options.Lcdm4000.Notes);
        Assert.Equal(2, options.JamAfterNotes);

        // --dispenser lcdm2000 wins over the setting: then the LCDM-2000's section is read, and its bad count is an error.
        var error = Assert.Throws<ConfigurationException>(() => RigDispenserOptions.Read(configuration, RigDispenserModel.Lcdm2000));
        Assert.Equal("FirmwareSim:Lcdm2000", error.Setting);
    }

    [Theory]
    [InlineData("FirmwareSim:Faults:JamAfterNotes", "one", "FirmwareSim:Faults:JamAfterNotes")]
    [InlineData("FirmwareSim:Lcdm2000:UpperNotes", "-5", "FirmwareSim:Lcdm2000")]
    [InlineData("FirmwareSim:Dispenser:Model", "Lcdm9000", "FirmwareSim:Dispenser:Model")]
    public void A_bad_rig_fault_setting_is_a_configuration_error_naming_it(string key, string value, string setting)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [key] = value }).Build();

        var error = Assert.Throws<ConfigurationException>(() => RigDispenserOptions.Read(configuration));

        Assert.Equal(setting, error.Setting);
        Assert.StartsWith($"Configuration error in {setting}:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_bad_LCDM_4000_emulator_setting_on_the_rig_names_its_section()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            [FirmwareSimRig.DispenserModelSetting] = "lcdm4000",
            ["FirmwareSim:Lcdm4000:MaxNotesPerCommand"] = "0",
        }).Build();

        var error = Assert.Throws<ConfigurationException>(() => RigDispenserOptions.Read(configuration));

        Assert.Equal("FirmwareSim:Lcdm4000", error.Setting);
        Assert.Contains("MaxNotesPerCommand", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_dispenser_option_needs_the_rig()
    {
        Assert.Null(FirmwareSimRig.ParseDispenserOption(null, onRig: false));
        Assert.Equal(RigDispenserModel.Lcdm4000, FirmwareSimRig.ParseDispenserOption("lcdm4000", onRig: true));
        var error = Assert.Throws<UsageException>(() => FirmwareSimRig.ParseDispenserOption("lcdm4000", onRig: false));
        Assert.Contains("--rig firmware-sim", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Devices_status_says_the_rig_LCDM_2000_has_no_exit_sensor()
    {
        using var services = Build([]);
        var devices = await services.OpenAtmDevicesAsync();
        await devices.Dispenser.RefreshStatusAsync(CancellationToken.None);

        var text = DevicesCommand.DescribeDevices(devices);

        Assert.Contains("  present/retract: no exit sensor: notes count as taken when presented (no wait, no retract)", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_tapped_on_the_matrix_reaches_the_terminal_through_the_keypad_driver()
    {
        using var services = Build([]);
        var keypad = (await services.OpenAtmDevicesAsync()).Keypad;

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
