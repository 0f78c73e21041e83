using System.Diagnostics;
using System.Text;
using CardlessAtm.Host.Authorisation;
using CardlessAtm.Host.Credentials;
using CardlessAtm.Host.Keys;
using CardlessAtm.Host.Storage;
using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Mac;
using CardlessAtm.Qr.Payload;
using CardlessAtm.Qr.Sessions;
using CardlessAtm.Security;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Host.Processing;

/// <summary>
/// The host's message logic, independent of the transport: takes a decoded 0200, 0420/0421 or 0800
/// and returns the MACed response. Every failure becomes a response code and an audit entry; no
/// exception escapes for a bad message.
/// </summary>
/// <remarks>
/// A 0200 is checked in this order, each failure with its own code: message shape; the ATM and its
/// message MAC; the processing code, amount and currency; the phone's protected data (DUKPT key
/// from the KSN, phone MAC, decryption); the QR session (its MAC by that ATM, expiry, ATM id and
/// amount); then, inside one database transaction, the phone's DUKPT counter, the session's single
/// use, the PIN try counter, the account, the balance and the daily limits, and the debit.
/// </remarks>
public sealed class HostProcessor : IDisposable
{
    private static readonly int[] WithdrawalFields = [3, 4, 7, 11, 37, 41, 48, 49, 127];
    private static readonly int[] ReversalFields = [4, 7, 11, 41, 90];

    private readonly IHostStore _store;
    private readonly HostKeyring _keys;
    private readonly PinVerifier _pins;
    private readonly HostPolicy _policy;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IPhoneRequestOpener _phoneOpener;
    private readonly QrSessionOptions _qrOptions;

    /// <summary>Creates the processor.</summary>
    /// <param name="store">The ledger.</param>
    /// <param name="vault">Where ATM, phone and PIN keys live.</param>
    /// <param name="profile">The security profile every party uses.</param>
    /// <param name="pins">PIN verification (owned by the caller).</param>
    /// <param name="policy">Limits; defaults if null.</param>
    /// <param name="time">Clock; system clock if null.</param>
    /// <param name="logger">Logger; none if null.</param>
    public HostProcessor(IHostStore store, FileKeyStore vault, ISecurityProfile profile, PinVerifier pins, HostPolicy? policy = null, TimeProvider? time = null, ILogger? logger = null)
    {
        _store = store ?? throw new ArgumentNullException(nameof(store));
        ArgumentNullException.ThrowIfNull(vault);
        ArgumentNullException.ThrowIfNull(profile);
        _pins = pins ?? throw new ArgumentNullException(nameof(pins));
        _policy = policy ?? new HostPolicy();
        _policy.Validate();
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        _keys = new HostKeyring(vault, profile);
        _phoneOpener = profile.CreatePhoneOpener(new EnrolledPhoneKeys(_store, _keys));
        _qrOptions = new QrSessionOptions { MaxLifetime = _policy.MaxSessionLifetime, ClockSkew = _policy.ClockSkew };
        _qrOptions.Validate();
    }

    /// <summary>
    /// Fault-injection point for crash tests: awaited after a withdrawal decision is committed and
    /// before its response is returned. Null in production.
    /// </summary>
    public Func<IsoMessage, WithdrawalOutcome, ValueTask>? AfterWithdrawalCommitted { get; set; }

    /// <summary>
    /// Fault-injection point for the reversal lifecycle: awaited after an 0420/0421 is authenticated and before it
    /// is written; throwing <see cref="StoreUnavailableException"/> gives the ATM the 91 a failed write gives. Null in production.
    /// </summary>
    public Func<IsoMessage, ValueTask>? BeforeReversalWritten { get; set; }

    /// <summary>Handles one request; returns its response, or null for a message that gets none.</summary>
    public async ValueTask<IsoMessage?> HandleAsync(IsoMessage request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        try
        {
            return request.Mti switch
            {
                Mti.FinancialRequest => await WithdrawAsync(request, cancellationToken),
                Mti.ReversalAdvice or Mti.ReversalAdviceRepeat => await ReverseAsync(request, cancellationToken),
                Mti.NetworkManagementRequest => await NetworkManagementAsync(request, cancellationToken),
                _ => await UnsupportedAsync(request, cancellationToken),
            };
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (StoreUnavailableException ex)
        {
            _logger.LogError(ex, "Host database unavailable while handling {Mti}", request.Mti);
            return await FailAsync(request, ResponseCodes.IssuerUnavailable, "host database unavailable", cancellationToken);
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "Unexpected error while handling {Mti}", request.Mti);
            return await FailAsync(request, ResponseCodes.SystemMalfunction, "unexpected error: " + ex.GetType().Name, cancellationToken);
        }
    }

    private async ValueTask<IsoMessage?> UnsupportedAsync(IsoMessage request, CancellationToken cancellationToken)
    {
        if (!Mti.IsRequest(request.Mti))
        {
            await AuditAsync("message.ignored", SafeTerminal(request), null, $"unexpected {request.Mti} ignored", cancellationToken);
            return null;
        }

        return await DeclineAsync(request, null, ResponseCodes.InvalidTransaction, $"MTI {request.Mti} is not handled by the host", cancellationToken);
    }

    private async ValueTask<IsoMessage> WithdrawAsync(IsoMessage request, CancellationToken cancellationToken)
    {
        var (atm, keys, problem) = await AuthenticateAtmAsync(request, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        if (FirstMissing(request, WithdrawalFields) is { } missing)
        {
            return await DeclineAsync(request, keys, ResponseCodes.FormatError, $"field {missing} missing", cancellationToken);
        }

        string processingCode, amountText, currencyText, qrText, stanText;
        long amount;
        int currency;
        try
        {
            processingCode = request.ProcessingCode!;
            amountText = request.GetString(4)!;
            amount = request.AmountMinor!.Value;
            currencyText = request.GetString(49)!;
            currency = request.CurrencyCode!.Value;
            qrText = request.SessionPayload!;
            stanText = request.GetString(11)!;
        }
        catch (Iso8583FieldException ex)
        {
            return await DeclineAsync(request, keys, ResponseCodes.FormatError, $"field {ex.FieldNumber} malformed", cancellationToken);
        }

        if (!processingCode.StartsWith("01", StringComparison.Ordinal))
        {
            return await DeclineAsync(request, keys, ResponseCodes.InvalidTransaction, $"processing code {Safe(processingCode)} is not a cash withdrawal (01xxxx)", cancellationToken);
        }

        if (amount <= 0 || amount > _policy.MaxWithdrawalMinor)
        {
            return await DeclineAsync(request, keys, ResponseCodes.InvalidAmount, $"amount {amount} outside 1..{_policy.MaxWithdrawalMinor}", cancellationToken);
        }

        if (currency != atm!.CurrencyNumeric)
        {
            return await DeclineAsync(request, keys, ResponseCodes.InvalidAmount, $"currency {currency:D3} is not the ATM's ({atm.CurrencyNumeric:D3})", cancellationToken);
        }

        OpenedPhoneRequest opened;
        try
        {
            var binding = new PhoneRequestBinding(processingCode, amountText, atm.AtmId, qrText, currencyText);
            opened = _phoneOpener.Open(request.ProtectedData, binding);
        }
        catch (SecurityException ex)
        {
            var code = ex.Failure switch
            {
                SecurityFailure.MalformedData or SecurityFailure.MalformedPinBlock or SecurityFailure.InvalidCredentialFormat => ResponseCodes.FormatError,
                _ => ResponseCodes.SecurityViolation,
            };
            return await DeclineAsync(request, keys, code, $"phone protected data refused: {ex.Failure}", cancellationToken);
        }

        using (opened)
        {
            var qr = new QrSessionVerifier(keys!.QrMac, NoReplayGuard.Instance, _time, _qrOptions).Verify(qrText, AtmId.Parse(atm.AtmId));
            if (qr.Payload is not { } payload)
            {
                var rejection = qr.Rejection!;
                var code = rejection.Reason switch
                {
                    QrPayloadRejectionReason.NotASessionCode or QrPayloadRejectionReason.UnknownVersion or QrPayloadRejectionReason.Truncated
                        or QrPayloadRejectionReason.Padded or QrPayloadRejectionReason.Malformed => ResponseCodes.FormatError,
                    QrPayloadRejectionReason.UnknownCurrency or QrPayloadRejectionReason.ZeroAmount => ResponseCodes.InvalidAmount,
                    QrPayloadRejectionReason.OtherAtm => ResponseCodes.InvalidTransaction,
                    QrPayloadRejectionReason.Expired => ResponseCodes.SessionExpired,
                    _ => ResponseCodes.SecurityViolation,
                };
                return await DeclineAsync(request, keys, code, $"QR session refused: {rejection.Reason}", cancellationToken);
            }

            if (payload.Amount.MinorUnits != amount || payload.Amount.Currency.NumericCode != currency)
            {
                return await DeclineAsync(request, keys, ResponseCodes.InvalidAmount, $"request amount {amount} {currency:D3} differs from the QR session's {payload.Amount.MinorUnits} {payload.Amount.Currency.NumericCode:D3}", cancellationToken);
            }

            var pinRecord = await _store.ReadAsync(r => r.GetPinRecord(opened.AccountId), cancellationToken);
            var pinCheck = pinRecord is null || pinRecord.Locked
                ? new PinCheck(false, pinRecord?.Hash)
                : new PinCheck(CheckPin(opened, pinRecord), pinRecord.Hash);

            var verified = new VerifiedWithdrawal(
                new RequestKey(atm.AtmId, stanText, request.GetString(7)!),
                request.RetrievalReferenceNumber ?? "",
                amount,
                currency,
                $"{atm.AtmId}:{payload.Nonce}",
                opened.AccountId,
                opened.DeviceId,
                opened.Ksn.TransactionCounter,
                pinCheck);

            WithdrawalOutcome outcome;
            try
            {
                outcome = await _store.WriteAsync(w => LedgerDecisions.DecideWithdrawal(w, verified, _policy), cancellationToken);
            }
            catch (DuplicateRequestException)
            {
                return await DeclineAsync(request, keys, ResponseCodes.DuplicateTransmission, $"STAN {stanText} at {verified.Key.TransmissionDateTime} already used by this ATM", cancellationToken);
            }

            if (AfterWithdrawalCommitted is { } hook)
            {
                await hook(request, outcome);
            }

            _logger.LogInformation(
                "0200 from {AtmId} stan {Stan}: {ResponseCode} ({Reason})", atm.AtmId, stanText, outcome.ResponseCode, outcome.Reason);
            var response = request.CreateResponse(outcome.ResponseCode);
            if (outcome.AuthCode is not null)
            {
                response.AuthorizationCode = outcome.AuthCode;
            }

            MessageMac.Apply(response, keys.IsoMac);
            return response;
        }
    }

    private bool CheckPin(OpenedPhoneRequest opened, PinRecord record) => PinReferences.Matches(_pins, opened, record);

    private async ValueTask<IsoMessage> ReverseAsync(IsoMessage request, CancellationToken cancellationToken)
    {
        var (atm, keys, problem) = await AuthenticateAtmAsync(request, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        if (FirstMissing(request, ReversalFields) is { } missing)
        {
            return await DeclineAsync(request, keys, ResponseCodes.FormatError, $"reversal field {missing} missing", cancellationToken);
        }

        OriginalDataElements original;
        long amount;
        long? dispensed;
        string? reasonCode;
        try
        {
            original = request.OriginalData!;
            amount = request.AmountMinor!.Value;
            dispensed = request.Has(95) ? request.ReplacementAmountMinor : null;
            reasonCode = request.Has(39) ? request.ResponseCode : null;
        }
        catch (Iso8583FieldException ex)
        {
            return await DeclineAsync(request, keys, ResponseCodes.FormatError, $"reversal field {ex.FieldNumber} malformed", cancellationToken);
        }

        // Field 39 is optional (absent: an ordinary reversal); present, it must be a reason we know,
        // or the host would credit without knowing whether the amount is suspect.
        if (reasonCode is not null && !ReversalReasons.IsKnown(reasonCode))
        {
            return await DeclineAsync(request, keys, ResponseCodes.FormatError, $"reversal reason (field 39) {Safe(reasonCode)} is not a known reason code", cancellationToken);
        }

        if (original.OriginalMti != Mti.FinancialRequest)
        {
            return await DeclineAsync(request, keys, ResponseCodes.InvalidTransaction, $"reversal of a {Safe(original.OriginalMti)}: only 0200 can be reversed", cancellationToken);
        }

        var advice = new VerifiedReversal(
            new RequestKey(atm!.AtmId, original.OriginalStan.ToString("D6", System.Globalization.CultureInfo.InvariantCulture), original.OriginalTransmissionDateTime),
            request.Mti,
            amount,
            dispensed,
            reasonCode);
        if (BeforeReversalWritten is { } beforeWrite)
        {
            await beforeWrite(request);
        }

        var outcome = await _store.WriteAsync(w => LedgerDecisions.DecideReversal(w, advice), cancellationToken);
        _logger.LogInformation(
            "{Mti} from {AtmId} for stan {Stan}: {Outcome}, credited {Credited} ({Reason})",
            request.Mti,
            atm.AtmId,
            advice.Original.Stan,
            outcome.Outcome,
            outcome.CreditedMinor,
            outcome.Reason);
        var response = request.CreateResponse(outcome.ResponseCode);
        MessageMac.Apply(response, keys!.IsoMac);
        return response;
    }

    private async ValueTask<IsoMessage> NetworkManagementAsync(IsoMessage request, CancellationToken cancellationToken)
    {
        var atmId = SafeTerminal(request);
        var code = request.NetworkManagementCode;
        var atm = atmId is null ? null : await _store.ReadAsync(r => r.GetAtm(atmId), cancellationToken);
        if (atm is null)
        {
            return await DeclineAsync(request, null, ResponseCodes.InvalidTransaction, "network management from an unknown ATM", cancellationToken);
        }

        // Network management may come before any session key exists; when the ATM has one and the
        // message carries a MAC, it must verify.
        var keys = _keys.SessionKeysFor(atm);
        if (keys is not null && (request.Has(64) || request.Has(128)) && MessageMac.Verify(request, keys.IsoMac) != MacCheckResult.Valid)
        {
            return await DeclineAsync(request, keys, ResponseCodes.SecurityViolation, "network management MAC does not verify", cancellationToken);
        }

        if (atm.Status != AtmStatus.Active)
        {
            return await DeclineAsync(request, keys, ResponseCodes.InvalidTransaction, "ATM is blocked", cancellationToken);
        }

        switch (code)
        {
            case NetworkManagementCodes.SignOn:
            case NetworkManagementCodes.SignOff:
                var signOn = code == NetworkManagementCodes.SignOn;
                await _store.WriteAsync(
                    w =>
                    {
                        var current = w.GetAtm(atm.AtmId)!;
                        w.UpdateAtm(current with { SignedOn = signOn });
                        w.AppendAudit(signOn ? "atm.sign-on" : "atm.sign-off", atm.AtmId, ResponseCodes.Approved, signOn ? "signed on" : "signed off");
                        return 0;
                    },
                    cancellationToken);
                return Respond(request, ResponseCodes.Approved, keys);
            case NetworkManagementCodes.EchoTest:
                return Respond(request, ResponseCodes.Approved, keys);
            case NetworkManagementCodes.KeyChange:
                return await ChangeKeysAsync(request, atm, cancellationToken);
            default:
                return await DeclineAsync(request, keys, ResponseCodes.InvalidTransaction, $"network management code {Safe(code)} not supported", cancellationToken);
        }
    }

    private async ValueTask<IsoMessage> ChangeKeysAsync(IsoMessage request, AtmRecord atm, CancellationToken cancellationToken)
    {
        var profile = _keys.Profile;
        using var sessionKeys = profile.GenerateSessionKeys();
        byte[] keyChangeData;
        using (var masterKey = _keys.Vault.LoadKey(atm.MasterKeyRef))
        {
            keyChangeData = profile.CreateKeyChangeData(masterKey, sessionKeys);
        }

        var version = atm.SessionKeyVersion + 1;
        var macKeyRef = $"mac-{atm.AtmId}-v{version}";
        _keys.Vault.SaveKey(macKeyRef, sessionKeys.MacKey, overwrite: true);
        if (sessionKeys.PinKey is { } pinKey)
        {
            _keys.Vault.SaveKey($"tpk-{atm.AtmId}-v{version}", pinKey, overwrite: true);
        }

        var kcv = sessionKeys.MacKey.CheckValue.ToString();
        await _store.WriteAsync(
            w =>
            {
                var current = w.GetAtm(atm.AtmId)!;
                w.UpdateAtm(current with { SessionKeyRef = macKeyRef, SessionKeyVersion = version, SessionKeyCheckValue = kcv });
                w.AppendAudit("atm.key-change", atm.AtmId, ResponseCodes.Approved, $"session keys version {version}, MAC key KCV {kcv}");
                return 0;
            },
            cancellationToken);
        _logger.LogInformation("Key change for {AtmId}: session key version {Version}, MAC KCV {Kcv}", atm.AtmId, version, kcv);

        // The 0810 is not MACed: the new keys are usable only by the holder of the master key, and the
        // ATM checks each key against its KCV inside field 120.
        var response = request.CreateResponse(ResponseCodes.Approved);
        response.KeyChangeData = keyChangeData;
        return response;
    }

    private async ValueTask<(AtmRecord? Atm, AtmSessionKeys? Keys, IsoMessage? Problem)> AuthenticateAtmAsync(IsoMessage request, CancellationToken cancellationToken)
    {
        var atmId = SafeTerminal(request);
        if (atmId is null || !AtmId.TryParse(atmId, out _))
        {
            return (null, null, await DeclineAsync(request, null, ResponseCodes.FormatError, "field 41 is not an ATM id", cancellationToken));
        }

        var atm = await _store.ReadAsync(r => r.GetAtm(atmId), cancellationToken);
        if (atm is null)
        {
            return (null, null, await DeclineAsync(request, null, ResponseCodes.InvalidTransaction, "unknown ATM", cancellationToken));
        }

        var keys = _keys.SessionKeysFor(atm);
        if (keys is null)
        {
            // 96 tells the ATM its keys are stale: it does an 0800 key change (docs/protocol/iso8583.md §2.6).
            return (atm, null, await DeclineAsync(request, null, ResponseCodes.SystemMalfunction, "ATM has no session key yet (key change first)", cancellationToken));
        }

        var mac = MessageMac.Verify(request, keys.IsoMac);
        if (mac != MacCheckResult.Valid)
        {
            return (atm, keys, await DeclineAsync(request, keys, ResponseCodes.SecurityViolation, $"ATM message MAC {mac}", cancellationToken));
        }

        if (atm.Status != AtmStatus.Active)
        {
            return (atm, keys, await DeclineAsync(request, keys, ResponseCodes.InvalidTransaction, "ATM is blocked", cancellationToken));
        }

        return (atm, keys, null);
    }

    private async ValueTask<IsoMessage> DeclineAsync(IsoMessage request, AtmSessionKeys? keys, string code, string reason, CancellationToken cancellationToken)
    {
        var atmId = SafeTerminal(request);
        var stan = request.TryGetValue(11, out var s) ? Safe(Encoding.ASCII.GetString(s)) : "-";
        var detail = $"{request.Mti} stan {stan}: {reason}";
        _logger.LogWarning("Declined {Mti} from {AtmId}: {ResponseCode} {Reason}", request.Mti, atmId ?? "?", code, reason);
        var eventName = Mti.IsRequest(request.Mti) ? "request.declined" : "message.refused";
        var countAsDecline = request.Mti == Mti.FinancialRequest && atmId is not null;
        await _store.WriteAsync(
            w =>
            {
                w.AppendAudit(eventName, atmId, code, detail);

                // A withdrawal refused before it got a transaction row still counts in the ATM's day
                // report; an ATM the host does not know has no line there.
                if (countAsDecline && w.GetAtm(atmId!) is not null)
                {
                    w.RecordRefusedRequest(atmId!, request.Has(11) ? stan : null, code);
                }

                return 0;
            },
            cancellationToken);
        return Respond(request, code, keys);
    }

    private async ValueTask<IsoMessage?> FailAsync(IsoMessage request, string code, string reason, CancellationToken cancellationToken)
    {
        try
        {
            await AuditAsync("request.failed", SafeTerminal(request), code, $"{request.Mti}: {reason}", cancellationToken);
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "Could not write the audit entry for a failed {Mti}", request.Mti);
        }

        if (!Mti.IsRequest(request.Mti))
        {
            return null;
        }

        AtmSessionKeys? keys = null;
        try
        {
            var atmId = SafeTerminal(request);
            if (atmId is not null && await _store.ReadAsync(r => r.GetAtm(atmId), cancellationToken) is { } atm)
            {
                keys = _keys.SessionKeysFor(atm);
            }
        }
        catch (Exception ex)
        {
            _logger.LogDebug(ex, "No key to MAC the failure response with");
        }

        return Respond(request, code, keys);
    }

    private static IsoMessage Respond(IsoMessage request, string code, AtmSessionKeys? keys)
    {
        var response = request.CreateResponse(code);
        if (keys is not null)
        {
            MessageMac.Apply(response, keys.IsoMac);
        }

        return response;
    }

    private Task<int> AuditAsync(string eventName, string? atmId, string? code, string detail, CancellationToken cancellationToken) =>
        _store.WriteAsync(
            w =>
            {
                w.AppendAudit(eventName, atmId, code, detail);
                return 0;
            },
            cancellationToken);

    private static int? FirstMissing(IsoMessage request, int[] fields)
    {
        foreach (var field in fields)
        {
            if (!request.Has(field))
            {
                return field;
            }
        }

        return null;
    }

    private static string? SafeTerminal(IsoMessage request) =>
        request.TryGetValue(41, out var value) ? Safe(Encoding.ASCII.GetString(value)) : null;

    /// <summary>Printable ASCII only, at most 40 characters: hostile text in a field cannot forge log lines.</summary>
    internal static string Safe(string? text)
    {
        if (text is null)
        {
            return "-";
        }

        var builder = new StringBuilder(Math.Min(text.Length, 40));
        foreach (var c in text.AsSpan(0, Math.Min(text.Length, 40)))
        {
            builder.Append(c is >= ' ' and <= '~' ? c : '?');
        }

        return text.Length > 40 ? builder.Append('…').ToString() : builder.ToString();
    }

    /// <summary>Releases cached keys.</summary>
    public void Dispose() => _keys.Dispose();

    /// <summary>The QR check's replay guard is the database step (see <see cref="LedgerDecisions"/>), not this.</summary>
    private sealed class NoReplayGuard : ISessionNonceRegistry
    {
        public static readonly NoReplayGuard Instance = new();

        public ValueTask<bool> TryConsumeAsync(AtmId atmId, SessionNonce nonce, DateTimeOffset retainUntil, CancellationToken cancellationToken) =>
            throw new UnreachableException("The host consumes sessions in its ledger transaction.");
    }

    /// <summary>Finds a phone's base derivation key through its enrolment; revoked and unknown phones get none.</summary>
    private sealed class EnrolledPhoneKeys(IHostStore store, HostKeyring keys) : IBaseDerivationKeyProvider
    {
        public SecretKey? FindBaseDerivationKey(KeySerialNumber ksn)
        {
            var deviceId = ksn.InitialKeyId;
            var phone = store.ReadAsync(r => r.GetPhone(deviceId)).GetAwaiter().GetResult();
            return phone is { Status: PhoneStatus.Active } ? keys.BaseDerivationKey(phone.BdkId) : null;
        }
    }
}
