using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Sensors;
using CardlessAtm.Devices.Status;

namespace CardlessAtm.Devices.Tests;

public class StatusTests
{
    [Fact]
    public void Change_events_fire_only_when_a_value_changes()
    {
        var status = new DispenserStatus("Dispenser");
        var changes = new List<string>();
        status.Changed += (_, c) => changes.Add($"{c.Property}:{c.OldValue}->{c.NewValue}");

        status.Shutter = ShutterState.Closed;
        status.Shutter = ShutterState.Closed;
        status.Device = DeviceState.Online;
        status.Device = DeviceState.Online;
        status.Shutter = ShutterState.Open;

        Assert.Equal(["Shutter:NotAvailable->Closed", "Device:Offline->Online", "Shutter:Closed->Open"], changes);
    }

    [Fact]
    public void Sensor_readings_raise_events_only_on_change_and_unwired_sensors_are_not_available()
    {
        var status = new FaultSensorStatus("Sensors");
        var changes = new List<string>();
        status.Changed += (_, c) => changes.Add($"{c.Property}:{c.OldValue}->{c.NewValue}");

        Assert.True(status.Update(new SensorReading("SafeDoor", SensorKind.SafeDoor, SensorState.Normal)));
        Assert.False(status.Update(new SensorReading("SafeDoor", SensorKind.SafeDoor, SensorState.Normal)));
        Assert.True(status.Update(new SensorReading("SafeDoor", SensorKind.SafeDoor, SensorState.Alert)));

        Assert.Equal(["SafeDoor:->Normal", "SafeDoor:Normal->Alert"], changes);
        Assert.Equal(SensorState.Alert, status.StateOf(SensorKind.SafeDoor));
        Assert.Equal(SensorState.NotAvailable, status.StateOf(SensorKind.Tamper));
    }
}
