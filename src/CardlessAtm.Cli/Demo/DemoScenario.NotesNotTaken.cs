namespace CardlessAtm.Cli.Demo;

/// <summary>notes-not-taken: the retract bin after the scenario, as the cash count would find it.</summary>
internal sealed partial class DemoScenario
{
    private bool? _retractBinCounted;

    /// <summary>
    /// Prints the retract bin (the cash units' Retracted counters and the device's own bin) and, for notes-not-taken,
    /// checks that the whole withdrawal ended there: the notes counted per unit, none left at the exit, none presented.
    /// Null (nothing to add to the summary) for the other scenarios when their bin is empty.
    /// </summary>
    private string? CheckRetractBin(DemoAtm atm)
    {
        var units = atm.Terminal.Devices.Dispenser.CashUnits;
        var notes = units.Sum(u => u.Counters.Retracted);
        if (kind != DemoScenarioKind.NotesNotTaken && notes == 0)
        {
            return null;
        }

        var value = units.Aggregate(CardlessAtm.Money.Of(0, "EUR"), (sum, u) => sum + u.RetractedValue);
        Say($"Retract bin: {notes} notes, {value} ({string.Join(", ", units.Where(u => u.Counters.Retracted > 0).Select(u => $"{u.Id} {u.Counters.Retracted} x {u.Denomination}"))}); the device's bin holds {atm.Dispenser.RetractBin}, its exit {atm.Dispenser.NotesAtExit}");
        if (kind == DemoScenarioKind.NotesNotTaken)
        {
            _retractBinCounted = notes > 0 && value == CardlessAtm.Money.FromMajor(AmountMajor, "EUR") && atm.Dispenser.RetractBin == notes && atm.Dispenser.NotesAtExit == 0
                && atm.PresentedValue == CardlessAtm.Money.Of(0, "EUR");
        }

        return _retractBinCounted == false ? $"RETRACT BIN WRONG ({notes} notes, {value})" : $"retract bin {notes} notes ({value})";
    }
}
