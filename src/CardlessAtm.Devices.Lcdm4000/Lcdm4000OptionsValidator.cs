using CardlessAtm.Devices.Lcdm4000.Protocol;
using CardlessAtm.Devices.Puloon;

namespace CardlessAtm.Devices.Lcdm4000;

/// <summary>
/// The rules for <see cref="Lcdm4000Options"/>: those of every Puloon driver (<see cref="PuloonDispenserOptionsValidator{TOptions}"/>)
/// with the LCDM-4000's limits. Every failure starts with the full setting path under the section the registration bound
/// (e.g. <c>Devices:Dispenser:Lcdm4000:PortName</c>), so the driver never needs to know it.
/// </summary>
/// <param name="section">The configuration path the options are bound from, e.g. <see cref="Lcdm4000Registration.SectionPath"/>.</param>
public sealed class Lcdm4000OptionsValidator(string section) : PuloonDispenserOptionsValidator<Lcdm4000Options>(section, "LCDM-4000")
{
    /// <inheritdoc/>
    protected override string UsualBaudRates => "9600";

    /// <inheritdoc/>
    protected override int MaxNotesPerCommandLimit => Lcdm4000Frame.MaxNotesPerCommand;

    /// <inheritdoc/>
    protected override string MaxNotesPerCommandReason => "notes per dispense command, all cassettes together";
}
