using CardlessAtm.Devices;
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

        var exit = await dispenser.ReadExitAsync(cancellationToken);
        string how;
        if (exit == ExitState.NotesPresent && dispenser.Presenting.CanRetract)
        {
            var presented = end.Movements.Select(m => new UnitMovement(m.CashUnitId, dispenser.CashUnits.Single(u => u.Id == m.CashUnitId).Denomination, m.Presented, m.Rejected, m.Unknown)).ToList();
            var retract = await dispenser.RetractAsync(presented, cancellationToken);
            if (retract.Completion == RetractCompletion.Ok && retract.Units.Count > 0)
            {
                var entry = NotesRetracted.Of(retract, currency) with { Session = session, Stan = stan };
                await journal.WriteAsync(entry);
                return entry;
            }

            how = $"recovery: the notes were at the exit but the retract ended {retract.Completion} ({retract.Detail}): they count as taken";
        }
        else
        {
            how = exit switch
            {
                ExitState.Empty => "recovery: the exit was empty: taken by the customer",
                ExitState.NotesPresent => "recovery: notes at the exit; the dispenser cannot retract, so they count as taken",
                _ => "recovery: the dispenser cannot tell whether the notes were taken: they count as presented",
            };
        }

        logger.LogWarning("Recovery of withdrawal {Session}: {How}", session, how);
        await journal.WriteAsync(new NotesTaken(how) { Session = session, Stan = stan });
        return null;
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
