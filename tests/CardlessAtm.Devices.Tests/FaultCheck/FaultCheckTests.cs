using CardlessAtm.Devices.FaultCheck;
using CardlessAtm.Devices.Sensors;
using CardlessAtm.Devices.Simulated;
using CardlessAtm.Devices.Status;
using FsCheck.Xunit;
using static CardlessAtm.Devices.Tests.TestUnits;

namespace CardlessAtm.Devices.Tests.FaultCheck;

public class FaultCheckTests
{
    [Fact]
    public async Task A_healthy_atm_is_ready_with_the_mix()
    {
        using var atm = await Harness.CreateAsync();
        var verdict = atm.FaultCheck.Check(Eur(170));
        Assert.True(verdict.IsReady, string.Join("; ", verdict.Reasons));
        Assert.Equal(Eur(170), verdict.Mix!.Amount);
        Assert.Empty(verdict.Reasons);
    }

    public static TheoryData<string, FaultCode> SensorFaults => new()
    {
        { "SafeDoor", FaultCode.SafeDoorOpen },
        { "CabinetDoor", FaultCode.CabinetDoorOpen },
        { "Tamper", FaultCode.TamperDetected },
    };

    [Theory]
    [MemberData(nameof(SensorFaults))]
    public async Task An_alerting_sensor_stops_dispensing(string sensor, FaultCode code)
    {
        using var atm = await Harness.CreateAsync();
        atm.Sensors.Set(sensor, SensorState.Alert);
        AssertOnly(atm.FaultCheck.Check(Eur(50)), code);
    }

    [Fact]
    public async Task A_required_sensor_that_is_not_wired_is_not_taken_as_ok()
    {
        using var atm = await Harness.CreateAsync();
        var sensors = new SimulatedFaultSensors([new SimulatedSensorOptions { Id = "SafeDoor", Kind = SensorKind.SafeDoor }]);
        var check = new AtmFaultCheck(atm.Dispenser, sensors, atm.Display, new FaultCheckOptions());
        var verdict = check.Check(Eur(50));
        Assert.False(verdict.IsReady);
        Assert.Equal([FaultCode.RequiredSensorNotAvailable, FaultCode.RequiredSensorNotAvailable], verdict.Reasons.Select(r => r.Code));
        Assert.Contains(verdict.Reasons, r => r.LogText.Contains("CabinetDoor", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Sensors_offline_stop_dispensing()
    {
        using var atm = await Harness.CreateAsync();
        atm.Sensors.Status.Device = DeviceState.Offline;
        AssertOnly(atm.FaultCheck.Check(Eur(50)), FaultCode.SensorsOffline);
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(false, false)]
    public async Task An_unverified_display_serves_only_when_the_fault_check_accepts_unverified(bool accept, bool ready)
    {
        using var atm = await Harness.CreateAsync();
        atm.Display.Status.Device = DeviceState.Unverified;
        var check = new AtmFaultCheck(atm.Dispenser, atm.Sensors, atm.Display, new FaultCheckOptions { AcceptUnverifiedDisplay = accept });
        var verdict = check.Check(Eur(50));
        Assert.Equal(ready, verdict.IsReady);
        if (!ready)
        {
            AssertOnly(verdict, FaultCode.DisplayOffline);
        }
    }

    [Fact]
    public async Task Display_offline_stops_dispensing_because_no_qr_can_be_shown()
    {
        using var atm = await Harness.CreateAsync();
        atm.Display.Status.Device = DeviceState.Offline;
        AssertOnly(atm.FaultCheck.Check(Eur(50)), FaultCode.DisplayOffline);
    }

    [Fact]
    public async Task Dispenser_offline_hardware_error_and_stop_are_reasons()
    {
        using var atm = await Harness.CreateAsync();
        atm.Device.Faults.NoAnswer = true;
        await atm.Dispenser.RefreshStatusAsync(CancellationToken.None);
        Assert.Contains(FaultCode.DispenserOffline, atm.FaultCheck.Check(Eur(50)).Reasons.Select(r => r.Code));

        atm.Device.Faults.NoAnswer = false;
        await atm.Dispenser.RefreshStatusAsync(CancellationToken.None);
        atm.Device.Status.Device = DeviceState.HardwareError;
        Assert.Contains(FaultCode.DispenserHardwareError, atm.FaultCheck.Check(Eur(50)).Reasons.Select(r => r.Code));

        atm.Device.Status.Device = DeviceState.Online;
        atm.Device.Status.Dispenser = Devices.Dispenser.DispenserCondition.Stop;
        AssertOnly(atm.FaultCheck.Check(Eur(50)), FaultCode.DispenserStopped);
    }

    [Fact]
    public async Task A_jam_leaves_notes_in_the_transport_until_reset()
    {
        using var atm = await Harness.CreateAsync();
        atm.Device.Faults.JamAfterNotes = 1;
        await atm.Dispenser.DispenseAsync(atm.Dispenser.Denominate(Eur(30)).Mix!, CancellationToken.None);
        var reasons = atm.FaultCheck.Check(Eur(50)).Reasons.Select(r => r.Code).ToList();
        Assert.Contains(FaultCode.TransportNotEmpty, reasons);
        Assert.Contains(FaultCode.DispenserStopped, reasons);

        atm.Device.Faults.Clear();
        await atm.Dispenser.ResetAsync(CancellationToken.None);
        Assert.True(atm.FaultCheck.Check(Eur(50)).IsReady);
    }

    [Fact]
    public async Task Shutter_open_and_jammed_are_reasons()
    {
        using var atm = await Harness.CreateAsync();
        atm.Device.Status.Shutter = Devices.Dispenser.ShutterState.Open;
        AssertOnly(atm.FaultCheck.Check(Eur(50)), FaultCode.ShutterOpen);
        atm.Device.Status.Shutter = Devices.Dispenser.ShutterState.Jammed;
        AssertOnly(atm.FaultCheck.Check(Eur(50)), FaultCode.ShutterJammed);
    }

    [Theory]
    [InlineData(0, FaultCode.AmountNotPositive)]
    [InlineData(15, FaultCode.NoSuchDenomination)]
    [InlineData(100_000, FaultCode.NotEnoughNotes)]
    [InlineData(4_010, FaultCode.OverNoteLimit)]
    public async Task Amounts_the_cash_cannot_make_are_reasons(long amount, FaultCode code)
    {
        using var atm = await Harness.CreateAsync();
        var verdict = atm.FaultCheck.Check(Eur(amount));
        AssertOnly(verdict, code);
        Assert.False(string.IsNullOrWhiteSpace(verdict.Reasons[0].LogText));
    }

    [Fact]
    public async Task A_currency_the_dispenser_does_not_hold_is_a_reason()
    {
        using var atm = await Harness.CreateAsync();
        AssertOnly(atm.FaultCheck.Check(Money.FromMajor(20, "GBP")), FaultCode.CurrencyNotHeld);
    }

    [Fact]
    public async Task A_removed_cassette_is_not_counted_on()
    {
        using var atm = await Harness.CreateAsync(Standard(tens: 0, twenties: 0, fifties: 10, hundreds: 0));
        atm.Sensors.Set(SensorKind.CassettePresent, SensorState.Alert, position: 3);
        Assert.Equal(Devices.Dispenser.CashUnitStatus.Missing, atm.Dispenser.CashUnits.Single(u => u.Position == 3).Status);
        AssertOnly(atm.FaultCheck.Check(Eur(50)), FaultCode.NotEnoughNotes);
    }

    [Fact]
    public async Task Every_reason_is_reported_not_just_the_first()
    {
        using var atm = await Harness.CreateAsync();
        atm.Sensors.Set("SafeDoor", SensorState.Alert);
        atm.Sensors.Set("Tamper", SensorState.Alert);
        atm.Display.Status.Device = DeviceState.Offline;
        var verdict = atm.FaultCheck.Check(Eur(15));
        Assert.Equal(
            new[] { FaultCode.SafeDoorOpen, FaultCode.TamperDetected, FaultCode.DisplayOffline, FaultCode.NoSuchDenomination }.Order(),
            verdict.Reasons.Select(r => r.Code).Order());
        Assert.All(verdict.Reasons, r => Assert.False(string.IsNullOrWhiteSpace(r.LogText)));
    }

    /// <summary>The verdict is ready exactly when no device fault is set and the mix exists; a ready verdict's mix makes the amount.</summary>
    [Property(MaxTest = 150)]
    public bool Ready_iff_no_fault_and_a_mix_exists(bool safeOpen, bool tamper, bool displayOff, short amountEur)
    {
        using var atm = Harness.CreateAsync().GetAwaiter().GetResult();
        if (safeOpen)
        {
            atm.Sensors.Set("SafeDoor", SensorState.Alert);
        }

        if (tamper)
        {
            atm.Sensors.Set("Tamper", SensorState.Alert);
        }

        if (displayOff)
        {
            atm.Display.Status.Device = DeviceState.Offline;
        }

        var amount = Eur(amountEur % 2000);
        var verdict = atm.FaultCheck.Check(amount);
        var mixExists = atm.Dispenser.Denominate(amount).Succeeded;
        var expectReady = !safeOpen && !tamper && !displayOff && mixExists;
        return verdict.IsReady == expectReady && (!verdict.IsReady || verdict.Mix!.Amount == amount) && (verdict.IsReady || verdict.Reasons.Count > 0);
    }

    private static void AssertOnly(FaultVerdict verdict, FaultCode code)
    {
        Assert.False(verdict.IsReady);
        Assert.Equal([code], verdict.Reasons.Select(r => r.Code));
        Assert.Null(verdict.Mix);
    }
}
