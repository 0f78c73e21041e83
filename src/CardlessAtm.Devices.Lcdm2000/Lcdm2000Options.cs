using CardlessAtm.Devices.Lcdm2000.Protocol;
using CardlessAtm.Devices.Puloon;

namespace CardlessAtm.Devices.Lcdm2000;

/// <summary>
/// Settings of the Puloon LCDM-2000 driver (bound by <see cref="Lcdm2000Registration"/> and checked by <see cref="Lcdm2000OptionsValidator"/>):
/// the settings every Puloon driver has (<see cref="PuloonDispenserOptions"/>) and the LCDM-2000's own. The dispenser's DIP
/// switches choose 9600 or 38400 baud. <see cref="PuloonDispenserOptions.MaxNotesPerCommand"/> counts the notes of one
/// cassette (1..60, default 60); <see cref="PuloonDispenserOptions.PurgeTimeout"/> defaults to 20 s. The LCDM-2000 keeps no
/// note counters of its own, so without <see cref="PuloonDispenserOptions.CounterFile"/> recovery treats every note of a
/// dispense cut short as unknown.
/// </summary>
public sealed class Lcdm2000Options : PuloonDispenserOptions
{
    /// <summary>Creates the options with the LCDM-2000's defaults.</summary>
    public Lcdm2000Options()
    {
        PurgeTimeout = TimeSpan.FromSeconds(20);
        MaxNotesPerCommand = Lcdm2000Frame.MaxNotesPerCommand;
    }

    /// <summary>Use the combined upper-and-lower command (0x56) when both cassettes are asked. Default true.</summary>
    public bool UseCombinedDispense { get; set; } = true;

    /// <summary>
    /// The field order of the combined (0x56) dispense answer on this unit (public sources differ):
    /// <c>CassetteByCassette</c> (default) or <c>CountByCount</c>. <c>cardless-atm devices lcdm2000 probe</c> tells which.
    /// </summary>
    public Lcdm2000CombinedAnswerOrder CombinedAnswerOrder { get; set; } = Lcdm2000CombinedAnswerOrder.CassetteByCassette;

    /// <summary>
    /// What a set cassette bit of the status answer means on this unit (public sources differ):
    /// <c>SetWhenMissing</c> (default) or <c>SetWhenPresent</c>. <c>cardless-atm devices lcdm2000 probe</c> tells which.
    /// </summary>
    public Lcdm2000CassetteSensorBit CassetteSensorBit { get; set; } = Lcdm2000CassetteSensorBit.SetWhenMissing;

    /// <summary>A copy, so that later changes to a bound instance cannot change a running driver.</summary>
    public Lcdm2000Options Clone() => (Lcdm2000Options)MemberwiseClone();
}
