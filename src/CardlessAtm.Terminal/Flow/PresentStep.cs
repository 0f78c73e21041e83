using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Terminal.Journal;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Terminal.Flow;

/// <summary>
/// The Presenting state of a withdrawal: on a dispenser that can tell the notes were taken, waits up to
/// <see cref="TerminalOptions.PresentTimeout"/> for the customer, then retracts the notes left at the exit where the
/// dispenser can. It only talks to the device and journals the wait; settling the money (the reversal of what was
/// retracted) is the transaction's. A dispenser without the capability, or a dispense that presented nothing, skips
/// the wait entirely: the notes count as taken the moment they reach the exit, as before present/retract existed.
/// </summary>
internal sealed class PresentStep(ICashDispenser dispenser, ElectronicJournal journal, TerminalOptions options, TimeProvider time, ILogger logger, Action<string> unusable)
{
    /// <summary>
    /// Waits for the notes to be taken; returns the retract when notes were retracted into the retract bin (the counts
    /// already saved), or null when the notes count as taken (journalled as <see cref="NotesTaken"/> with the reason).
    /// Device faults never escape: a sensor that fails or a retract that fails leaves the notes counted as taken and
    /// takes the ATM out of service; a retract that does not end in time is returned as uncounted (the counts not yet
    /// changed: a late retract lands in the retract bin) and takes the ATM out of service. Only a journal write failure throws (one before the wait or the retract also takes the
    /// ATM out of service: the notes stay at the exit).
    /// </summary>
    public async Task<RetractResult?> RunAsync(DispenseResult presented, string session, int stan)
    {
        var capability = dispenser.Presenting;
        if (!presented.Presented.IsPositive || !capability.DetectsTaken)
        {
            return null;
        }

        await WriteWhileAtExitAsync(new PresentStarted(JournalAmount.Of(presented.Presented), options.PresentTimeout, capability.CanRetract) { Session = session, Stan = stan });
        var how = await WaitForTakenAsync();
        if (how is null && !capability.CanRetract)
        {
            how = $"left at the exit after {options.PresentTimeout}; the dispenser cannot retract, so they count as taken";
        }

        if (how is null)
        {
            // On disk before the device moves: a crash inside the retract is settled from these counters (TerminalRecovery).
            await WriteWhileAtExitAsync(RetractStarted.Of(dispenser.CashUnits) with { Session = session, Stan = stan });
            var retract = await RetractAsync(presented);
            if (retract.Completion == RetractCompletion.Ok && retract.Units.Count > 0)
            {
                return retract;
            }

            how = retract.Completion == RetractCompletion.Failed
                ? $"the retract failed ({retract.Detail ?? retract.DeviceCode ?? "no detail"}): the notes may still be at the exit, so they count as taken"
                : "the exit was empty when the retract began: taken by the customer";
            if (retract.Completion == RetractCompletion.Failed)
            {
                unusable($"the dispenser could not retract notes left at the exit ({retract.Detail})");
            }
        }

        await journal.WriteAsync(new NotesTaken(how) { Session = session, Stan = stan });
        return null;
    }

    /// <summary>
    /// A journal line that must be on disk before the exit is watched or the notes are retracted. If it cannot be written,
    /// neither may happen (a crash would leave no trace of them), so the notes count as taken where they lie — and the ATM
    /// goes out of service rather than serve the next customer in front of them.
    /// </summary>
    private async Task WriteWhileAtExitAsync(JournalEntry entry)
    {
        try
        {
            await journal.WriteAsync(entry);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            unusable($"the journal failed while notes were at the exit ({e.GetType().Name}: {e.Message}); they count as taken");
            throw;
        }
    }

    /// <summary>Null when the wait timed out; otherwise why the notes count as taken.</summary>
    private async Task<string?> WaitForTakenAsync()
    {
        using var bound = new CancellationTokenSource(options.PresentTimeout, time);
        try
        {
            await dispenser.WaitForTakenAsync(bound.Token);
            return NotesTaken.ByCustomer;
        }
        catch (OperationCanceledException) when (bound.IsCancellationRequested)
        {
            logger.LogWarning("The notes were not taken within {PresentTimeout}", options.PresentTimeout);
            return null;
        }
        catch (Exception e)
        {
            // The exit cannot be watched: retracting blind could pull notes from the customer's hand. Treated as taken.
            // Nothing but the bound cancels this wait, so an OperationCanceledException here is the device giving up.
            logger.LogError("The exit sensor failed while presenting ({Type}: {Message}); the notes count as taken", e.GetType().Name, e.Message);
            unusable($"the dispenser's exit sensor failed ({e.GetType().Name})");
            return $"the exit sensor failed ({e.GetType().Name}: {e.Message}), so they count as taken";
        }
    }

    /// <summary>
    /// The retract, bounded by <see cref="TerminalOptions.DispenseTimeout"/>. One that does not end in time may still pull
    /// the notes in (its counts then land in the retract bin when the device answers), or not: their fate is unknown, so
    /// it is settled as a retract that could not count — the presented notes reversed as suspect (22) — and the ATM goes
    /// out of service. One that throws (an OperationCanceledException too: nothing here cancels it) failed.
    /// </summary>
    private async Task<RetractResult> RetractAsync(DispenseResult presented)
    {
        try
        {
            return await dispenser.RetractAsync(presented.Movements, CancellationToken.None).WaitAsync(options.DispenseTimeout, time, CancellationToken.None);
        }
        catch (TimeoutException)
        {
            logger.LogError("The retract did not end within {DispenseTimeout}; the presented notes are unknown", options.DispenseTimeout);
            unusable($"the dispenser did not finish a retract within {options.DispenseTimeout}");
            var units = presented.Movements.Where(m => m.Presented > 0).Select(m => new UnitRetract(m.CashUnitId, m.Denomination, m.Presented)).ToList();
            return new RetractResult(RetractCompletion.Ok, units, false, "TIMEOUT", $"the retract did not end within {options.DispenseTimeout}: the notes are in the retract bin or still at the exit");
        }
        catch (Exception e)
        {
            logger.LogError("The retract failed ({Type}: {Message})", e.GetType().Name, e.Message);
            return new RetractResult(RetractCompletion.Failed, [], false, null, $"{e.GetType().Name}: {e.Message}");
        }
    }
}
