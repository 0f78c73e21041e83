using CardlessAtm.Devices.Configuration;
using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Lcdm2000;
using CardlessAtm.Devices.Lcdm4000;
using CardlessAtm.Devices.RaspberryPi.Display;
using CardlessAtm.Devices.RaspberryPi.Keypad;
using CardlessAtm.Devices.RaspberryPi.Sensors;
using CardlessAtm.Panel;
using Microsoft.Extensions.Configuration;

namespace CardlessAtm.Cli.Rigs;

/// <summary>
/// Whether every device a terminal on the FirmwareSim rig uses is on that rig's emulators, so that the panel attached to
/// it (<c>cardless-atm terminal --rig firmware-sim --panel</c>) drives nothing real. The Pi registration resolves the GPIO
/// controller and the SPI/I2C buses from DI, where the rig put its virtual board and emulated buses first: a display,
/// keypad or sensor board of the rig's kinds (Ili934x, Matrix, Gpio) cannot reach a kernel device. What can is a kind the
/// rig does not wire (the Xpt2046 keypad opens the kernel's spidev; Console and Simulated devices are not the rig's) and
/// the dispenser's serial port, which is a path in configuration: only the rig's pseudo-terminal is the emulator.
/// </summary>
internal static class FirmwareSimPanelWiring
{
    /// <summary>A device the terminal uses that is not on the rig's emulators.</summary>
    /// <param name="Setting">The setting that puts it elsewhere, e.g. <c>Devices:Dispenser:Lcdm2000:PortName</c>.</param>
    /// <param name="Value">Its value.</param>
    /// <param name="Why">Why that is not the rig.</param>
    /// <param name="RealDispenserPort">True when it is only the dispenser's port (a real serial device may be there), which
    /// <c>Panel:AllowRealDevices</c> lets the panel start beside; everything else the panel cannot drive at all.</param>
    public sealed record OffRig(string Setting, string? Value, string Why, bool RealDispenserPort);

    /// <summary>The configured devices that are not the rig's emulators; empty when all are.</summary>
    public static IReadOnlyList<OffRig> Check(IConfiguration configuration, FirmwareSimRig rig)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(rig);
        var found = new List<OffRig>();
        Kind("Display", "Ili934x", "the panel's screen is the rig's ILI9341 emulator on SPI bus 0, and this display is not on it");
        Kind("Keypad", "Matrix", "the panel's keys are tapped on the rig's emulated 4x4 key matrix, and this keypad is not on it");
        Kind("Sensors", "Gpio", "the panel's safe door is the rig's reed switch on its virtual GPIO board, and these sensors are not on it");
        var model = rig.Dispenser.Kind;
        if (Kind("Dispenser", model, $"the rig emulates an {model} on a pseudo-terminal, and this dispenser is not it"))
        {
            var port = $"Devices:Dispenser:{model}:PortName";
            var configured = configuration[port];
            if (!string.Equals(configured, rig.Dispenser.SlavePath, StringComparison.Ordinal))
            {
                found.Add(new OffRig(port, configured, $"is not the rig's emulated {model} (its pseudo-terminal is {rig.Dispenser.SlavePath}): a real dispenser may be on that port", RealDispenserPort: true));
            }
        }

        return found;

        bool Kind(string device, string expected, string why)
        {
            var setting = $"Devices:{device}:Kind";
            var configured = configuration[setting];
            if (string.Equals(configured, expected, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }

            found.Add(new OffRig(setting, configured, $"is not the rig's {expected}: {why}", RealDispenserPort: false));
            return false;
        }
    }

    /// <summary>
    /// Refuses the panel when a device is off the rig, with one line naming the setting and why. Only a dispenser port that
    /// is not the rig's pty passes, with <paramref name="allowRealDevices"/> (<c>Panel:AllowRealDevices</c>), as documented.
    /// </summary>
    /// <returns>Why the dispenser switches are unavailable (the dispenser is off the rig, allowed), or null.</returns>
    /// <exception cref="PanelRefusedException">A device is off the rig.</exception>
    public static string? Ensure(IReadOnlyList<OffRig> offRig, bool allowRealDevices)
    {
        ArgumentNullException.ThrowIfNull(offRig);
        var refused = offRig.FirstOrDefault(o => !o.RealDispenserPort) ?? (allowRealDevices || offRig.Count == 0 ? null : offRig[0]);
        if (refused is not null)
        {
            var advice = refused.RealDispenserPort
                ? "the panel can open the safe door and move money; set Panel:AllowRealDevices=true only on a bench rig that holds no cash."
                : "the panel attached to a FirmwareSim terminal drives the rig's emulators only.";
            throw new PanelRefusedException($"{refused.Setting}={refused.Value ?? "(unset)"} {refused.Why}; {advice}");
        }

        return offRig.Count > 0 && offRig[0] is { } dispenser
            ? $"not wired: the dispenser is not the rig's emulator ({dispenser.Setting}={dispenser.Value}, allowed by Panel:AllowRealDevices)"
            : null;
    }

    /// <summary>The devices the terminal built, checked once more against the rig's kinds (the configuration check came first).</summary>
    /// <exception cref="PanelRefusedException">A built device is not of the rig's kinds.</exception>
    /// <param name="devices">The terminal's devices.</param>
    /// <param name="dispenser">The terminal's dispenser driver.</param>
    /// <param name="rig">The rig.</param>
    /// <param name="dispenserOnRig">False when the dispenser is allowed off the rig (<see cref="Ensure"/> returned a reason).</param>
    public static void EnsureBuilt(AtmDevices devices, IDispenserDevice dispenser, FirmwareSimRig rig, bool dispenserOnRig)
    {
        ArgumentNullException.ThrowIfNull(devices);
        ArgumentNullException.ThrowIfNull(rig);
        var displayOk = devices.Display is Ili934xDisplay or MirroredDisplay;
        var dispenserOk = !dispenserOnRig || (rig.Dispenser.Model == RigDispenserModel.Lcdm4000 ? dispenser is Lcdm4000Dispenser : dispenser is Lcdm2000Dispenser);
        if (!displayOk || devices.Keypad is not MatrixKeypad || devices.Sensors is not GpioFaultSensors || !dispenserOk)
        {
            throw new PanelRefusedException(
                $"The attached panel on the FirmwareSim rig drives the Pi drivers on the rig's emulators only; this terminal runs {devices.Display.GetType().Name}, "
                + $"{devices.Keypad.GetType().Name}, {dispenser.GetType().Name} and {devices.Sensors.GetType().Name}.");
        }
    }
}
