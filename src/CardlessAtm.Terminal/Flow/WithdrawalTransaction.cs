using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Channels;
using CardlessAtm.Network;
using CardlessAtm.Terminal.Journal;
using CardlessAtm.Terminal.Links;
using CardlessAtm.Terminal.StoreAndForward;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Terminal.Flow;

/// <summary>How the withdrawal transaction ended, for the customer dialogue to answer the phone and show the result.</summary>
/// <param name="ResponseCode">The code for the phone.</param>
/// <param name="Presented">What reached the customer, when a dispense ran.</param>
/// <param name="CustomerMessage">What the customer is told.</param>
/// <param name="Final">Done or Terminated.</param>
/// <param name="AuthorizationCode">The host's field 38, when approved.</param>
/// <param name="Screen">A result screen other than the default one for <paramref name="Final"/>.</param>
public sealed record WithdrawalSettlement(
    string ResponseCode, Money? Presented, string CustomerMessage, TerminalState Final, string? AuthorizationCode = null, Devices.Display.Screen? Screen = null);

/// <summary>
/// The money part of a withdrawal: authorise with the host → dispense → settle. Whatever happens after the
/// 0200 is journalled — no answer, a bad MAC, an answer that is not bound to the request, a cancel, a jam, a
/// device that stops answering, or any exception — it ends in a settlement, and every approval that did not
/// become notes in the customer's hand becomes a reversal in the store-and-forward queue (with the reason code
/// that says whether the dispensed amount is certain).
/// </summary>
public sealed class WithdrawalTransaction(
    IHostLink host, ICashDispenser dispenser, ReversalForwarder reversals, ElectronicJournal journal, TerminalOptions options, TerminalMetrics metrics, TimeProvider time, ILogger logger)
{
    private enum Stage
    {
        NotAsked,
        Asked,
        Approved,
        Dispensing,
        Dispensed,
        Reversed,
    }

    private readonly CustomerTexts _texts = CustomerTexts.For(options.Language);

    /// <summary>
    /// Raised when the dispenser can no longer be trusted (it did not finish a dispense in
    /// <see cref="TerminalOptions.DispenseTimeout"/>): the ATM must go out of service.
    /// </summary>
    public event Action<string>? DispenserUnusable;

    /// <summary>
    /// Raised when the host's answer says the session keys are stale (63 or 96) or its MAC does not verify: the ATM must
    /// re-key before the next withdrawal (issue 13 item 4). The money outcome of this withdrawal is unchanged. The
    /// second argument is the session key version the request went out under.
    /// </summary>
    public event Action<string, int>? KeysSuspect;

    /// <summary>Raised when the transaction enters Authorising, Dispensing or Presenting.</summary>
    public event Func<TerminalState, Task>? Progress;

    /// <summary>Asks the host, dispenses on an authentic approval, and settles; never throws after the host was asked.</summary>
    /// <param name="session">The QR session nonce.</param>
    /// <param name="amount">The amount on screen.</param>
    /// <param name="mix">The notes the fault check chose.</param>
    /// <param name="phone">The phone's 0200 (fields 3, 4, 48, 49 and 127 go to the host).</param>
    /// <param name="stan">This terminal's STAN for the 0200.</param>
    /// <param name="cancelPressed">Completes with true if the customer pressed Cancel while the host decided.</param>
    /// <param name="cancellationToken">Shutdown: what is unfinished then is settled by recovery at the next start.</param>
    public async Task<WithdrawalSettlement> RunAsync(string session, Money amount, Mix mix, IsoMessage phone, int stan, Task<bool> cancelPressed, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(phone);
        ArgumentNullException.ThrowIfNull(cancelPressed);
        var stage = Stage.NotAsked;
        PendingReversal? pending = null;
        DispenseStartRecord? started = null;
        DispenseResult? dispensed = null;
        RetractResult? retracted = null;
        try
        {
            await ReportAsync(TerminalState.Authorising);
            var request = BuildAuthorisation(phone, stan);
            var transmission = request.GetString(NetworkFields.TransmissionDateTime)!;
            pending = new PendingReversal(
                $"{stan:D6}-{transmission}", stan, transmission, request.RetrievalReferenceNumber!, amount.MinorUnits, 0, amount.Currency.NumericCode, string.Empty, session, time.GetUtcNow());
            await journal.WriteAsync(new AuthoriseRequested(pending.RetrievalReference, transmission, JournalAmount.Of(amount)) { Session = session, Stan = stan });

            stage = Stage.Asked;
            HostAnswer? answer = null;
            string? failure = null;
            var keyVersion = host.KeyVersion;
            try
            {
                answer = await host.SendAsync(request, cancellationToken);
            }
            catch (Exception e) when (e is Iso8583ChannelException or InvalidOperationException or TimeoutException)
            {
                failure = e.Message;
            }

            var cancelled = cancelPressed.IsCompletedSuccessfully && cancelPressed.Result;
            await journal.WriteAsync(new AuthoriseAnswered(answer?.ResponseCode, answer?.MacVerified ?? false, answer?.Mismatch, answer?.Response.AuthorizationCode, cancelled, failure)
            {
                Session = session,
                Stan = stan,
            });

            if (answer is not null && SuspectKeys(answer) is { } suspect)
            {
                KeysSuspect?.Invoke(suspect, keyVersion);
            }

            if (answer is null)
            {
                // The host may have approved and debited: reverse in full until it acknowledges.
                await ReverseAsync(pending with { Reason = "no answer from the host", ReasonCode = ReversalReasons.Timeout });
                stage = Stage.Reversed;
                return Declined(ResponseCodes.IssuerUnavailable, _texts.ForResponseCode(ResponseCodes.IssuerUnavailable));
            }

            if (!answer.IsAuthentic || answer.Response.Mti != Mti.FinancialResponse)
            {
                // Never act on an unauthenticated or unbound answer; if a real approval exists the debit is undone.
                var why = !answer.MacVerified ? "host answer failed its MAC check"
                    : answer.Mismatch is not null ? $"host answer not bound to the request (field(s) {answer.Mismatch})"
                    : $"host answered {answer.Response.Mti}, not 0210";
                await ReverseAsync(pending with { Reason = why, ReasonCode = ReversalReasons.InvalidResponse });
                stage = Stage.Reversed;
                return Declined(ResponseCodes.SystemMalfunction, _texts.AnswerNotVerified);
            }

            if (IsCleanDecline(answer.ResponseCode))
            {
                stage = Stage.Reversed; // declined before any debit: nothing to reverse
                return Declined(answer.ResponseCode!, _texts.ForResponseCode(answer.ResponseCode));
            }

            if (answer.ResponseCode != ResponseCodes.Approved)
            {
                // 94 says a request with this key was already processed (an attacker's copy may have been approved);
                // 96 may follow a committed debit. Never dispense; undo whatever the host may have done.
                await ReverseAsync(pending with
                {
                    Reason = $"the host answered {answer.ResponseCode ?? "without field 39"}: the outcome of the 0200 is unknown",
                    ReasonCode = ReversalReasons.UnknownOutcome,
                });
                stage = Stage.Reversed;
                return Declined(ResponseCodes.SystemMalfunction, _texts.UnknownOutcome);
            }

            stage = Stage.Approved;
            if (cancelled)
            {
                await ReverseAsync(pending with { Reason = "customer cancelled while the host was deciding", ReasonCode = ReversalReasons.CustomerCancellation });
                stage = Stage.Reversed;
                return Declined(ResponseCodes.DoNotHonour, _texts.Cancelled);
            }

            await ReportAsync(TerminalState.Dispensing);
            var counters = await dispenser.ReadDeviceCountersAsync(CancellationToken.None).WaitAsync(options.DispenseTimeout, time, CancellationToken.None);
            started = new DispenseStartRecord(mix, dispenser.CashUnits.ToDictionary(u => u.Id, u => u.Count, StringComparer.Ordinal), counters);
            await journal.WriteAsync(new DispenseStarted(
                JournalMixItem.Of(mix),
                dispenser.CashUnits.ToDictionary(u => u.Id, u => u.Count, StringComparer.Ordinal),
                counters is null ? null : JournalDeviceCounter.Of(counters),
                pending.Id,
                pending.RetrievalReference,
                pending.OriginalTransmission,
                JournalAmount.Of(amount))
            { Session = session, Stan = stan });

            // Once notes move, the dispense runs to its end whatever else happens — but not longer than its bound.
            stage = Stage.Dispensing;
            var result = await dispenser.DispenseAsync(mix, CancellationToken.None).WaitAsync(options.DispenseTimeout, time, CancellationToken.None);
            stage = Stage.Dispensed;
            dispensed = result;
            await journal.WriteAsync(DispenseEnded.Of(result) with { Session = session, Stan = stan });
            if (result.Completion != DispenseCompletion.Ok)
            {
                metrics.DispenserFault(result.Completion);
                await ResetAfterFaultAsync(session);
            }

            await ReportAsync(TerminalState.Presenting);
            var retract = await new PresentStep(dispenser, journal, options, time, logger, reason => DispenserUnusable?.Invoke(reason)).RunAsync(result, session, stan);
            if (retract is not null)
            {
                // The counts are saved (a retract that timed out changes them when the device answers): from here the
                // retracted notes are no longer presented, whatever fails next.
                result = AfterRetract(result, retract);
                dispensed = result;
                retracted = retract;
                await journal.WriteAsync(NotesRetracted.Of(retract, amount.Currency) with { Session = session, Stan = stan });
            }

            if (result.Presented == amount && result.IsComplete)
            {
                return new WithdrawalSettlement(ResponseCodes.Approved, result.Presented, _texts.TakeYourCash, TerminalState.Done, answer.Response.AuthorizationCode);
            }

            // Notes whose fate is unknown are credited back too and flagged suspect (22) for the cash count:
            // the customer is never charged for cash that may not have come out. Retracted notes are reversed (18).
            var reason = retract is null ? $"dispense {result.Completion}"
                : $"notes not taken within {options.PresentTimeout}: {retract.ValueIn(amount.Currency)} retracted{(retract.Counted ? string.Empty : " uncounted (suspect)")}";
            await ReverseAsync(pending with { DispensedMinor = result.Presented.MinorUnits, Reason = reason, ReasonCode = ReasonFor(result, retract is { Counted: true }) });
            stage = Stage.Reversed;
            if (result.Presented.IsPositive)
            {
                var screen = _texts.Partial(result.Presented.ToString(), amount.ToString());
                return new WithdrawalSettlement(ResponseCodes.Approved, result.Presented, string.Join(' ', screen.Lines), TerminalState.Done, answer.Response.AuthorizationCode, screen);
            }

            return new WithdrawalSettlement(
                ResponseCodes.SystemMalfunction, result.Presented, retract is null ? _texts.CouldNotPayOut : _texts.NotesRetracted, TerminalState.Terminated);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw; // shutting down: recovery settles it from the journal at the next start
        }
        catch (Exception e)
        {
            return await SettleFaultAsync(e, stage, session, amount, pending, started, dispensed, retracted);
        }

        WithdrawalSettlement Declined(string code, string message) => new(code, null, message, TerminalState.Terminated);
    }

    /// <summary>
    /// Whether an authentic 0210 with this field 39 proves the host declined before any debit (nothing to reverse).
    /// Only the codes the host sends after deciding not to debit: 05, 12, 13, 14, 30, 51, 54, 55, 57, 61, 63, 65, 75.
    /// Everything else that is not 00 — 94 (a request with this key was already processed), 91, 92, 96, a code the
    /// network does not use, no field 39 — leaves the outcome unknown (docs/protocol/iso8583.md §3).
    /// </summary>
    public static bool IsCleanDecline(string? responseCode) => responseCode is
        ResponseCodes.DoNotHonour or ResponseCodes.InvalidTransaction or ResponseCodes.InvalidAmount or ResponseCodes.InvalidAccount
        or ResponseCodes.FormatError or ResponseCodes.InsufficientFunds or ResponseCodes.SessionExpired or ResponseCodes.IncorrectPin
        or ResponseCodes.NotPermittedToCardholder or ResponseCodes.ExceedsAmountLimit or ResponseCodes.SecurityViolation
        or ResponseCodes.ExceedsFrequencyLimit or ResponseCodes.PinTriesExceeded;

    /// <summary>
    /// Why an answer to the 0200 makes the session keys suspect, or null: only an answer whose MAC does not verify (a
    /// stale key's 63 or 96 comes unMACed, or MACed under keys the ATM no longer holds). An answer that verifies proves
    /// both sides share the keys, whatever its code: a 63 a phone caused (tampered or revoked protected data) must not
    /// make every such customer cost the ATM a key change and a moment out of service.
    /// </summary>
    private static string? SuspectKeys(HostAnswer answer) =>
        answer.MacVerified ? null
        : answer.ResponseCode is { } code ? $"the host's {answer.Response.Mti} ({code}, {ResponseCodes.Describe(code)}) failed its MAC check"
        : $"the host's {answer.Response.Mti} failed its MAC check";

    private static string ReasonFor(DispenseResult result, bool retracted = false) =>
        result.HasUnknown ? ReversalReasons.SuspectedMalfunction
        : retracted ? ReversalReasons.NotesRetracted
        : result.Presented.IsPositive ? ReversalReasons.PartialDispense
        : ReversalReasons.AtmMalfunction;

    /// <summary>
    /// The dispense as it stands after a retract: the retracted notes are no longer presented — counted, they are gone
    /// (in the retract bin); uncounted, they are unknown (suspect), exactly as the cash-unit counts now say.
    /// </summary>
    internal static DispenseResult AfterRetract(DispenseResult result, RetractResult retract)
    {
        var notes = retract.Units.ToDictionary(u => u.CashUnitId, u => u.Notes, StringComparer.Ordinal);
        return result with
        {
            Movements = [.. result.Movements.Select(m => notes.TryGetValue(m.CashUnitId, out var n)
                ? m with { Presented = m.Presented - n, Unknown = m.Unknown + (retract.Counted ? 0 : n) }
                : m)],
        };
    }

    private async Task<WithdrawalSettlement> SettleFaultAsync(
        Exception fault, Stage stage, string session, Money amount, PendingReversal? pending, DispenseStartRecord? started, DispenseResult? dispensed, RetractResult? retracted)
    {
        logger.LogError(fault, "Withdrawal {Session} failed at stage {Stage}: {Type}: {Message}", session, stage, fault.GetType().Name, fault.Message);
        try
        {
            await journal.WriteAsync(new WithdrawalFault(stage.ToString(), fault.GetType().Name, fault.Message) { Session = session, Stan = pending?.OriginalStan });
        }
        catch (Exception journalFault) when (journalFault is not OperationCanceledException)
        {
            logger.LogCritical("The journal cannot record the fault of withdrawal {Session}: {Message}", session, journalFault.Message);
        }

        Money? presented = dispensed?.Presented;
        try
        {
            switch (stage)
            {
                case Stage.NotAsked:
                case Stage.Reversed:
                    break;
                case Stage.Asked:
                case Stage.Approved:
                    await ReverseAsync(pending! with { Reason = $"ATM fault before any note moved: {fault.GetType().Name}", ReasonCode = ReversalReasons.AtmMalfunction });
                    break;
                case Stage.Dispensing:
                    var settled = await SettleInterruptedDispenseAsync(fault, session, pending!, started!);
                    presented = settled.Presented;
                    await ReverseAsync(pending! with { DispensedMinor = settled.Presented.MinorUnits, Reason = $"dispense failed: {fault.GetType().Name}", ReasonCode = ReasonFor(settled) });
                    break;
                case Stage.Dispensed when dispensed!.Presented == amount && !dispensed.HasUnknown:
                    return new WithdrawalSettlement(ResponseCodes.Approved, dispensed.Presented, _texts.TakeYourCash, TerminalState.Done);
                case Stage.Dispensed:
                    // A retract already moved its notes out of the dispense (its counts are saved): it is reversed as one.
                    var after = retracted is null ? "the dispense" : "a retract";
                    await ReverseAsync(pending! with { DispensedMinor = dispensed.Presented.MinorUnits, Reason = $"fault after {after}: {fault.GetType().Name}", ReasonCode = ReasonFor(dispensed, retracted is { Counted: true }) });
                    break;
            }
        }
        catch (Exception settleFault) when (settleFault is not OperationCanceledException)
        {
            // The reversal could not be stored or journalled. If its file is on disk, it is the truth and will be sent;
            // if not, recovery at the next start finds the withdrawal unfinished. Either way no customer is served until then.
            var stored = pending is not null && reversals.Store.Contains(pending.Id);
            logger.LogCritical(
                "Withdrawal {Session}: the reversal after the fault could not be {What} ({Type}: {Message}); the ATM goes out of service",
                session, stored ? "journalled (its file is on disk)" : "stored", settleFault.GetType().Name, settleFault.Message);
            DispenserUnusable?.Invoke($"withdrawal {session} could not be settled: {settleFault.Message}");
        }

        if (presented is { IsPositive: true } paid)
        {
            var screen = _texts.Partial(paid.ToString(), amount.ToString());
            return new WithdrawalSettlement(ResponseCodes.Approved, paid, string.Join(' ', screen.Lines), TerminalState.Done, null, screen);
        }

        return new WithdrawalSettlement(
            ResponseCodes.SystemMalfunction, presented, stage == Stage.NotAsked ? _texts.CouldNotComplete : _texts.CouldNotPayOut, TerminalState.Terminated);
    }

    /// <summary>
    /// A dispense that threw or did not end in time. When it threw, the device is asked what moved, as recovery
    /// after a crash would; when it hung, nothing more can be asked of it: every note is unknown (suspect) and
    /// the ATM goes out of service.
    /// </summary>
    private async Task<DispenseResult> SettleInterruptedDispenseAsync(Exception fault, string session, PendingReversal pending, DispenseStartRecord started)
    {
        DispenseResult result;
        if (fault is InvalidMixException)
        {
            // Refused before the device was commanded: certainly nothing moved.
            result = new DispenseResult(DispenseCompletion.InvalidRequest, started.Mix.Amount, [], null, fault.Message);
        }
        else if (fault is TimeoutException)
        {
            var movements = started.Mix.Items.Select(i => new UnitMovement(i.CashUnitId, i.Denomination, 0, 0, i.Notes)).ToList();
            result = new DispenseResult(DispenseCompletion.Timeout, started.Mix.Amount, movements, null, $"the dispenser did not finish within {options.DispenseTimeout}");
            DispenserUnusable?.Invoke($"the dispenser did not finish a dispense within {options.DispenseTimeout}");
        }
        else
        {
            try
            {
                var now = started.Counters is null ? null : await dispenser.ReadDeviceCountersAsync(CancellationToken.None).WaitAsync(options.DispenseTimeout, time, CancellationToken.None);
                var moved = started.Counters is null || now is null ? null : now.Since(started.Counters);
                result = await dispenser.RecoverInterruptedDispenseAsync(started.Mix, started.Counts, moved, CancellationToken.None)
                    .WaitAsync(options.DispenseTimeout, time, CancellationToken.None);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                var movements = started.Mix.Items.Select(i => new UnitMovement(i.CashUnitId, i.Denomination, 0, 0, i.Notes)).ToList();
                result = new DispenseResult(DispenseCompletion.HardwareError, started.Mix.Amount, movements, null, $"the dispenser cannot say what moved: {e.Message}");
                DispenserUnusable?.Invoke($"the dispenser failed and cannot say what it moved ({e.GetType().Name})");
            }
        }

        await journal.WriteAsync(DispenseEnded.Of(result) with { Session = session, Stan = pending.OriginalStan });
        metrics.DispenserFault(result.Completion);
        return result;
    }

    private async Task ReverseAsync(PendingReversal reversal) => await reversals.EnqueueAsync(reversal);

    /// <summary>Tells the dialogue (screens); a screen that hangs or fails never holds up or breaks the money path.</summary>
    private async Task ReportAsync(TerminalState state)
    {
        if (Progress is not { } progress)
        {
            return;
        }

        try
        {
            await progress(state).WaitAsync(ProgressBound, time, CancellationToken.None);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning("The screen for {State} did not update ({Type}: {Message}); the withdrawal goes on", state, e.GetType().Name, e.Message);
        }
    }

    /// <summary>Longest the money path waits for a screen update.</summary>
    private static readonly TimeSpan ProgressBound = TimeSpan.FromSeconds(5);

    private async Task ResetAfterFaultAsync(string session)
    {
        var reset = await dispenser.ResetAsync(CancellationToken.None).WaitAsync(options.DispenseTimeout, time, CancellationToken.None);
        await journal.WriteAsync(new DispenserReset(reset.Completion.ToString(), reset.Movements.Sum(m => m.Rejected)) { Session = session });
    }

    private IsoMessage BuildAuthorisation(IsoMessage phone, int stan)
    {
        var request = host.NewRequest(Mti.FinancialRequest);
        request.Stan = stan;
        foreach (var field in new[] { NetworkFields.ProcessingCode, NetworkFields.Amount, NetworkFields.SessionPayload, NetworkFields.Currency, NetworkFields.ProtectedData })
        {
            if (phone.GetBytes(field) is { } value)
            {
                request.SetBytes(field, value);
            }
        }

        request.RetrievalReferenceNumber = host.NewRetrievalReference(stan);
        return request;
    }

    private sealed record DispenseStartRecord(Mix Mix, IReadOnlyDictionary<string, int> Counts, DeviceCounters? Counters);
}
