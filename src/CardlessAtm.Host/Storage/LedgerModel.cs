namespace CardlessAtm.Host.Storage;

/// <summary>Whether an account may be debited.</summary>
public enum AccountStatus
{
    /// <summary>Withdrawals allowed.</summary>
    Active,

    /// <summary>Temporarily blocked by the bank (response code 57 / 62 family).</summary>
    Blocked,

    /// <summary>Closed for good.</summary>
    Closed,
}

/// <summary>Whether an ATM may transact with the host.</summary>
public enum AtmStatus
{
    /// <summary>In service.</summary>
    Active,

    /// <summary>Taken out of service by an operator: every request is declined.</summary>
    Blocked,
}

/// <summary>Whether a phone enrolment is usable.</summary>
public enum PhoneStatus
{
    /// <summary>The phone may send requests.</summary>
    Active,

    /// <summary>Revoked (lost phone, fraud): its requests are declined.</summary>
    Revoked,
}

/// <summary>A customer account. Amounts are minor units of <see cref="CurrencyNumeric"/>.</summary>
/// <param name="AccountId">The bank's account id (printable, at most 34 characters).</param>
/// <param name="HolderName">Account holder's display name.</param>
/// <param name="CurrencyNumeric">ISO 4217 numeric code, e.g. 978 for EUR.</param>
/// <param name="BalanceMinor">Current available balance in minor units (never negative).</param>
/// <param name="Status">Whether it may be debited.</param>
/// <param name="DailyAmountLimitMinor">Most that may be withdrawn per UTC business day.</param>
/// <param name="DailyCountLimit">Most withdrawals per UTC business day.</param>
public sealed record AccountRecord(
    string AccountId,
    string HolderName,
    int CurrencyNumeric,
    long BalanceMinor,
    AccountStatus Status,
    long DailyAmountLimitMinor,
    int DailyCountLimit);

/// <summary>
/// The customer's PIN verification value (see <see cref="Credentials.PinReferences"/>). Never the PIN
/// and not reversible.
/// </summary>
/// <param name="AccountId">The account the PIN belongs to.</param>
/// <param name="Algorithm">Algorithm label, e.g. <c>pvv1-hmac-sha256</c>.</param>
/// <param name="Iterations">Iteration count for slow-hash schemes (1 for a keyed verification value).</param>
/// <param name="Salt">Per-record salt for salted schemes (empty for a keyed verification value).</param>
/// <param name="Hash">The derived verification value.</param>
/// <param name="FailedTries">Consecutive wrong PIN entries since the last good one.</param>
/// <param name="Locked">True once <see cref="FailedTries"/> reached the limit.</param>
public sealed record PinRecord(
    string AccountId,
    string Algorithm,
    int Iterations,
    byte[] Salt,
    byte[] Hash,
    int FailedTries,
    bool Locked)
{
    /// <inheritdoc />
    public override string ToString() =>
        $"PinRecord {{ AccountId = {AccountId}, Algorithm = {Algorithm}, Iterations = {Iterations}, FailedTries = {FailedTries}, Locked = {Locked} }}";
}

/// <summary>A phone enrolled as a DUKPT device for one account.</summary>
/// <param name="DeviceId">The phone's DUKPT device id (the KSN without its transaction counter), hex.</param>
/// <param name="BdkId">Reference of the base derivation key in the key vault.</param>
/// <param name="AccountId">The account this phone may withdraw from.</param>
/// <param name="Status">Active or revoked.</param>
/// <param name="LastCounter">Highest DUKPT transaction counter seen (replay defence), or null.</param>
public sealed record PhoneEnrolment(
    string DeviceId,
    string BdkId,
    string AccountId,
    PhoneStatus Status,
    long? LastCounter);

/// <summary>An ATM known to the host and the references of its keys (never the keys themselves).</summary>
/// <param name="AtmId">Terminal id, exactly 8 printable characters (field 41).</param>
/// <param name="Location">Free text where it stands.</param>
/// <param name="CurrencyNumeric">The currency it dispenses, ISO 4217 numeric.</param>
/// <param name="Status">Active or blocked by an operator.</param>
/// <param name="SignedOn">True between a 0800 sign-on and sign-off.</param>
/// <param name="MasterKeyRef">Key vault reference of its terminal master key.</param>
/// <param name="SessionKeyRef">Key vault reference of its current session key set, or null before the first key change.</param>
/// <param name="SessionKeyVersion">Increments at every key change.</param>
/// <param name="SessionKeyCheckValue">Check value of the current session MAC key (safe to show).</param>
/// <param name="PreviousSessionKeyRef">Vault reference of the session key set the last key change replaced, kept for messages in flight.</param>
/// <param name="PreviousKeyValidUntil">Until when the previous key set is still accepted (the key change's time + <c>Host:Policy:PreviousKeyGrace</c>).</param>
public sealed record AtmRecord(
    string AtmId,
    string Location,
    int CurrencyNumeric,
    AtmStatus Status,
    bool SignedOn,
    string MasterKeyRef,
    string? SessionKeyRef,
    int SessionKeyVersion,
    string? SessionKeyCheckValue,
    string? PreviousSessionKeyRef = null,
    DateTimeOffset? PreviousKeyValidUntil = null);

/// <summary>A session key version a key change replaced, still accepted for messages in flight until <paramref name="ValidUntil"/>.</summary>
/// <param name="Version">The key version.</param>
/// <param name="KeyRef">Its vault reference.</param>
/// <param name="ValidUntil">When its grace period (from its own supersession) ends.</param>
public sealed record PreviousSessionKey(int Version, string KeyRef, DateTimeOffset ValidUntil);

/// <summary>Key of an authorisation request as the ATM numbers it: field 41 + 11 + 7.</summary>
/// <param name="AtmId">Field 41.</param>
/// <param name="Stan">Field 11, six digits.</param>
/// <param name="TransmissionDateTime">Field 7, MMDDhhmmss.</param>
public readonly record struct RequestKey(string AtmId, string Stan, string TransmissionDateTime);

/// <summary>A recorded authorisation decision (approved or declined after the session was consumed).</summary>
/// <param name="TransactionId">Host-assigned id.</param>
/// <param name="Key">The ATM's numbering of the request.</param>
/// <param name="Rrn">Field 37 as sent by the ATM.</param>
/// <param name="AccountId">The customer account, when it was known.</param>
/// <param name="Amount">Requested amount in its currency (the stores keep minor units and the ISO 4217 numeric code).</param>
/// <param name="ResponseCode">Field 39 sent back.</param>
/// <param name="AuthCode">Field 38 when approved.</param>
/// <param name="ReversedMinor">How much of an approved amount reversals gave back.</param>
/// <param name="BusinessDay">UTC day the decision counts in.</param>
/// <param name="CreatedUtc">When the decision was committed.</param>
public sealed record TransactionRecord(
    long TransactionId,
    RequestKey Key,
    string Rrn,
    string? AccountId,
    Money Amount,
    string ResponseCode,
    string? AuthCode,
    long ReversedMinor,
    DateOnly BusinessDay,
    DateTimeOffset CreatedUtc);

/// <summary>What happened to a reversal advice.</summary>
public enum ReversalOutcomeKind
{
    /// <summary>Matched an approved withdrawal and credited the account.</summary>
    Applied,

    /// <summary>Matched a transaction that needed no credit (declined, or nothing left to give back).</summary>
    NoEffect,

    /// <summary>No such original transaction: acknowledged and kept for investigation.</summary>
    Unmatched,
}

/// <summary>A stored reversal.</summary>
/// <param name="ReversalId">Host-assigned id.</param>
/// <param name="Original">The original request's key (from field 90 and 41).</param>
/// <param name="TransactionId">The matched transaction, if any.</param>
/// <param name="DispensedMinor">What the ATM says it dispensed (0 for a full reversal).</param>
/// <param name="CreditedMinor">What was credited back to the account.</param>
/// <param name="Outcome">Applied, no effect or unmatched.</param>
/// <param name="CreatedUtc">When it was first received.</param>
/// <param name="ReasonCode">Field 39 of the advice (<see cref="Iso8583.ReversalReasons"/>), or null for an ordinary reversal.</param>
/// <param name="SuspectMinor">
/// The part of <paramref name="CreditedMinor"/> the ATM could not vouch for (reason 22, suspected malfunction):
/// the customer was credited, the ATM's cash count settles it. 0 otherwise.
/// </param>
public sealed record ReversalRecord(
    long ReversalId,
    RequestKey Original,
    long? TransactionId,
    long DispensedMinor,
    long CreditedMinor,
    ReversalOutcomeKind Outcome,
    DateTimeOffset CreatedUtc,
    string? ReasonCode = null,
    long SuspectMinor = 0);

/// <summary>An entry in the audit trail. <see cref="Detail"/> never holds a secret.</summary>
/// <param name="AuditId">Sequence number.</param>
/// <param name="AtUtc">When.</param>
/// <param name="Event">What kind of event, e.g. <c>withdrawal.declined</c>.</param>
/// <param name="AtmId">The ATM concerned, if known.</param>
/// <param name="ResponseCode">The response code sent, if any.</param>
/// <param name="Detail">Human-readable reason, sanitised.</param>
public sealed record AuditEntry(
    long AuditId,
    DateTimeOffset AtUtc,
    string Event,
    string? AtmId,
    string? ResponseCode,
    string Detail);

/// <summary>Withdrawal usage of one account on one business day.</summary>
/// <param name="AmountMinor">Approved amount less reversals.</param>
/// <param name="Count">Approved withdrawals not fully reversed.</param>
public readonly record struct DailyUsage(long AmountMinor, int Count);

/// <summary>Totals over the whole ledger, for reconciliation and the money invariant.</summary>
/// <param name="SumOfBalancesMinor">Sum of all account balances.</param>
/// <param name="OpeningAndCreditsMinor">Opening balances plus operator credits.</param>
/// <param name="ApprovedWithdrawalsMinor">Sum of all approved withdrawal debits.</param>
/// <param name="ReversalsMinor">Sum of all reversal credits.</param>
/// <param name="LedgerEntriesMatchBalances">True when every account's balance equals the sum of its ledger entries.</param>
public readonly record struct LedgerTotals(
    long SumOfBalancesMinor,
    long OpeningAndCreditsMinor,
    long ApprovedWithdrawalsMinor,
    long ReversalsMinor,
    bool LedgerEntriesMatchBalances)
{
    /// <summary>Sum of balances + approved withdrawals − reversals = opening balances + credits.</summary>
    public bool Balances =>
        LedgerEntriesMatchBalances
        && SumOfBalancesMinor + ApprovedWithdrawalsMinor - ReversalsMinor == OpeningAndCreditsMinor;
}

/// <summary>One ATM's line in the day's reconciliation report.</summary>
/// <param name="AtmId">The ATM.</param>
/// <param name="CurrencyNumeric">Currency of the amounts.</param>
/// <param name="ApprovedCount">Approved withdrawals.</param>
/// <param name="ApprovedMinor">Their total.</param>
/// <param name="DeclinedCount">Declined withdrawal requests: those recorded as transactions and those refused before one (bad MAC, QR session, phone, ...).</param>
/// <param name="ReversedCount">Reversals applied.</param>
/// <param name="ReversedMinor">Amount credited back.</param>
/// <param name="UnmatchedReversals">Reversals for unknown transactions (to investigate).</param>
/// <param name="SuspectCount">Reversals with reason 22 (the dispenser could not say what it presented) that credited something.</param>
/// <param name="SuspectMinor">
/// What those credited: included in <paramref name="ReversedMinor"/>, but the notes may have been taken, so the
/// ATM's cash count settles it (a surplus of this much in the cassettes means the customer got nothing).
/// </param>
public sealed record AtmDayReport(
    string AtmId,
    int CurrencyNumeric,
    int ApprovedCount,
    long ApprovedMinor,
    int DeclinedCount,
    int ReversedCount,
    long ReversedMinor,
    int UnmatchedReversals,
    int SuspectCount = 0,
    long SuspectMinor = 0)
{
    /// <summary>What the ATM should have paid out: approved less reversed.</summary>
    public long NetDispensedMinor => ApprovedMinor - ReversedMinor;
}
