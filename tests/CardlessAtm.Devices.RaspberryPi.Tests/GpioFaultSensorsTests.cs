using System.Device.Gpio;
using CardlessAtm.Devices.RaspberryPi.Sensors;
using CardlessAtm.Devices.Sensors;
using CardlessAtm.Devices.Status;

namespace CardlessAtm.Devices.RaspberryPi.Tests;

/// <summary>The GPIO sensor driver on the virtual board's switches; debounce on the board's fake clock.</summary>
public class GpioFaultSensorsTests
{
    private static readonly TimeSpan Debounce = TimeSpan.FromMilliseconds(30);

    [Fact]
    public void Opening_and_closing_the_safe_door_raises_one_change_each()
    {
        using var rig = new Rig();
        var door = rig.Board.AddSwitch("SafeDoor", 17, PinValue.Low, closed: true);
        using var sensors = Open(rig, Sensor("SafeDoor", SensorKind.SafeDoor, 17));
        var changes = Record(sensors);
        Assert.Equal(SensorState.Normal, sensors.Status.StateOf(SensorKind.SafeDoor));

        door.Set(false);
        rig.Clock.Advance(Debounce - TimeSpan.FromMilliseconds(1));
        Assert.Equal(SensorState.Normal, sensors.Status.StateOf(SensorKind.SafeDoor));
        rig.Clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(SensorState.Alert, sensors.Status.StateOf(SensorKind.SafeDoor));

        door.Bounce(20, TimeSpan.FromMilliseconds(5), finallyClosed: true);
        rig.Clock.Advance(Debounce);
        Assert.Equal(SensorState.Normal, sensors.Status.StateOf(SensorKind.SafeDoor));

        Assert.Equal(
            [new StatusChange("GPIO fault sensors", "SafeDoor", SensorState.Normal, SensorState.Alert), new StatusChange("GPIO fault sensors", "SafeDoor", SensorState.Alert, SensorState.Normal)],
            changes);
    }

    [Fact]
    public void A_removed_cassette_is_reported_for_its_position()
    {
        using var rig = new Rig();
        rig.Board.AddSwitch("Cassette1", 23, PinValue.Low, closed: true);
        var cassette2 = rig.Board.AddSwitch("Cassette2", 27, PinValue.Low, closed: true);
        using var sensors = Open(
            rig,
            Sensor("Cassette1", SensorKind.CassettePresent, 23, position: 1),
            Sensor("Cassette2", SensorKind.CassettePresent, 27, position: 2));

        cassette2.Set(false);
        rig.Clock.Advance(Debounce);

        Assert.Equal(SensorState.Normal, sensors.Status.StateOf(SensorKind.CassettePresent, 1));
        Assert.Equal(SensorState.Alert, sensors.Status.StateOf(SensorKind.CassettePresent, 2));
        Assert.Equal(new SensorReading("Cassette2", SensorKind.CassettePresent, SensorState.Alert, 2), sensors.Status.Readings[1]);
    }

    [Fact]
    public void A_bounce_that_ends_where_it_began_raises_nothing()
    {
        using var rig = new Rig();
        var shutter = rig.Board.AddSwitch("Shutter", 22, PinValue.Low, closed: true);
        using var sensors = Open(rig, Sensor("Shutter", SensorKind.ShutterClosed, 22));
        var changes = Record(sensors);
        shutter.Bounce(20, TimeSpan.FromMilliseconds(5), finallyClosed: true);
        rig.Clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Empty(changes);
        Assert.Equal(SensorState.Normal, sensors.Status.StateOf(SensorKind.ShutterClosed));
    }

    [Fact]
    public void A_flapping_sensor_is_reported_once_as_alert_and_recovers_when_it_settles()
    {
        using var rig = new Rig();
        var tamper = rig.Board.AddSwitch("Tamper", 4, PinValue.Low, closed: true);
        using var sensors = Open(rig, Sensor("Tamper", SensorKind.Tamper, 4));
        var changes = Record(sensors);

        // A loose contact: a change every 10 ms (never holding 30 ms) for 3 s.
        for (var i = 0; i < 300; i++)
        {
            tamper.Set(!tamper.IsClosed);
            rig.Clock.Advance(TimeSpan.FromMilliseconds(10));
        }

        Assert.Equal(SensorState.Alert, sensors.Status.StateOf(SensorKind.Tamper));
        Assert.Single(changes);

        tamper.Set(true);
        rig.Clock.Advance(Debounce);
        Assert.Equal(SensorState.Normal, sensors.Status.StateOf(SensorKind.Tamper));
        Assert.Equal(2, changes.Count);
    }

    [Fact]
    public void A_sensor_the_rig_lacks_reports_not_available_never_normal()
    {
        using var rig = new Rig();
        rig.Board.AddSwitch("SafeDoor", 17, PinValue.Low, closed: true);
        using var sensors = Open(
            rig,
            Sensor("SafeDoor", SensorKind.SafeDoor, 17),
            new GpioSensorOptions { Id = "CabinetDoor", Kind = SensorKind.CabinetDoor });

        Assert.Equal(SensorState.NotAvailable, sensors.Status.StateOf(SensorKind.CabinetDoor));
        Assert.Equal(SensorState.NotAvailable, sensors.Status.StateOf(SensorKind.Tamper));
        Assert.Equal(SensorState.NotAvailable, sensors.Status.StateOf(SensorKind.CassettePresent, 1));
        Assert.Equal(["SafeDoor", "CabinetDoor"], sensors.Status.Readings.Select(r => r.Id));
        Assert.Equal(DeviceState.Online, sensors.Status.Device);
    }

    [Fact]
    public void A_pin_that_cannot_be_opened_is_not_available_and_the_board_is_in_error()
    {
        using var rig = new Rig(pinCount: 20);
        rig.Board.AddSwitch("SafeDoor", 17, PinValue.Low, closed: true);
        using var sensors = Open(rig, Sensor("SafeDoor", SensorKind.SafeDoor, 17), Sensor("Tamper", SensorKind.Tamper, 25));
        Assert.Equal(SensorState.NotAvailable, sensors.Status.StateOf(SensorKind.Tamper));
        Assert.Equal(SensorState.Normal, sensors.Status.StateOf(SensorKind.SafeDoor));
        Assert.Equal(DeviceState.HardwareError, sensors.Status.Device);
    }

    [Fact]
    public void Active_low_sensors_follow_their_configured_level()
    {
        using var rig = new Rig();

        // A cassette switch to 3V3 with a pull-down: High while the cassette is in, so Low is the alert level.
        var cassette = rig.Board.AddSwitch("Cassette1", 23, PinValue.High, closed: true);
        using var sensors = Open(rig, new GpioSensorOptions { Id = "Cassette1", Kind = SensorKind.CassettePresent, Position = 1, Pin = 23, Pull = InputPull.Down, AlertLevel = SignalLevel.Low });
        Assert.Equal(SensorState.Normal, sensors.Status.StateOf(SensorKind.CassettePresent, 1));
        cassette.Set(false);
        rig.Clock.Advance(Debounce);
        Assert.Equal(SensorState.Alert, sensors.Status.StateOf(SensorKind.CassettePresent, 1));
    }

    [Fact]
    public void Disposing_releases_the_pins()
    {
        using var rig = new Rig();
        rig.Board.AddSwitch("SafeDoor", 17, PinValue.Low, closed: true);
        var sensors = Open(rig, Sensor("SafeDoor", SensorKind.SafeDoor, 17));
        Assert.Equal(PinMode.InputPullUp, rig.Board.ModeOf(17));
        sensors.Dispose();
        Assert.Null(rig.Board.ModeOf(17));
    }

    [Theory]
    [InlineData("Cassette", SensorKind.CassettePresent, null, 17, "Devices:Sensors:Gpio:Sensors:1:Position")]
    [InlineData("Tamper", SensorKind.Tamper, 2, 4, "Devices:Sensors:Gpio:Sensors:1:Position")]
    [InlineData("SafeDoor", SensorKind.Tamper, null, 4, "Devices:Sensors:Gpio:Sensors:1:Id")]
    [InlineData("Tamper", SensorKind.Tamper, null, 17, "Devices:Sensors:Gpio:Sensors:1:Pin")]
    [InlineData("Tamper", SensorKind.Tamper, null, 28, "Devices:Sensors:Gpio:Sensors:1:Pin")]
    public void Bad_sensor_settings_name_the_setting(string id, SensorKind kind, int? position, int pin, string setting)
    {
        var options = new GpioFaultSensorsOptions
        {
            Sensors = [Sensor("SafeDoor", SensorKind.SafeDoor, 17), new GpioSensorOptions { Id = id, Kind = kind, Position = position, Pin = pin }],
        };
        var error = Assert.Throws<ConfigurationException>(() => new GpioFaultSensorsOptionsValidator("Devices:Sensors:Gpio").ThrowIfInvalid(options));
        Assert.Equal(setting, error.Setting);
        var result = new GpioFaultSensorsOptionsValidator("Devices:Sensors:Gpio").Validate(null, options);
        Assert.StartsWith(setting + ": ", Assert.Single(result.Failures!), StringComparison.Ordinal);
    }

    [Fact]
    public void Sensors_built_without_DI_refuse_bad_options_under_the_options_type_name()
    {
        using var rig = new Rig();
        var options = new GpioFaultSensorsOptions { Sensors = [Sensor("SafeDoor", SensorKind.SafeDoor, 17)], DebounceMilliseconds = 0 };
        var error = Assert.Throws<ConfigurationException>(() => new GpioFaultSensors(rig.Gpio, options, rig.Clock));
        Assert.Equal("GpioFaultSensorsOptions:DebounceMilliseconds", error.Setting);
    }

    private static GpioSensorOptions Sensor(string id, SensorKind kind, int pin, int? position = null) =>
        new() { Id = id, Kind = kind, Pin = pin, Position = position, Pull = InputPull.Up, AlertLevel = SignalLevel.High };

    private static GpioFaultSensors Open(Rig rig, params GpioSensorOptions[] sensors) =>
        new(rig.Gpio, new GpioFaultSensorsOptions { Sensors = [.. sensors], DebounceMilliseconds = (int)Debounce.TotalMilliseconds, FlappingAfterMilliseconds = 2000 }, rig.Clock);

    private static List<StatusChange> Record(GpioFaultSensors sensors)
    {
        var changes = new List<StatusChange>();
        sensors.Status.Changed += (_, change) => changes.Add(change);
        return changes;
    }
}
