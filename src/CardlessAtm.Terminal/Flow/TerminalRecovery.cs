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
                : reasonCode == ReversalReasons.UnknownOutcome ? "the host's answer left the outcome unknown"
                : declined ? "declined by the host" : "approved but nothing was dispensed";
        }

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
