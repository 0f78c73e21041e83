using CardlessAtm.Devices.Configuration;
using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Display;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace CardlessAtm.Devices.Simulated;

/// <summary>Registers the <c>Simulated</c> kind for every device class.</summary>
public static class SimulatedDevicesRegistration
{
    /// <summary>The kind name used in configuration.</summary>
    public const string Kind = "Simulated";

    /// <summary>
    /// Adds the simulated display, keypad, dispenser (physical cassettes filled as the cash units say,
    /// faults from <c>Devices:Dispenser:Simulated:Faults</c>, an exit sensor and retract bin unless
    /// <c>Devices:Dispenser:Simulated:ExitSensor</c>, <c>:Retract</c> or <c>:CountsRetracted</c> say false) and sensors (<c>Devices:Sensors:Simulated:Sensors</c>,
    /// or the standard set when none are listed).
    /// </summary>
    public static AtmDevicesBuilder AddSimulatedDevices(this AtmDevicesBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder
            .AddDisplayKind(Kind, (_, section) =>
            {
                var width = section.GetValue("Simulated:Width", 240);
                var height = section.GetValue("Simulated:Height", 320);
                return new SimulatedDisplay(new DisplayCapabilities($"Simulated {width}x{height}", width, height, 20, 12, CanShowQr: true));
            })
            .AddKeypadKind(Kind, (sp, _) => new SimulatedKeypad(TimeOf(sp)))
            .AddDispenserKind(Kind, (sp, section) =>
            {
                var units = AtmDevicesBuilder.ReadCashUnits(section).Units;
                var maxNotes = section.GetValue("Simulated:MaxNotesPerDispense", 40);
                if (maxNotes <= 0)
                {
                    throw new ConfigurationException($"{section.Path}:Simulated:MaxNotesPerDispense", "must be greater than zero");
                }

                var faults = new SimulatedDispenserFaults();
                var faultSection = section.GetSection("Simulated:Faults");
                faults.JamAfterNotes = faultSection.GetValue<int?>("JamAfterNotes");
                faults.ShutterJam = faultSection.GetValue("ShutterJam", false);
                faults.NoAnswer = faultSection.GetValue("NoAnswer", false);
                faults.NoteDelay = faultSection.GetValue("NoteDelay", TimeSpan.Zero);
                faults.NotesNotTaken = faultSection.GetValue("NotesNotTaken", false);
                faults.TakeDelay = faultSection.GetValue("TakeDelay", TimeSpan.Zero);
                faults.RetractFails = faultSection.GetValue("RetractFails", false);
                foreach (var position in faultSection.GetSection("RemovedCassettes").Get<int[]>() ?? [])
                {
                    faults.RemovedCassettes.Add(position);
                }

                foreach (var position in faultSection.GetSection("PickFailures").Get<int[]>() ?? [])
                {
                    faults.PickFailures.Add(position);
                }

                var statePath = section["Simulated:StateFile"];
                var exitSensor = section.GetValue("Simulated:ExitSensor", true);
                var presenting = new PresentCapability(
                    exitSensor, exitSensor && section.GetValue("Simulated:Retract", true), exitSensor && section.GetValue("Simulated:CountsRetracted", true));
                return new SimulatedDispenserDevice(
                    units.ToDictionary(u => u.Position, u => u.Count), maxNotes, TimeOf(sp), faults, string.IsNullOrWhiteSpace(statePath) ? null : statePath, presenting);
            })
            .AddSensorsKind(Kind, (_, section) =>
            {
                var wired = section.GetSection("Simulated:Sensors");
                if (!wired.Exists())
                {
                    return SimulatedFaultSensors.Standard(cassettePositions: 4);
                }

                var sensors = new List<SimulatedSensorOptions>();
                foreach (var child in wired.GetChildren())
                {
                    var options = new SimulatedSensorOptions();
                    AtmDevicesBuilder.Bind(child, options);
                    sensors.Add(options);
                }

                return new SimulatedFaultSensors(sensors);
            });
    }

    private static TimeProvider TimeOf(IServiceProvider services) => services.GetService<TimeProvider>() ?? TimeProvider.System;
}
