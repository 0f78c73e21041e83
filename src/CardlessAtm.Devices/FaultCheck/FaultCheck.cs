using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Display;
using CardlessAtm.Devices.Sensors;
using CardlessAtm.Devices.Status;

namespace CardlessAtm.Devices.FaultCheck;

/// <summary>Machine codes for why the ATM cannot dispense.</summary>
public enum FaultCode
{
    /// <summary>The dispenser is not answering.</summary>
    DispenserOffline,

    /// <summary>The dispenser reports a hardware error.</summary>
    DispenserHardwareError,

    /// <summary>The dispenser is stopped.</summary>
    DispenserStopped,

    /// <summary>Notes are left in the transport.</summary>
    TransportNotEmpty,

    /// <summary>The shutter is open.</summary>
    ShutterOpen,

    /// <summary>The shutter is jammed.</summary>
    ShutterJammed,

    /// <summary>The safe door is open.</summary>
    SafeDoorOpen,

    /// <summary>The cabinet door is open.</summary>
    CabinetDoorOpen,

    /// <summary>The tamper or vibration switch fired.</summary>
    TamperDetected,

    /// <summary>A sensor the configuration requires is not wired or not answering.</summary>
    RequiredSensorNotAvailable,

    /// <summary>The fault sensors are offline.</summary>
    SensorsOffline,

    /// <summary>The display is offline, so no QR can be shown.</summary>
    DisplayOffline,

    /// <summary>The amount is zero or negative.</summary>
    AmountNotPositive,

    /// <summary>No cash unit holds the amount's currency.</summary>
    CurrencyNotHeld,

    /// <summary>The denominations cannot make the amount.</summary>
    NoSuchDenomination,

    /// <summary>Not enough notes in usable cash units.</summary>
    NotEnoughNotes,

    /// <summary>The amount needs more notes than one dispense may present.</summary>
    OverNoteLimit,
}

/// <summary>
/// One reason the ATM cannot dispense: a machine code and a technician's text. The device layer holds no
/// customer text: the terminal renders <see cref="Code"/> in the customer's language.
/// </summary>
/// <param name="Code">Machine code (journal, metrics, the customer text's key).</param>
/// <param name="LogText">Technician text for logs and the journal.</param>
public sealed record FaultReason(FaultCode Code, string LogText);

/// <summary>The fault check's answer for one amount.</summary>
/// <param name="Amount">The amount asked about.</param>
/// <param name="Reasons">Every reason it cannot be dispensed now (empty when ready).</param>
/// <param name="Mix">The mix that would be dispensed, when ready.</param>
public sealed record FaultVerdict(Money Amount, IReadOnlyList<FaultReason> Reasons, Mix? Mix)
{
    /// <summary>Whether the ATM can dispense the amount now.</summary>
    public bool IsReady => Reasons.Count == 0 && Mix is not null;
}

/// <summary>The patent's fault-judgement module: "can this ATM dispense amount X now?"</summary>
public interface IFaultCheck
{
    /// <summary>Checks every device and the cash on hand for the amount. Changes nothing.</summary>
    FaultVerdict Check(Money amount);
}

/// <summary>Which sensors must report "normal" for the ATM to dispense (<c>Devices:FaultCheck</c>).</summary>
public sealed class FaultCheckOptions
{
    /// <summary>
    /// Sensor kinds that must be wired and normal. A required sensor that reports "not available" stops
    /// dispensing: an unwired safe-door switch is not a closed safe door. Default: safe door, cabinet door, tamper.
    /// </summary>
    public IList<SensorKind> RequiredSensors { get; } = [SensorKind.SafeDoor, SensorKind.CabinetDoor, SensorKind.Tamper];

    /// <summary>
    /// Whether a display that cannot be read back (<see cref="DeviceState.Unverified"/>: a TFT with no MISO wire) may
    /// serve customers. Default true: the documented Pi wiring leaves MISO unconnected. Set it false on a rig with
    /// MISO wired, so a panel that stops answering its id read is never trusted to show the QR.
    /// </summary>
    public bool AcceptUnverifiedDisplay { get; set; } = true;
}

/// <summary>Aggregates dispenser, sensors, display and cash on hand into one verdict.</summary>
public sealed class AtmFaultCheck(ICashDispenser dispenser, IFaultSensors sensors, IDisplay display, FaultCheckOptions options) : IFaultCheck
{
    /// <inheritdoc />
    public FaultVerdict Check(Money amount)
    {
        var reasons = new List<FaultReason>();
        CheckDispenser(reasons);
        CheckSensors(reasons);
        if (display.Status.Device != DeviceState.Online && !(display.Status.Device == DeviceState.Unverified && options.AcceptUnverifiedDisplay))
        {
            reasons.Add(new FaultReason(FaultCode.DisplayOffline, $"Display '{display.Capabilities.Name}' is {display.Status.Device}."));
        }

        var mix = dispenser.Denominate(amount);
        if (!mix.Succeeded)
        {
            reasons.Add(ForMixFailure(mix));
        }

        return new FaultVerdict(amount, reasons, reasons.Count == 0 ? mix.Mix : null);
    }

    private static FaultReason ForMixFailure(MixResult mix) => mix.FailureReason switch
    {
        MixFailureReason.AmountNotPositive => new(FaultCode.AmountNotPositive, mix.Explanation!),
        MixFailureReason.CurrencyNotHeld => new(FaultCode.CurrencyNotHeld, mix.Explanation!),
        MixFailureReason.NoSuchDenomination => new(FaultCode.NoSuchDenomination, mix.Explanation!),
        MixFailureReason.NotEnoughNotes => new(FaultCode.NotEnoughNotes, mix.Explanation!),
        MixFailureReason.OverNoteLimit => new(FaultCode.OverNoteLimit, mix.Explanation!),
        _ => throw new InvalidOperationException($"Unhandled mix failure {mix.FailureReason}."),
    };

    private void CheckDispenser(List<FaultReason> reasons)
    {
        var status = dispenser.Status;
        switch (status.Device)
        {
            case DeviceState.Offline:
                reasons.Add(new(FaultCode.DispenserOffline, $"Dispenser '{status.DeviceName}' is offline."));
                break;
            case DeviceState.HardwareError:
                reasons.Add(new(FaultCode.DispenserHardwareError, $"Dispenser '{status.DeviceName}' reports a hardware error: {status.LastFault ?? "no detail"}."));
                break;
        }

        if (status.Device == DeviceState.Online && status.Dispenser == DispenserCondition.Stop)
        {
            reasons.Add(new(FaultCode.DispenserStopped, $"Dispenser '{status.DeviceName}' is stopped: {status.LastFault ?? "no detail"}."));
        }

        if (status.Transport == TransportState.NotEmpty)
        {
            reasons.Add(new(FaultCode.TransportNotEmpty, "Notes are left in the dispenser transport."));
        }

        if (status.Shutter == ShutterState.Open)
        {
            reasons.Add(new(FaultCode.ShutterOpen, "The cash shutter is open."));
        }
        else if (status.Shutter == ShutterState.Jammed)
        {
            reasons.Add(new(FaultCode.ShutterJammed, "The cash shutter is jammed."));
        }
    }

    private void CheckSensors(List<FaultReason> reasons)
    {
        var status = sensors.Status;
        if (status.Device != DeviceState.Online)
        {
            reasons.Add(new(FaultCode.SensorsOffline, $"Fault sensors '{status.DeviceName}' are {status.Device}."));
            return;
        }

        foreach (var kind in new[] { SensorKind.SafeDoor, SensorKind.CabinetDoor, SensorKind.Tamper, SensorKind.ShutterClosed })
        {
            var state = status.StateOf(kind);
            if (state == SensorState.Alert)
            {
                reasons.Add(kind switch
                {
                    SensorKind.SafeDoor => new(FaultCode.SafeDoorOpen, "The safe door is open."),
                    SensorKind.CabinetDoor => new(FaultCode.CabinetDoorOpen, "The cabinet door is open."),
                    SensorKind.Tamper => new(FaultCode.TamperDetected, "The tamper switch has fired."),
                    _ => new(FaultCode.ShutterOpen, "The shutter-closed switch reports the shutter open."),
                });
            }
            else if (state == SensorState.NotAvailable && options.RequiredSensors.Contains(kind))
            {
                reasons.Add(new(FaultCode.RequiredSensorNotAvailable, $"The {kind} sensor is required by Devices:FaultCheck:RequiredSensors but is not available."));
            }
        }
    }
}
