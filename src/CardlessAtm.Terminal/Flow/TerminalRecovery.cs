using System.Globalization;
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
            var request = entries.LastOrDefault(e => e.Event == JournalEvents.AuthoriseRequest);
            if (request is null || entries.Any(e => e.Event is JournalEvents.WithdrawalEnd or JournalEvents.Recovered))
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

    private async Task SettleAsync(string session, List<JournalEntry> entries, JournalEntry request, CancellationToken cancellationToken)
    {
        var amount = new Money(
            long.Parse(request["amount"]!, CultureInfo.InvariantCulture),
            Currency.FromNumericCode(int.Parse(request["currency"]!, CultureInfo.InvariantCulture)));
        var stan = request.Stan!.Value;
        var answer = entries.LastOrDefault(e => e.Event == JournalEvents.AuthoriseAnswer);
        var start = entries.LastOrDefault(e => e.Event == JournalEvents.DispenseStart);
        var end = entries.LastOrDefault(e => e.Event == JournalEvents.DispenseEnd);
        // The reversal file is written (and fsynced) before its journal line, so the SAF directory is the truth:
        // a withdrawal that needs a reversal and has neither a file nor an acknowledgement gets one now.
        var reversalId = $"{stan:D6}-{request["transmission"]}";
        var reversalQueued = reversals.Store.Contains(reversalId)
            || entries.Any(e => e.Event == JournalEvents.ReversalAcknowledged && e["id"] == reversalId);
        // Only an authentic decline bound to this very request proves the host did not debit ("bound" is absent in
        // journals written before answers were bound to requests; those counted MAC-verified answers as bound).
        var declined = answer is not null && answer["macVerified"] == bool.TrueString && (answer["bound"] ?? bool.TrueString) == bool.TrueString
            && answer["response"] != ResponseCodes.Approved;

        Money presented;
        string how;
        var reasonCode = answer is null ? ReversalReasons.Timeout : ReversalReasons.AtmMalfunction;
        if (end is not null)
        {
            presented = new Money(long.Parse(end["presentedMinor"]!, CultureInfo.InvariantCulture), amount.Currency);
            how = "dispense had ended";
            reasonCode = UnknownNotes(end["movements"]) > 0 ? ReversalReasons.SuspectedMalfunction
                : presented.IsPositive ? ReversalReasons.PartialDispense : ReversalReasons.AtmMalfunction;
        }
        else if (start is not null)
        {
            var mix = RecoveryRecord.ParseMix(start["mix"]!, amount);
            var before = RecoveryRecord.ParseCounters(start["counters"]);
            var now = before is null ? null : await dispenser.ReadDeviceCountersAsync(cancellationToken);
            var moved = before is null || now is null ? null : now.Since(before);
            var result = await dispenser.RecoverInterruptedDispenseAsync(mix, RecoveryRecord.ParseCounts(start["counts"]!), moved, cancellationToken);
            await journal.WriteAsync(JournalEvents.DispenseEnd, session, stan, RecoveryRecord.DescribeResult(result));
            presented = result.Presented;
            reasonCode = result.HasUnknown ? ReversalReasons.SuspectedMalfunction : presented.IsPositive ? ReversalReasons.PartialDispense : ReversalReasons.AtmMalfunction;
            how = moved is null ? "dispense interrupted; the device keeps no counters, notes marked unknown" : "dispense interrupted; settled from the device counters";
        }
        else
        {
            presented = new Money(0, amount.Currency);
            how = answer is null ? "no answer from the host was recorded" : "approved but nothing was dispensed";
        }

        var reverse = !declined && !reversalQueued && presented.MinorUnits < amount.MinorUnits;
        if (reverse)
        {
            await reversals.EnqueueAsync(new PendingReversal(
                reversalId,
                stan,
                request["transmission"]!,
                request["rrn"]!,
                amount.MinorUnits,
                presented.MinorUnits,
                amount.Currency.NumericCode,
                $"recovery: {how}",
                session,
                time.GetUtcNow())
            { ReasonCode = reasonCode });
        }

        await journal.WriteAsync(JournalEvents.Recovered, session, stan, new Dictionary<string, string>
        {
            ["how"] = how,
            ["presented"] = presented.ToString(),
            ["reversal"] = reverse ? (presented.IsPositive ? "partial" : "full") : (reversalQueued ? "already queued" : "none needed"),
        });
        logger.LogWarning(
            "Recovered withdrawal {Session} stan {Stan}: {How}; presented {Presented} of {Amount}; reversal {Reversal}",
            session, stan, how, presented, amount, reverse ? "queued" : "not needed");
    }

    /// <summary>Notes of unknown fate in a journalled "movements" detail ("CASS1:2/0/1;CASS2:0/0/0").</summary>
    private static int UnknownNotes(string? movements) =>
        (movements ?? string.Empty).Split(';', StringSplitOptions.RemoveEmptyEntries)
            .Select(m => m.Split('/'))
            .Sum(parts => parts.Length == 3 && int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var unknown) ? unknown : 0);
}
