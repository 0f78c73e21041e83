using CardlessAtm.Iso8583;

namespace CardlessAtm.Phone.Withdrawal;

/// <summary>How a withdrawal ended, as far as the phone can know.</summary>
public enum WithdrawalStatus
{
    /// <summary>Approved (39 = 00) and the whole amount dispensed.</summary>
    Approved,

    /// <summary>Only part of the amount was dispensed (field 95 carries the actual amount); the rest is reversed by the ATM.</summary>
    PartiallyDispensed,

    /// <summary>Declined with a response code; nothing was dispensed.</summary>
    Declined,

    /// <summary>The request was sent but no usable answer came (timeout, connection lost, malformed answer): check the account.</summary>
    OutcomeUnknown,

    /// <summary>The proxy could not be reached; nothing was sent, no money moved.</summary>
    NotSent,

    /// <summary>The customer did not confirm the ATM and amount; nothing was sent.</summary>
    Cancelled,
}

/// <summary>
/// The typed result of <see cref="CardlessWithdrawalClient.WithdrawAsync"/>: status, amounts, response code and a
/// customer message in plain words. Carries no PIN, key or account id.
/// </summary>
public sealed record WithdrawalOutcome
{
    private WithdrawalOutcome(WithdrawalStatus status, AtmId atmId, Money requested, Money? dispensed, string? responseCode, string? authorisationCode, int? stan, string message)
    {
        Status = status;
        AtmId = atmId;
        Requested = requested;
        Dispensed = dispensed;
        ResponseCode = responseCode;
        AuthorisationCode = authorisationCode;
        Stan = stan;
        Message = message;
    }

    /// <summary>How it ended.</summary>
    public WithdrawalStatus Status { get; }

    /// <summary>The ATM the session belonged to.</summary>
    public AtmId AtmId { get; }

    /// <summary>The amount the QR code asked for.</summary>
    public Money Requested { get; }

    /// <summary>What the ATM reports it dispensed: the whole amount, the field 95 amount, zero when declined; null when unknown (no answer, or a 91/96 that may come from the proxy after forwarding).</summary>
    public Money? Dispensed { get; }

    /// <summary>Field 39 of the answer, when one came.</summary>
    public string? ResponseCode { get; }

    /// <summary>The response code in words (from <see cref="ResponseCodes.Describe"/>), when one came.</summary>
    public string? ResponseText => ResponseCode is null ? null : ResponseCodes.Describe(ResponseCode);

    /// <summary>Field 38, the authorisation code, when approved.</summary>
    public string? AuthorisationCode { get; }

    /// <summary>The phone's STAN (field 11) of the request, when one was built.</summary>
    public int? Stan { get; }

    /// <summary>What to tell the customer, in plain words.</summary>
    public string Message { get; }

    /// <summary>True when cash was dispensed (all or part).</summary>
    public bool CashDispensed => Dispensed is { MinorUnits: > 0 };

    internal static WithdrawalOutcome Approved(AtmId atm, Money requested, string? authCode, int stan) =>
        new(WithdrawalStatus.Approved, atm, requested, requested, ResponseCodes.Approved, authCode, stan,
            $"Approved: {requested} dispensed at {atm}{AuthText(authCode)}. Take your cash.");

    internal static WithdrawalOutcome Partial(AtmId atm, Money requested, Money dispensed, string code, string? authCode, int stan) =>
        new(WithdrawalStatus.PartiallyDispensed, atm, requested, dispensed, code, authCode, stan,
            $"Only part was dispensed: {dispensed} of {requested} at {atm}{AuthText(authCode)}. Take your cash; the {new Money(requested.MinorUnits - dispensed.MinorUnits, requested.Currency)} not dispensed is reversed to your account.");

    internal static WithdrawalOutcome Declined(AtmId atm, Money requested, string code, int stan, string? detail = null) =>
        MayHaveBeenForwarded(code)
            ? new(WithdrawalStatus.Declined, atm, requested, null, code, null, stan,
                $"Declined: {Reason(code)} (response code {code}){detail}. The network cannot say whether the ATM acted: if it gave you no cash, the withdrawal is reversed; check your account if unsure.")
            : new(WithdrawalStatus.Declined, atm, requested, new Money(0, requested.Currency), code, null, stan,
                $"Declined: {Reason(code)} (response code {code}){detail}. Nothing was dispensed.");

    /// <summary>
    /// 91 and 96 are also what the proxy answers when the ATM went silent or its answer was unreadable after the
    /// request had been forwarded (docs/proxy.md): the phone cannot tell that from a plain refusal, so it does not
    /// claim that nothing was dispensed.
    /// </summary>
    internal static bool MayHaveBeenForwarded(string code) => code is ResponseCodes.IssuerUnavailable or ResponseCodes.SystemMalfunction;

    internal static WithdrawalOutcome Unknown(AtmId atm, Money requested, int stan, string why) =>
        new(WithdrawalStatus.OutcomeUnknown, atm, requested, null, null, null, stan,
            $"Outcome unknown — check your account. The request for {requested} was sent to {atm}, but {why}. If no cash came out, the ATM reverses the withdrawal.");

    internal static WithdrawalOutcome NotSent(AtmId atm, Money requested, string why) =>
        new(WithdrawalStatus.NotSent, atm, requested, new Money(0, requested.Currency), null, null, null,
            $"Could not reach the cash service: {why}. Nothing was sent; no money moved.");

    internal static WithdrawalOutcome Cancelled(AtmId atm, Money requested) =>
        new(WithdrawalStatus.Cancelled, atm, requested, new Money(0, requested.Currency), null, null, null,
            "Cancelled: you did not confirm. Nothing was sent.");

    /// <summary>The customer message.</summary>
    public override string ToString() => Message;

    /// <summary>The response code in customer words (more specific than the code table where it helps the customer).</summary>
    internal static string Reason(string code) => code switch
    {
        ResponseCodes.IncorrectPin => "incorrect PIN",
        ResponseCodes.InsufficientFunds => "insufficient funds",
        ResponseCodes.IssuerUnavailable => "the bank or the ATM cannot be reached right now (issuer or switch inoperative)",
        ResponseCodes.RoutingError => "the ATM is not known to the network",
        ResponseCodes.DuplicateTransmission => "this QR code was already used",
        ResponseCodes.PinTriesExceeded => "too many wrong PIN entries",
        _ => ResponseCodes.Describe(code),
    };

    private static string AuthText(string? authCode) => string.IsNullOrEmpty(authCode) ? string.Empty : $" (authorisation {authCode})";
}
