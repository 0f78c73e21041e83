using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Iso8583;
using CardlessAtm.Terminal.Journal;
using CardlessAtm.Terminal.StoreAndForward;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Terminal.Flow;

/// <summary>
/// Recovery at start-up: every withdrawal the journal shows as asked of the host but not finished is
/// settled before the ATM takes a new customer. An unanswered or approved request that dispensed nothing is
/// reversed in full; a dispense interrupted mid-way is resolved from the dispenser's own counters (or, when
/// the device keeps none, its notes are marked unknown and reversed); whatever was not presented is reversed.
/// </summary>
public sealed class TerminalRecovery(ElectronicJournal journal, ICashDispenser dispenser, ReversalForwarder reversals, TimeProvider time, ILogger logger)
{
    /// <summary>Settles every unfinished withdrawal; returns how many were settled.</summary>
    public async Task<int> RecoverAsync(CancellationToken cancellationToken)
    {
        var settled = 0;
        // Only the unfinished withdrawals are read, from the newest segment back to where the oldest began.
        // Torn or corrupt lines are skipped (and reported by the journal): they never stop the ATM from starting.
        var sessions = journal.ReadUnfinished()
            .Where(e => e.Session is not null)
            .GroupBy(e => e.Session!, StringComparer.Ordinal);
        foreach (var session in sessions)
        {
            var entries = session.ToList();
            var request = entries.OfType<AuthoriseRequested>().LastOrDefault();
            if (request is null || entries.Any(e => e is WithdrawalEnded or Recovered))
            {
                continue;
            }

            try
            {
                await SettleAsync(session.Key, entries, request, cancellationToken);
                settled++;
            }
            catch (Exception e) when (e is FormatException or OverflowException or ArgumentException or KeyNotFoundException or NullReferenceException or InvalidOperationException)
            {
                // A well-formed line with a value recovery cannot use: guessing could lose or create money.
                var problem = $"the journal {journal.Path} holds withdrawal {session.Key} (stan {request.Stan}, line sequence {request.Sequence}) that recovery cannot settle: {e.Message}";
                logger.LogCritical("Recovery: {Problem}", problem);
                Unsettled.Add(problem);
            }
        }

        return settled;
    }

    /// <summary>Withdrawals the last <see cref="RecoverAsync"/> could not settle (an operator must), each with the journal path and entry.</summary>
    public List<string> Unsettled { get; } = [];

    /// <summary>
    /// A crash while the notes waited at the exit (present-start journalled, neither notes-taken nor notes-retracted):
    /// a dispenser that sees notes still at the exit and can retract retracts them now — the customer has had more than
    /// the present timeout — and the counts are saved before the retract is journalled. A dispenser that sees an empty
    /// exit, or cannot tell, leaves the notes counted as presented (as before present/retract existed), and says so.
    /// A crash inside a retract (retract-start journalled, no notes-retracted) is settled from the counters: those
    /// that moved since retract-start are the retract as it was saved; if none moved and no notes are left to retract,
    /// the device may have pulled them in before the counts were saved, so they are marked unknown and reversed as
    /// suspect (22) — never charged to the customer while they may be in the retract bin.
    /// Returns the retract to reverse: the journalled one, or the one done now; null when the notes count as taken.
    /// </summary>
    private async Task<NotesRetracted?> SettlePresentAsync(string session, int stan, List<JournalEntry> entries, DispenseEnded end, Currency currency, CancellationToken cancellationToken)
    {
        if (entries.OfType<NotesRetracted>().LastOrDefault() is { } journalled)
        {
            return journalled;
        }

        if (!entries.OfType<PresentStarted>().Any() || entries.OfType<NotesTaken>().Any())
        {
            return null;
        }

        List<UnitMovement> Presented() => [.. end.Movements.Select(m => new UnitMovement(m.CashUnitId, dispenser.CashUnits.Single(u => u.Id == m.CashUnitId).Denomination, m.Presented, m.Rejected, m.Unknown))];
        var begun = entries.OfType<RetractStarted>().LastOrDefault();
        if (begun is not null && Saved(begun, Presented(), currency) is { } saved)
        {
            logger.LogWarning("Recovery of withdrawal {Session}: the interrupted retract had saved its counts: {Value} {What}", session, saved.Value, saved.Counted ? "retracted" : "unknown");
            return await journal.WriteAsync(saved with { Session = session, Stan = stan });
        }

        var (exit, unreadable) = await ReadExitAsync(cancellationToken);
        string how;
        if (exit == ExitState.NotesPresent && dispenser.Presenting.CanRetract)
        {
            await journal.WriteAsync(RetractStarted.Of(dispenser.CashUnits) with { Session = session, Stan = stan });
            var retract = await dispenser.RetractAsync(Presented(), cancellationToken);
            if (retract.Completion == RetractCompletion.Ok && retract.Units.Count > 0)
            {
                return await journal.WriteAsync(NotesRetracted.Of(retract, currency) with { Session = session, Stan = stan });
            }

            how = $"recovery: the notes were at the exit but the retract ended {retract.Completion} ({retract.Detail}): they count as taken";
        }
        else if (begun is not null)
        {
            var presented = Presented();
            var unknown = await dispenser.RecoverInterruptedRetractAsync(presented, cancellationToken);
            var units = unknown.Completion == RetractCompletion.Ok
                ? unknown.Units
                : [.. presented.Where(m => m.Presented > 0).Select(m => new UnitRetract(m.CashUnitId, m.Denomination, m.Presented))];
            var entry = NotesRetracted.Of(unknown with { Units = units, Counted = false }, currency) with
            {
                Detail = $"recovery: the retract was interrupted and the exit is {exit}: the notes are unknown (retract bin or customer){(unknown.Completion == RetractCompletion.Ok ? string.Empty : $"; the counts could not be marked: {unknown.Detail}")}",
            };
            logger.LogWarning("Recovery of withdrawal {Session}: {Detail}", session, entry.Detail);
            return await journal.WriteAsync(entry with { Session = session, Stan = stan });
        }
        else
        {
            how = exit switch
            {
                ExitState.Empty => "recovery: the exit was empty: taken by the customer",
                ExitState.NotesPresent => "recovery: notes at the exit; the dispenser cannot retract, so they count as taken",
                _ when unreadable is not null => $"recovery: the dispenser cannot tell whether the notes were taken (its exit could not be read: {unreadable}): they count as presented",
                _ => "recovery: the dispenser cannot tell whether the notes were taken: they count as presented",
            };
        }

        logger.LogWarning("Recovery of withdrawal {Session}: {How}", session, how);
        await journal.WriteAsync(new NotesTaken(how) { Session = session, Stan = stan });
        return null;
    }

    /// <summary>
    /// What the exit holds; <see cref="ExitState.Unknown"/> with the fault when the device cannot be read — a broken exit
    /// sensor at start-up is a dispenser that cannot tell, never a reason to leave every open withdrawal unsettled.
    /// </summary>
    private async Task<(ExitState Exit, string? Fault)> ReadExitAsync(CancellationToken cancellationToken)
    {
        try
        {
            return (await dispenser.ReadExitAsync(cancellationToken), null);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            logger.LogError("Recovery: the dispenser's exit could not be read ({Type}: {Message})", e.GetType().Name, e.Message);
            return (ExitState.Unknown, $"{e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>
    /// The retract as the saved counts show it: per cash unit, how far its retracted and unknown counters moved since
    /// <paramref name="begun"/> (never more than the dispense presented from it); null when none moved.
    /// </summary>
    private NotesRetracted? Saved(RetractStarted begun, List<UnitMovement> presented, Currency currency)
    {
        var units = new List<UnitRetract>();
        var counted = true;
        foreach (var movement in presented.Where(m => m.Presented > 0))
        {
            var unit = dispenser.CashUnits.Single(u => u.Id == movement.CashUnitId);
            var retracted = Math.Max(0, unit.Counters.Retracted - begun.Retracted.GetValueOrDefault(unit.Id, unit.Counters.Retracted));
            var unknown = Math.Max(0, unit.Counters.Unknown - begun.Unknown.GetValueOrDefault(unit.Id, unit.Counters.Unknown));
            var notes = Math.Min(retracted + unknown, movement.Presented);
            if (notes > 0)
            {
                units.Add(new UnitRetract(unit.Id, unit.Denomination, notes));
                counted &= unknown == 0;
            }
        }

        return units.Count == 0 ? null
            : NotesRetracted.Of(new RetractResult(RetractCompletion.Ok, units, counted, "RECOVERED", "recovery: the interrupted retract had saved its counts"), currency);
    }

    private async Task SettleAsync(string session, List<JournalEntry> entries, AuthoriseRequested request, CancellationToken cancellationToken)
    {
        var amount = request.Amount.ToMoney();
        var stan = request.Stan ?? throw new FormatException("its authorise-request has no STAN");
        var answer = entries.OfType<AuthoriseAnswered>().LastOrDefault();
        var start = entries.OfType<DispenseStarted>().LastOrDefault();
        var end = entries.OfType<DispenseEnded>().LastOrDefault();
        // The reversal file is written (and fsynced) before its journal line, so the SAF directory is the truth:
        // a withdrawal that needs a reversal and has neither a file nor an acknowledgement gets one now.
        var reversalId = $"{stan:D6}-{request.Transmission}";
        var reversalQueued = reversals.Store.Contains(reversalId)
            || entries.OfType<ReversalAcknowledged>().Any(e => e.Id == reversalId);
        // Only an authentic clean decline bound to this very request proves the host did not debit (old journals written
        // before answers were bound to requests have no mismatch: they counted MAC-verified answers as bound). A 94, 96
        // or any other code that is not a clean decline leaves the outcome unknown: reversed like an approval.
        var declined = answer is { IsAuthentic: true } && WithdrawalTransaction.IsCleanDecline(answer.Response);

        Money presented;
        string how;
        var reasonCode = answer is null ? ReversalReasons.Timeout
            : answer is { IsAuthentic: true } && answer.Response != ResponseCodes.Approved ? ReversalReasons.UnknownOutcome
            : ReversalReasons.AtmMalfunction;
        if (end is not null)
        {
            presented = new Money(end.Presented.AmountMinor, amount.Currency);
            how = "dispense had ended";
            reasonCode = end.UnknownNotes > 0 ? ReversalReasons.SuspectedMalfunction
                : presented.IsPositive ? ReversalReasons.PartialDispense : ReversalReasons.AtmMalfunction;
            if (await SettlePresentAsync(session, stan, entries, end, amount.Currency, cancellationToken) is { } retracted)
            {
                presented -= retracted.Value.ToMoney();
                reasonCode = end.UnknownNotes > 0 || !retracted.Counted ? ReversalReasons.SuspectedMalfunction : ReversalReasons.NotesRetracted;
                how += retracted.Counted ? $"; {retracted.Value} retracted from the exit" : $"; {retracted.Value} retracted uncounted (suspect)";
            }
        }
        else if (start is not null)
        {
            var mix = JournalMixItem.ToMix(start.Mix, amount);
            var before = start.Counters is null ? null : JournalDeviceCounter.ToCounters(start.Counters);
            var now = before is null ? null : await dispenser.ReadDeviceCountersAsync(cancellationToken);
            var moved = before is null || now is null ? null : now.Since(before);
            var result = await dispenser.RecoverInterruptedDispenseAsync(mix, start.Counts, moved, cancellationToken);
            await journal.WriteAsync(DispenseEnded.Of(result) with { Session = session, Stan = stan });
            presented = result.Presented;
            reasonCode = result.HasUnknown ? ReversalReasons.SuspectedMalfunction : presented.IsPositive ? ReversalReasons.PartialDispense : ReversalReasons.AtmMalfunction;
            how = moved is null ? "dispense interrupted; the device keeps no counters, notes marked unknown" : "dispense interrupted; settled from the device counters";
        }
        else
        {
            presented = new Money(0, amount.Currency);
            how = answer is null ? "no answer from the host was recorded"
                : declined ? "declined by the host"
                : reasonCode == ReversalReasons.UnknownOutcome ? "the host's answer left the outcome unknown"
                : "approved but nothing was dispensed";
        }

        presented = presented.MinorUnits < 0 ? new Money(0, amount.Currency) : presented;
        var reverse = !declined && !reversalQueued && presented.MinorUnits < amount.MinorUnits;
        if (reverse)
        {
            await reversals.EnqueueAsync(new PendingReversal(
                reversalId,
                stan,
                request.Transmission,
                request.Rrn,
                amount.MinorUnits,
                presented.MinorUnits,
                amount.Currency.NumericCode,
                $"recovery: {how}",
                session,
                time.GetUtcNow())
            { ReasonCode = reasonCode });
        }

        var reversal = reverse ? (presented.IsPositive ? "partial" : "full") : (reversalQueued ? "already queued" : "none needed");
        await journal.WriteAsync(new Recovered(how, JournalAmount.Of(presented), reversal) { Session = session, Stan = stan });
        logger.LogWarning(
            "Recovered withdrawal {Session} stan {Stan}: {How}; presented {Presented} of {Amount}; reversal {Reversal}",
            session, stan, how, presented, amount, reverse ? "queued" : "not needed");
    }
}
