using CardlessAtm.Devices.Lcdm2000.Protocol;
using CardlessAtm.Devices.Puloon;

namespace CardlessAtm.Devices.Lcdm2000;

/// <summary>
/// The rules for <see cref="Lcdm2000Options"/>: those of every Puloon driver (<see cref="PuloonDispenserOptionsValidator{TOptions}"/>)
/// and the LCDM-2000's conventions. Every failure starts with the full setting path under the section the registration
/// bound (e.g. <c>Devices:Dispenser:Lcdm2000:PortName</c>), so the driver never needs to know it.
/// </summary>
/// <param name="section">The configuration path the options are bound from, e.g. <see cref="Lcdm2000Registration.SectionPath"/>.</param>
public sealed class Lcdm2000OptionsValidator(string section) : PuloonDispenserOptionsValidator<Lcdm2000Options>(section, "LCDM-2000")
{
    /// <inheritdoc/>
    protected override string UsualBaudRates => "9600 or 38400";

    /// <inheritdoc/>
    protected override int MaxNotesPerCommandLimit => Lcdm2000Frame.MaxNotesPerCommand;

    /// <inheritdoc/>
    protected override string MaxNotesPerCommandReason => "the protocol's count has a tens digit of at most 6";

    /// <inheritdoc/>
    protected override void AddModelProblems(List<string> errors, string prefix, Lcdm2000Options options)
    {
        if (!Enum.IsDefined(options.CombinedAnswerOrder))
        {
            errors.Add($"{prefix}{nameof(Lcdm2000Options.CombinedAnswerOrder)} is {(int)options.CombinedAnswerOrder}; it must be one of {string.Join(", ", Enum.GetNames<Lcdm2000CombinedAnswerOrder>())} (run 'cardless-atm devices lcdm2000 probe' to tell).");
        }

        if (!Enum.IsDefined(options.CassetteSensorBit))
        {
            errors.Add($"{prefix}{nameof(Lcdm2000Options.CassetteSensorBit)} is {(int)options.CassetteSensorBit}; it must be one of {string.Join(", ", Enum.GetNames<Lcdm2000CassetteSensorBit>())} (run 'cardless-atm devices lcdm2000 probe' to tell).");
        }
    }
}
