using CardlessAtm.Devices.Lcdm4000.Protocol;
using CardlessAtm.Devices.Puloon;

namespace CardlessAtm.Devices.Lcdm4000;

/// <summary>
/// Settings of the Puloon LCDM-4000 driver (bound by <see cref="Lcdm4000Registration"/> and checked by <see cref="Lcdm4000OptionsValidator"/>):
/// the settings every Puloon driver has (<see cref="PuloonDispenserOptions"/>); the LCDM-4000 adds none. Both public drivers
/// use 9600 8N1. <see cref="PuloonDispenserOptions.MaxNotesPerCommand"/> counts the notes of all cassettes together (1..40,
/// default 40); <see cref="PuloonDispenserOptions.PurgeTimeout"/> defaults to 60 s. A command whose answer never came stays
/// in flight in <see cref="PuloonDispenserOptions.CounterFile"/> until LAST_STATUS settles it (<c>ReadCountersAsync</c>, the
/// next dispense, or a new driver after a restart); without a counter file <c>ReadCountersAsync</c> returns null.
/// </summary>
public sealed class Lcdm4000Options : PuloonDispenserOptions
{
    /// <summary>Creates the options with the LCDM-4000's defaults.</summary>
    public Lcdm4000Options()
    {
        PurgeTimeout = TimeSpan.FromSeconds(60);
        MaxNotesPerCommand = Lcdm4000Frame.MaxNotesPerCommand;
    }

    /// <summary>A copy, so that later changes to a bound instance cannot change a running driver.</summary>
    public Lcdm4000Options Clone() => (Lcdm4000Options)MemberwiseClone();
}
