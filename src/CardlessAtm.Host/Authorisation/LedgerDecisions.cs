using System.Security.Cryptography;
using CardlessAtm.Host.Storage;
using CardlessAtm.Iso8583;

namespace CardlessAtm.Host.Authorisation;

/// <summary>How the PIN check that ran before the database step came out.</summary>
/// <param name="Matched">The PIN matched the verification record.</param>
/// <param name="CheckedHash">The hash of the record that was checked, so a record changed in between is noticed.</param>
internal readonly record struct PinCheck(bool Matched, byte[]? CheckedHash);

/// <summary>A withdrawal whose MACs, protected data and QR session have been verified; <paramref name="Amount"/> is the one fields 4, 49 and the QR session agree on.</summary>
internal sealed record VerifiedWithdrawal(
    RequestKey Key,
    string Rrn,
    Money Amount,
    string SessionNonce,
    string AccountId,
    string PhoneDeviceId,
    long PhoneCounter,
    PinCheck Pin);

/// <summary>The host's answer to a withdrawal.</summary>
/// <param name="ResponseCode">Field 39.</param>
/// <param name="AuthCode">Field 38 when approved.</param>
/// <param name="TransactionId">The recorded transaction, when one was recorded.</param>
/// <param name="Reason">Why, in words (no secrets), for the audit trail and logs.</param>
public sealed record WithdrawalOutcome(string ResponseCode, string? AuthCode, long? TransactionId, string Reason)
{
    /// <summary>True when approved.</summary>
    public bool IsApproved => ResponseCode == ResponseCodes.Approved;
}

/// <summary>A reversal advice after its MAC was verified.</summary>
/// <param name="Original">The original request's key (field 41 and 90).</param>
/// <param name="Mti">0420 or 0421.</param>
/// <param name="OriginalAmountMinor">Field 4.</param>
/// <param name="DispensedMinor">Field 95, what the ATM says it dispensed, if sent.</param>
/// <param name="ReasonCode">Field 39, one of <see cref="ReversalReasons"/>, or null for an ordinary reversal.</param>
internal sealed record VerifiedReversal(RequestKey Original, string Mti, long OriginalAmountMinor, long? DispensedMinor, string? ReasonCode = null);

/// <summary>The host's answer to a reversal advice.</summary>
/// <param name="ResponseCode">Field 39 of the 0430 (00: acknowledged).</param>
/// <param name="CreditedMinor">What this delivery credited (0 for a repeat).</param>
/// <param name="Outcome">What happened to the reversal.</param>
/// <param name="Repeat">True when this was a repeat of a reversal already processed.</param>
/// <param name="Reason">Why, in words.</param>
public sealed record ReversalOutcome(string ResponseCode, long CreditedMinor, ReversalOutcomeKind Outcome, bool Repeat, string Reason);

/// <summary>The ATM sent the same STAN and transmission time twice; the whole step is rolled back.</summary>
internal sealed class DuplicateRequestException : Exception
{
    public DuplicateRequestException()
        : base("The ATM already sent a request with this STAN and transmission time.")
    {
    }

    public DuplicateRequestException(string message)
        : base(message)
    {
    }

    public DuplicateRequestException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// The part of authorisation that reads and changes money state. It runs inside one store
/// transaction, so the session's single use, the PIN try counter, the transaction record, the
/// debit and the audit entry are committed together or not at all.
/// </summary>
internal static class LedgerDecisions
{
    /// <summary>Masks an account id for logs and audit: only the last four characters show.</summary>
    public static string Mask(string? accountId) =>
        accountId is null ? "-" : accountId.Length <= 4 ? new string('*', accountId.Length) : "****" + accountId[^4..];

    public static WithdrawalOutcome DecideWithdrawal(ILedgerWriter ledger, VerifiedWithdrawal request, HostPolicy policy)
    {
        var atm = request.Key.AtmId;
        var day = DateOnly.FromDateTime(ledger.UtcNow.UtcDateTime);

        WithdrawalOutcome Decline(string code, string reason, bool record)
        {
            long? id = null;
            if (record)
            {
                var tx = ledger.TryInsertTransaction(
                    NewTransaction(request, code, null, day, ledger.UtcNow),
                    request.SessionNonce) ?? throw new DuplicateRequestException();
                id = tx.TransactionId;
            }
            else
            {
                ledger.RecordRefusedRequest(atm, request.Key.Stan, code);
            }

            ledger.AppendAudit("withdrawal.declined", atm, code, $"stan {request.Key.Stan}: {reason}");
            return new WithdrawalOutcome(code, null, id, reason);
        }

        if (ledger.FindTransaction(request.Key) is not null)
        {
            return Decline(ResponseCodes.DuplicateTransmission, "the ATM already sent a request with this STAN and transmission time", record: false);
        }

        if (ledger.FindReversal(request.Key) is not null)
        {
            return Decline(ResponseCodes.InvalidTransaction, "the ATM already reversed this request (late original after its reversal)", record: false);
        }

        var phone = ledger.GetPhone(request.PhoneDeviceId);
        if (phone is null || phone.Status != PhoneStatus.Active)
        {
            return Decline(ResponseCodes.NotPermittedToCardholder, "phone enrolment missing or revoked", record: false);
        }

        if (!string.Equals(phone.AccountId, request.AccountId, StringComparison.Ordinal))
        {
            return Decline(ResponseCodes.InvalidAccount, $"account {Mask(request.AccountId)} is not the one phone {phone.DeviceId} is enrolled for", record: false);
        }

        if (phone.LastCounter is { } last && request.PhoneCounter <= last)
        {
            return Decline(ResponseCodes.SecurityViolation, $"phone key serial counter {request.PhoneCounter} is not above the last one seen ({last})", record: false);
        }

        ledger.UpdatePhoneCounter(request.PhoneDeviceId, request.PhoneCounter);

        if (!ledger.TryConsumeSessionNonce(request.SessionNonce, atm))
        {
            return Decline(ResponseCodes.DuplicateTransmission, "QR session already used", record: false);
        }

        var pin = ledger.GetPinRecord(request.AccountId);
        if (pin is null)
        {
            return Decline(ResponseCodes.InvalidAccount, $"no PIN verification record for account {Mask(request.AccountId)}", record: true);
        }

        if (pin.Locked)
        {
            return Decline(ResponseCodes.PinTriesExceeded, $"PIN locked for account {Mask(request.AccountId)}", record: true);
        }

        if (request.Pin.CheckedHash is null || !CryptographicOperations.FixedTimeEquals(request.Pin.CheckedHash, pin.Hash))
        {
            // The PIN was changed between the check and this step: do not guess, the customer retries.
            return Decline(ResponseCodes.SystemMalfunction, "PIN record changed during the request", record: true);
        }

        if (!request.Pin.Matched)
        {
            var tries = pin.FailedTries + 1;
            var locked = tries >= policy.MaxPinTries;
            ledger.UpdatePinTries(request.AccountId, tries, locked);
            return locked
                ? Decline(ResponseCodes.PinTriesExceeded, $"wrong PIN, try {tries} of {policy.MaxPinTries}: PIN now locked", record: true)
                : Decline(ResponseCodes.IncorrectPin, $"wrong PIN, try {tries} of {policy.MaxPinTries}", record: true);
        }

        if (pin.FailedTries != 0)
        {
            ledger.UpdatePinTries(request.AccountId, 0, false);
        }

        var account = ledger.GetAccount(request.AccountId);
        if (account is null)
        {
            return Decline(ResponseCodes.InvalidAccount, $"account {Mask(request.AccountId)} does not exist", record: true);
        }

        if (account.Status != AccountStatus.Active)
        {
            return Decline(ResponseCodes.DoNotHonour, $"account {Mask(request.AccountId)} is {account.Status.ToString().ToLowerInvariant()}", record: true);
        }

        if (account.CurrencyNumeric != request.Amount.Currency.NumericCode)
        {
            return Decline(ResponseCodes.InvalidAmount, $"currency {request.Amount.Currency.NumericCode:D3} is not the account's ({account.CurrencyNumeric:D3})", record: true);
        }

        if (account.BalanceMinor < request.Amount.MinorUnits)
        {
            return Decline(ResponseCodes.InsufficientFunds, "insufficient funds", record: true);
        }

        var usage = ledger.GetDailyUsage(request.AccountId, day);
        if (usage.AmountMinor + request.Amount.MinorUnits > account.DailyAmountLimitMinor)
        {
            return Decline(ResponseCodes.ExceedsAmountLimit, $"daily amount limit {account.DailyAmountLimitMinor} reached ({usage.AmountMinor} used)", record: true);
        }

        if (usage.Count + 1 > account.DailyCountLimit)
        {
            return Decline(ResponseCodes.ExceedsFrequencyLimit, $"daily count limit {account.DailyCountLimit} reached", record: true);
        }

        var authCode = NewAuthCode();
        var approved = ledger.TryInsertTransaction(NewTransaction(request, ResponseCodes.Approved, authCode, day, ledger.UtcNow), request.SessionNonce)
            ?? throw new DuplicateRequestException();
        ledger.PostLedgerEntry(request.AccountId, -request.Amount.MinorUnits, LedgerEntryKind.Withdrawal, approved.TransactionId);
        ledger.AppendAudit("withdrawal.approved", atm, ResponseCodes.Approved, $"stan {request.Key.Stan}: {request.Amount.MinorUnits} debited from account {Mask(request.AccountId)}, transaction {approved.TransactionId}");
        return new WithdrawalOutcome(ResponseCodes.Approved, authCode, approved.TransactionId, "approved");
    }

    public static ReversalOutcome DecideReversal(ILedgerWriter ledger, VerifiedReversal advice)
    {
        var original = advice.Original;
        var atm = original.AtmId;
        var what = $"reversal {advice.Mti} of stan {original.Stan} at {original.TransmissionDateTime}"
            + (advice.ReasonCode is { } code ? $" (reason {code})" : "");

        if (ledger.FindReversal(original) is { } earlier)
        {
            ledger.AppendAudit("reversal.repeat", atm, ResponseCodes.Approved, $"{what}: already processed as reversal {earlier.ReversalId} ({earlier.Outcome}); nothing credited");
            return new ReversalOutcome(ResponseCodes.Approved, 0, earlier.Outcome, true, "repeat of a processed reversal");
        }

        var tx = ledger.FindTransaction(original);
        if (tx is null)
        {
            ledger.TryInsertReversal(new ReversalRecord(0, original, null, advice.DispensedMinor ?? 0, 0, ReversalOutcomeKind.Unmatched, ledger.UtcNow, advice.ReasonCode));
            ledger.AppendAudit("reversal.unmatched", atm, ResponseCodes.Approved, $"{what}: no such transaction; acknowledged and kept for investigation");
            return new ReversalOutcome(ResponseCodes.Approved, 0, ReversalOutcomeKind.Unmatched, false, "no such transaction");
        }

        var dispensed = advice.DispensedMinor ?? 0;
        long credit = 0;
        var reason = "full reversal";
        if (tx.ResponseCode != ResponseCodes.Approved)
        {
            reason = "the original was declined; nothing to credit";
        }
        else if (dispensed > tx.Amount.MinorUnits)
        {
            reason = $"dispensed amount {dispensed} exceeds the approved {tx.Amount.MinorUnits}; nothing credited, to investigate";
        }
        else
        {
            credit = Math.Max(0, tx.Amount.MinorUnits - dispensed - tx.ReversedMinor);
            reason = dispensed == 0 ? "full reversal" : $"partial dispense of {dispensed}";
        }

        if (advice.OriginalAmountMinor != tx.Amount.MinorUnits)
        {
            reason += $" (advice names amount {advice.OriginalAmountMinor}, the transaction was {tx.Amount.MinorUnits}: the stored amount was used)";
        }

        // Reason 22: the dispenser could not say what it presented. The customer is credited as for
        // any reversal, and the same amount is marked suspect so the ATM's cash count settles it.
        var suspect = advice.ReasonCode == ReversalReasons.SuspectedMalfunction ? credit : 0;
        if (suspect > 0)
        {
            reason += $"; {suspect} suspect (the dispenser could not say what it presented): for the cash count";
        }

        var outcome = credit > 0 ? ReversalOutcomeKind.Applied : ReversalOutcomeKind.NoEffect;
        ledger.TryInsertReversal(new ReversalRecord(0, original, tx.TransactionId, dispensed, credit, outcome, ledger.UtcNow, advice.ReasonCode, suspect));
        if (credit > 0)
        {
            ledger.AddReversedAmount(tx.TransactionId, credit);
            ledger.PostLedgerEntry(tx.AccountId!, credit, LedgerEntryKind.Reversal, tx.TransactionId);
        }

        ledger.AppendAudit(credit > 0 ? "reversal.applied" : "reversal.no-effect", atm, ResponseCodes.Approved, $"{what}: {reason}; credited {credit} to account {Mask(tx.AccountId)}");
        return new ReversalOutcome(ResponseCodes.Approved, credit, outcome, false, reason);
    }

    private static TransactionRecord NewTransaction(VerifiedWithdrawal request, string code, string? authCode, DateOnly day, DateTimeOffset now) => new(
        0,
        request.Key,
        request.Rrn,
        request.AccountId,
        request.Amount,
        code,
        authCode,
        0,
        day,
        now);

    private static string NewAuthCode() =>
        RandomNumberGenerator.GetInt32(0, 1_000_000).ToString("D6", System.Globalization.CultureInfo.InvariantCulture);
}
