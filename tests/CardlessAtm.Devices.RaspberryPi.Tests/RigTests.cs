using System.Device.Gpio;
using System.Device.Spi;
using CardlessAtm.Devices.Display;
using CardlessAtm.Devices.RaspberryPi.Display;
using CardlessAtm.Devices.RaspberryPi.Keypad;
using CardlessAtm.Devices.RaspberryPi.Sensors;
using CardlessAtm.Devices.Sensors;
using CardlessAtm.Devices.Status;
using CardlessAtm.Qr.Symbols;

namespace CardlessAtm.Devices.RaspberryPi.Tests;

/// <summary>
/// On a Raspberry Pi wired with the default pins of docs/hardware/raspberry-pi.md; skipped unless
/// CARDLESS_ATM_RIG=pi. They prove the drivers open the real buses; a person checks the panel.
/// </summary>
public class RigTests
{
    [RigFact]
    public async Task The_TFT_shows_a_QR_screen_on_the_rig()
    {
        using var gpio = new GpioController();
        var options = new Ili934xDisplayOptions();
        using var display = new Ili934xDisplay(SpiDevice.Create(options.CreateSpiConnectionSettings()), gpio, options);
        var qr = QrSymbolEncoder.Encode("CQ1.RIG.TEST", QrErrorCorrection.M, 4).Modules;
        await display.ShowAsync(new Screen("Rig test", ["Scan me"], qr, SecondsLeft: 30), default);
        Assert.Equal(DeviceState.Online, display.Status.Device);
        await display.ShowAsync(new Screen("Rig test", ["Scan me"], qr, SecondsLeft: 29), default);
        Assert.Single(display.LastUpdateRectangles);
    }

    [RigFact]
    public void The_keypad_and_the_safe_door_open_on_the_rig()
    {
        using var gpio = new GpioController();
        using var keypad = new MatrixKeypad(gpio, new MatrixKeypadOptions());
        Assert.Equal(DeviceState.Online, keypad.Status.Device);
        using var sensors = new GpioFaultSensors(gpio, new GpioFaultSensorsOptions
        {
            Sensors = [new GpioSensorOptions { Id = "SafeDoor", Kind = SensorKind.SafeDoor, Pin = 17 }],
        });
        Assert.Equal(DeviceState.Online, sensors.Status.Device);
        Assert.NotEqual(SensorState.NotAvailable, sensors.Status.StateOf(SensorKind.SafeDoor));
    }
}
