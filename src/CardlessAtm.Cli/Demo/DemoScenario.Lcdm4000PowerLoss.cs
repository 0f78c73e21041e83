using CardlessAtm.FirmwareSim.Lcdm4000;
using CardlessAtm.Phone;
using CardlessAtm.Terminal.Journal;

namespace CardlessAtm.Cli.Demo;

/// <summary>lcdm4000-power-loss-mid-dispense: the whole ATM loses power while an LCDM-4000 is moving notes.</summary>
internal sealed partial class DemoScenario
{
    private const int Lcdm4000NotesPerCassette = 500;
    private const byte Lcdm4000LastStatus = 0x55;

    /// <summary>
    /// The LCDM-4000 emulator runs in this process on a pty, as the separate hardware it is; the terminal runs as its own
    /// process with the LCDM-4000 driver on that pty. After the first note the emulator loses power and, at that very
    /// moment, the terminal is SIGKILLed: the power cut. Power comes back (the emulator first), the terminal is started
    /// again, and its recovery must settle the withdrawal from LAST_STATUS: the note that came out presented, the rest
    /// reversed. Balanced only if what the terminal booked is what the emulator actually let out.
    /// </summary>
    private async Task<int> RunLcdm4000PowerLossAsync(DemoNetwork network, CancellationToken cancellationToken)
    {
        var customer = network.Seed.Customers[0];
        var before = (await network.Host.Administration.GetAccountAsync(customer.AccountId, cancellationToken))!.BalanceMinor;
        using var emulator = new Lcdm4000Emulator(new Lcdm4000EmulatorOptions
        {
            Notes = [.. DemoTerminalProcess.Lcdm4000CashUnits.Select(_ => Lcdm4000NotesPerCassette)],
            NoteInterval = TimeSpan.FromMilliseconds(400),
        });
        emulator.Start();
        emulator.InjectPowerLoss(afterNotes: 1);
        await using var terminal = DemoTerminalProcess.Start(network, Host.Seeding.DemoSeed.AtmId, TimeSpan.Zero, null, null, rig, lcdm4000Port: emulator.DevicePath);
        Say($"(scenario: the terminal runs as its own process with the LCDM-4000 driver on {emulator.DevicePath}, cash units {string.Join(", ", DemoTerminalProcess.Lcdm4000CashUnits.Select(u => $"{u.Id} {u.Denomination} EUR"))}; "
            + "the LCDM-4000 emulator runs in the demo process, separate hardware; the whole ATM loses power after the first note)");
        var withdrawal = await StartPhoneWithdrawalAsync(network, terminal, customer, cancellationToken);
        using (var dispensing = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            dispensing.CancelAfter(TimeSpan.FromSeconds(60));
            while (!emulator.IsPoweredOff)
            {
                if (terminal.HasExited)
                {
                    throw new InvalidOperationException("The terminal process ended before the LCDM-4000 lost power.");
                }

                await Task.Delay(5, dispensing.Token);
            }
        }

        terminal.Kill();
        Say($"   Power cut: the LCDM-4000 goes dark after {emulator.PresentedCount} note(s) left its exit, and the terminal process dies with it (SIGKILL).");
        try
        {
            var outcome = await withdrawal;
            Say($"   The phone shows: {outcome.Message}");
        }
        catch (PhoneInputException e)
        {
            Say($"   The phone shows: {e.Message}");
        }

        var commandsBeforePowerOn = emulator.ReceivedCommands.Count;
        emulator.PowerOn();
        Say("Power comes back: the LCDM-4000 keeps what its last operation moved for LAST_STATUS; the terminal is started again and recovery settles the unfinished withdrawal before it serves anyone.");
        await RestartAndSettleAsync(network, terminal, cancellationToken);

        Say(string.Empty);
        Say("Electronic journal of the ATM (both runs):");
        var journal = ElectronicJournal.ReadAll(terminal.JournalPath);
        output.Write(ElectronicJournal.Export(journal));
        var after = (await network.Host.Administration.GetAccountAsync(customer.AccountId, cancellationToken))!.BalanceMinor;
        var totals = await network.Host.Administration.GetLedgerTotalsAsync(cancellationToken);
        var report = await network.Host.Administration.GetDayReportAsync(cancellationToken: cancellationToken);
        var presented = await terminal.PresentedMinorAsync(cancellationToken);
        var netDebits = totals.ApprovedWithdrawalsMinor - totals.ReversalsMinor;
        var suspect = report.Sum(r => r.SuspectMinor);
        // Settled from the device, not guessed: the restarted driver asked the LCDM-4000 for LAST_STATUS once it was back.
        var askedLastStatus = emulator.ReceivedCommands.Skip(commandsBeforePowerOn).Any(c => c.Length > 3 && c[3] == Lcdm4000LastStatus);
        var recovered = journal.Any(e => e.Event == JournalEvents.Recovered) && askedLastStatus;

        // What the emulator let out, from its cassettes: nothing was rejected or left in the path, so every note that
        // left a cassette left through the exit.
        var taken = DemoTerminalProcess.Lcdm4000CashUnits.Select(u => (u.Denomination, Notes: Lcdm4000NotesPerCassette - emulator.CassetteCount(u.Position))).ToList();
        var emulatorNotes = taken.Sum(t => t.Notes);
        var emulatorMinor = taken.Sum(t => t.Notes * t.Denomination * 100L);
        var midDispense = emulator.PresentedCount == emulatorNotes && emulator.RejectTrayCount == 0 && emulator.NotesInPath == 0
            && emulatorNotes >= 1 && emulatorMinor < AmountMajor * 100L;
        Say(string.Empty);
        Say($"The LCDM-4000 let out {emulator.PresentedCount} note(s), {CardlessAtm.Money.Of(emulatorMinor, "EUR")} ({string.Join(", ", taken.Where(t => t.Notes > 0).Select(t => $"{t.Notes} x {t.Denomination} EUR"))}); reject tray {emulator.RejectTrayCount}, path {emulator.NotesInPath}");
        Say($"Balance of {customer.HolderName}: {CardlessAtm.Money.Of(before, "EUR")} → {CardlessAtm.Money.Of(after, "EUR")}");
        Say($"Notes presented by the ATM: {CardlessAtm.Money.Of(presented, "EUR")}; approved debits − reversals at the host: {CardlessAtm.Money.Of(netDebits, "EUR")} (reversed {CardlessAtm.Money.Of(totals.ReversalsMinor, "EUR")}); reversals waiting: {terminal.SafDepth}; suspect: {CardlessAtm.Money.Of(suspect, "EUR")}");
        var matchesDevice = presented == emulatorMinor && midDispense;
        var balanced = totals.Balances && recovered && matchesDevice && presented == netDebits && terminal.SafDepth == 0 && before - after == netDebits && suspect == 0;
        var ending = (recovered ? "recovered from LAST_STATUS after power loss" : askedLastStatus ? "NOT recovered" : "NOT recovered from LAST_STATUS (never asked)")
            + (matchesDevice ? string.Empty : $" (BOOKED {CardlessAtm.Money.Of(presented, "EUR")}, THE LCDM-4000 LET OUT {CardlessAtm.Money.Of(emulatorMinor, "EUR")})")
            + ", LCDM-4000 emulator on a pty outliving the terminal process";
        Summary = $"{ending}; cash out {CardlessAtm.Money.Of(presented, "EUR")}, debits − reversals {CardlessAtm.Money.Of(netDebits, "EUR")}, reversed {CardlessAtm.Money.Of(totals.ReversalsMinor, "EUR")}, SAF {terminal.SafDepth}, suspect {CardlessAtm.Money.Of(suspect, "EUR")}"
            + (balanced ? "; ledger balanced" : "; LEDGER NOT BALANCED");
        Say($"Result: {Summary}");
        Say(balanced
            ? $"Ledger balanced: cash out = money debited. Scenario {NameOf(kind)} ended: {ending}."
            : $"LEDGER NOT BALANCED after scenario {NameOf(kind)} ({ending}): ledger consistent={totals.Balances}.");
        return balanced ? 0 : 1;
    }
}
