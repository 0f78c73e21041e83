using System.Diagnostics.Metrics;
using System.Text;
using CardlessAtm.Host.Authorisation;
using CardlessAtm.Host.Credentials;
using CardlessAtm.Host.Keys;
using CardlessAtm.Host.Storage;
using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Mac;
using CardlessAtm.Network;
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

    /// <summary>The most replaced session key versions kept per ATM for messages in flight (each for its own grace period).</summary>
    internal const int MaxPreviousKeyVersions = 8;

    private readonly IHostStore _store;
    private readonly HostKeyring _keys;
    private readonly PinVerifier _pins;
    private readonly HostPolicy _policy;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ISecurityProfile _profile;
    private readonly QrSessionOptions _qrOptions;
    private readonly RefusalAuditThrottle _refusalAudit;
    private readonly SignOnRegistry _signOns;
    private readonly Counter<long> _refusals;
    private readonly Counter<long> _supersedes;
    private long _refusalCount;

    /// <summary>Creates the processor.</summary>
    /// <param name="store">The ledger.</param>
    /// <param name="vault">Where ATM, phone and PIN keys live.</param>
    /// <param name="profile">The security profile every party uses.</param>
    /// <param name="pins">PIN verification (owned by the caller).</param>
    /// <param name="policy">Limits; defaults if null.</param>
    /// <param name="time">Clock; system clock if null.</param>
    /// <param name="logger">Logger; none if null.</param>
    public HostProcessor(IHostStore store, IKeyVault vault, ISecurityProfile profile, PinVerifier pins, HostPolicy? policy = null, TimeProvider? time = null, ILogger? logger = null)
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
        _profile = profile;
        _qrOptions = new QrSessionOptions { MaxLifetime = _policy.MaxSessionLifetime, ClockSkew = _policy.ClockSkew };
        _qrOptions.Validate();
        _refusalAudit = new RefusalAuditThrottle(_policy.RefusalAuditInterval, _policy.RefusalAuditMaxRows);
        _signOns = new SignOnRegistry(_policy.SignOnFreshness, _policy.SupersedeAlertThreshold, _policy.SupersedeAlertWindow);
        Meter = new Meter(new MeterOptions(Server.HostMetrics.MeterName) { Version = "1.0" });
        _supersedes = Meter.CreateCounter<long>("cardless_atm.host.sign-on.superseded", "{sign-on}", "Valid sign-ons that superseded the ATM's older signed-on connection, by ATM; a steady rate means two devices hold one ATM's master key.");
        _refusals = Meter.CreateCounter<long>("cardless_atm.host.security.refusals", "{message}", "Unauthenticated messages refused (every one, including those whose audit row was suppressed), by event.");
    }

    /// <summary>The processor's meter (named <c>CardlessAtm.Host</c>): <c>cardless_atm.host.security.refusals</c>, tag <c>event</c>.</summary>
    public Meter Meter { get; }

    /// <summary>How many unauthenticated refusals this processor made (each one, audited or suppressed).</summary>
    public long SecurityRefusalCount => Interlocked.Read(ref _refusalCount);

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

    /// <summary>
    /// Fault-injection point for the sign-on: awaited after an 0800/001 has been verified and admitted (MAC, freshness,
    /// single use) and before the sign-on is written to the store. Null in production.
    /// </summary>
    public Func<IsoMessage, ValueTask>? BeforeSignOnRecorded { get; set; }

    /// <summary>Test seam for racing sign-ons: awaited right after the sign-on registry admitted an 0800/001. Null in production.</summary>
    internal Func<IsoMessage, HostSession, ValueTask>? AfterSignOnAdmitted { get; set; }

    /// <summary>
    /// Handles one request arriving on a connection of its own (not signed on): a 0200, 0420 or 0421 is refused 63.
    /// Returns its response, or null for a message that gets none.
    /// </summary>
    public ValueTask<IsoMessage?> HandleAsync(IsoMessage request, CancellationToken cancellationToken = default) =>
        HandleAsync(request, new HostSession(), cancellationToken);

    /// <summary>Handles one request that arrived on the connection <paramref name="session"/> describes; returns its response, or null for a message that gets none.</summary>
    public async ValueTask<IsoMessage?> HandleAsync(IsoMessage request, HostSession session, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(session);
        try
        {
            return request.Mti switch
            {
                Mti.FinancialRequest => await WithdrawAsync(request, session, cancellationToken),
                Mti.ReversalAdvice or Mti.ReversalAdviceRepeat => await ReverseAsync(request, session, cancellationToken),
                Mti.NetworkManagementRequest => await NetworkManagementAsync(request, session, cancellationToken),
                _ => await UnsupportedAsync(request, session, cancellationToken),
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

    /// <summary>An MTI the host does not handle: a request is declined 12, anything else ignored; audited throttled (any peer can send these).</summary>
    private async ValueTask<IsoMessage?> UnsupportedAsync(IsoMessage request, HostSession session, CancellationToken cancellationToken)
    {
        if (!Mti.IsRequest(request.Mti))
        {
            await AuditRefusalAsync(request, session, "message.ignored", null, $"unexpected {request.Mti} ignored", cancellationToken);
            return null;
        }

        return await DeclineUnauthenticatedAsync(request, session, ResponseCodes.InvalidTransaction, $"MTI {request.Mti} is not handled by the host", cancellationToken);
    }

    private async ValueTask<IsoMessage> WithdrawAsync(IsoMessage request, HostSession session, CancellationToken cancellationToken)
    {
        var (atm, keys, problem) = await AuthenticateAtmAsync(request, session, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        if (FirstMissing(request, WithdrawalFields) is { } missing)
        {
            return await DeclineAsync(request, keys, ResponseCodes.FormatError, $"field {missing} missing", cancellationToken);
        }

        AtmWithdrawalRequest withdrawal;
        try
        {
            withdrawal = AtmWithdrawalRequest.FromIso(request);
        }
        catch (NetworkMessageException ex)
        {
            return await DeclineAsync(request, keys, ResponseCodes.FormatError, $"field {ex.FieldNumber} malformed", cancellationToken);
        }

        var processingCode = withdrawal.Withdrawal.ProcessingCode;
        var amount = withdrawal.Withdrawal.AmountMinor;
        var currency = withdrawal.Withdrawal.CurrencyCode;
        var qrText = withdrawal.Withdrawal.SessionPayload;
        var stanText = withdrawal.Header.Stan.ToString();
        if (!ProcessingCodes.IsCashWithdrawal(processingCode))
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

        // The phone's enrolment is read (asynchronously) before the synchronous DUKPT opening, which is handed what was read.
        var ksn = PhoneRequestHeader.TryReadKeySerialNumber(withdrawal.Withdrawal.ProtectedData.Span);
        var enrolment = ksn is null ? null : await _store.ReadAsync(r => r.GetPhone(ksn.InitialKeyId), cancellationToken);
        OpenedPhoneRequest opened;
        try
        {
            opened = _profile.CreatePhoneOpener(new EnrolledPhoneKey(ksn, enrolment, _keys)).Open(withdrawal.Withdrawal.ProtectedData.Span, withdrawal.Binding);
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
            var qr = new QrSessionVerifier(keys!.QrMac, _time, _qrOptions).Verify(qrText, AtmId.Parse(atm.AtmId));
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
                new RequestKey(atm.AtmId, withdrawal.Header.Stan.ToString(), withdrawal.Header.TransmissionDateTime!),
                withdrawal.RetrievalReference.Value,
                payload.Amount, // equal to fields 4 and 49 (checked above); from here on the amount travels as Money
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
            var response = NetworkFields.CreateResponse(request, outcome.ResponseCode);
            if (outcome.AuthCode is not null)
            {
                response.AuthorizationCode = outcome.AuthCode;
            }

            MessageMac.Apply(response, keys.IsoMac);
            return response;
        }
    }

    private bool CheckPin(OpenedPhoneRequest opened, PinRecord record) => PinReferences.Matches(_pins, opened, record);

    private async ValueTask<IsoMessage> ReverseAsync(IsoMessage request, HostSession session, CancellationToken cancellationToken)
    {
        var (atm, keys, problem) = await AuthenticateAtmAsync(request, session, cancellationToken);
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
            dispensed = request.Has(NetworkFields.ReplacementAmounts) ? request.ReplacementAmountMinor : null;
            reasonCode = request.Has(NetworkFields.ResponseCode) ? request.ResponseCode : null;
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
        var response = NetworkFields.CreateResponse(request, outcome.ResponseCode);
        MessageMac.Apply(response, keys!.IsoMac);
        return response;
    }

    private async ValueTask<IsoMessage> NetworkManagementAsync(IsoMessage request, HostSession session, CancellationToken cancellationToken)
    {
        var atmId = SafeTerminal(request);
        var code = request.NetworkManagementCode;
        var atm = atmId is null ? null : await _store.ReadAsync(r => r.GetAtm(atmId), cancellationToken);
        if (atm is null)
        {
            return await DeclineUnauthenticatedAsync(request, session, ResponseCodes.InvalidTransaction, "network management from an unknown ATM", cancellationToken);
        }

        switch (code)
        {
            case NetworkManagementCodes.SignOn:
                return await SignOnAsync(request, atm, session, cancellationToken);
            case NetworkManagementCodes.KeyChange:
                return await ChangeKeysAsync(request, atm, session, cancellationToken);
        }

        // Sign-off and echo: a MAC field that is present must verify (under the session key, the previous one
        // while it is accepted, or the key-change MAC key); a garbage field 64/128 is never answered 00.
        var keys = _keys.SessionKeysFor(atm);
        if ((request.Has(NetworkFields.Mac) || request.Has(NetworkFields.SecondaryMac)) && !await NetworkMacVerifiesAsync(request, atm, keys, cancellationToken))
        {
            return await RefuseSecurityAsync(request, session, "security.bad-mac", "network management MAC does not verify", cancellationToken);
        }

        // A sign-off clears the connection's sign-on: like the sign-on it needs a MAC (an unMACed one could come from anyone).
        if (code == NetworkManagementCodes.SignOff && !request.Has(NetworkFields.Mac) && !request.Has(NetworkFields.SecondaryMac))
        {
            return await RefuseSecurityAsync(request, session, "security.bad-mac", "sign-off without a MAC (field 64/128): the connection stays signed on", cancellationToken);
        }

        if (atm.Status != AtmStatus.Active)
        {
            // An unMACed echo for a blocked ATM can come from anyone: throttled like every refusal of unauthenticated traffic.
            return await DeclineThrottledAsync(request, session, keys, ResponseCodes.InvalidTransaction, "ATM is blocked", cancellationToken);
        }

        switch (code)
        {
            case NetworkManagementCodes.SignOff:
                if (!session.IsSignedOnAs(atm.AtmId))
                {
                    return await RefuseSecurityAsync(request, session, "security.not-signed-on", "sign-off on a connection not signed on as this ATM", cancellationToken);
                }

                // Like a sign-on, a sign-off must be fresh and is accepted once: a recorded one cannot sign the ATM off later.
                var (signOffSentAt, signOffProblem) = await CheckFreshAsync(request, session, "security.sign-off-refused", "sign-off", "the connection stays signed on", cancellationToken);
                if (signOffProblem is not null)
                {
                    return signOffProblem;
                }

                var signOffMac = Convert.ToHexString(request.GetBytes(NetworkFields.Mac) ?? request.GetBytes(NetworkFields.SecondaryMac) ?? []);
                if (!_signOns.Release(atm.AtmId, session, signOffMac, signOffSentAt, _time.GetUtcNow()))
                {
                    return await RefuseSecurityAsync(request, session, "security.sign-off-refused", "sign-off already accepted once (replayed 0800/002): the connection stays signed on", cancellationToken, "replayed");
                }

                session.RaiseSignedOff(); // the listener counts the connection before sign-on again
                await RecordSignOnAsync(atm.AtmId, signOn: false, cancellationToken);
                return Respond(request, ResponseCodes.Approved, keys);
            case NetworkManagementCodes.EchoTest:
                return Respond(request, ResponseCodes.Approved, keys);
            default:
                return await DeclineThrottledAsync(request, session, keys, ResponseCodes.InvalidTransaction, $"network management code {Safe(code)} not supported", cancellationToken);
        }
    }

    private async ValueTask<bool> NetworkMacVerifiesAsync(IsoMessage request, AtmRecord atm, AtmSessionKeys? keys, CancellationToken cancellationToken)
    {
        if (keys is not null && MessageMac.Verify(request, keys.IsoMac) == MacCheckResult.Valid)
        {
            return true;
        }

        if (await PreviousKeysVerifyingAsync(request, atm, cancellationToken) is not null)
        {
            return true;
        }

        using var keyChangeMac = _keys.KeyChangeMacFor(atm);
        return MessageMac.Verify(request, keyChangeMac.Iso) == MacCheckResult.Valid;
    }

    /// <summary>
    /// 0800/001: valid only with a MAC under the key derived from the ATM's terminal master key, a field 7 within
    /// <see cref="HostPolicy.SignOnFreshness"/> of the host's clock, and not accepted before (same MAC): a sign-on recorded
    /// on the wire cannot be replayed. Then (and only then) this connection may carry the ATM's 0200/0420/0421, and any
    /// older connection the ATM was signed on over is superseded (signed off, and closed by the listener); the 0810 is
    /// MACed under the same key.
    /// </summary>
    private async ValueTask<IsoMessage> SignOnAsync(IsoMessage request, AtmRecord atm, HostSession session, CancellationToken cancellationToken)
    {
        using var keyChangeMac = _keys.KeyChangeMacFor(atm);
        var mac = MessageMac.Verify(request, keyChangeMac.Iso);
        if (mac != MacCheckResult.Valid)
        {
            return await RefuseSecurityAsync(request, session, "security.sign-on-refused", $"sign-on MAC {mac}: the connection is not signed on", cancellationToken, "bad-mac");
        }

        var (sentAt, freshness) = await CheckFreshAsync(request, session, "security.sign-on-refused", "sign-on", "the connection is not signed on", cancellationToken);
        if (freshness is not null)
        {
            return freshness;
        }

        var now = _time.GetUtcNow();
        var macValue = Convert.ToHexString(request.GetBytes(NetworkFields.Mac) ?? request.GetBytes(NetworkFields.SecondaryMac) ?? []);

        // The accepted sign-ons are also in the store (written with the sign-on below): one recorded before a host
        // restart is refused after it. The registry still decides between racing sign-ons in this process.
        var macDigest = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(Encoding.ASCII.GetBytes(macValue)), 0, 16);
        if (await _store.ReadAsync(r => r.IsSignOnAccepted(atm.AtmId, macDigest), cancellationToken))
        {
            return await RefuseSecurityAsync(request, session, "security.sign-on-refused", "sign-on already accepted once (replayed 0800/001, accepted before the host restarted): the connection is not signed on", cancellationToken, "replayed");
        }

        if (atm.Status != AtmStatus.Active)
        {
            // A blocked ATM keeps trying, and a captured copy of its sign-on can be replayed at line rate: the decline is
            // audited through the throttle (one row per address and interval, within the row budget), not once per replay.
            await AuditRefusalAsync(request, session, "request.declined", ResponseCodes.InvalidTransaction, "sign-on of a blocked ATM", cancellationToken, knownAtm: true, kind: "blocked");
            return RespondSigned(NetworkFields.CreateResponse(request, ResponseCodes.InvalidTransaction), keyChangeMac);
        }

        var admission = _signOns.Accept(atm.AtmId, macValue, sentAt, now, session, out var superseded, out var supersedes);
        if (admission is not (SignOnAdmission.Accepted or SignOnAdmission.AcceptedAgain))
        {
            var why = admission == SignOnAdmission.Replayed
                ? "sign-on already accepted once (replayed 0800/001): the connection is not signed on"
                : $"more than {SignOnRegistry.MaxRecentPerAtm} sign-ons of this ATM within Host:Policy:SignOnFreshness: the connection is not signed on";
            return await RefuseSecurityAsync(request, session, "security.sign-on-refused", why, cancellationToken, admission == SignOnAdmission.Replayed ? "replayed" : "too-many");
        }

        if (AfterSignOnAdmitted is { } admitted)
        {
            await admitted(request, session);
        }

        if (admission == SignOnAdmission.AcceptedAgain)
        {
            // Signed on again over the same connection: nothing changes, so the audit row is throttled like a refusal's.
            await AuditRefusalAsync(request, session, "atm.sign-on", ResponseCodes.Approved, "signed on again over the same connection", cancellationToken, refusal: false, knownAtm: true);
            return RespondSigned(NetworkFields.CreateResponse(request, ResponseCodes.Approved), keyChangeMac);
        }

        // The registry signed this session on (and the superseded one off) atomically; the listener is told after.
        session.RaiseSignedOn();
        if (superseded is not null)
        {
            _logger.LogWarning("ATM {AtmId} signed on over a new connection from {Address}: its older connection is superseded and closed", atm.AtmId, Safe(session.RemoteAddress ?? "?"));
            superseded.RaiseSuperseded();
            _supersedes.Add(1, new KeyValuePair<string, object?>("atm", atm.AtmId));
            if (supersedes >= _policy.SupersedeAlertThreshold)
            {
                // Two devices holding one terminal master key supersede each other for ever: tell an operator,
                // throttled like a refusal (one row per address and interval), naming the ATM and nothing secret.
                await AuditRefusalAsync(
                    request,
                    session,
                    "security.sign-on-flapping",
                    ResponseCodes.Approved,
                    string.Create(System.Globalization.CultureInfo.InvariantCulture, $"ATM {atm.AtmId} superseded {supersedes} times in {_policy.SupersedeAlertWindow} (Host:Policy:SupersedeAlertThreshold): two devices hold its master key, or it keeps reconnecting"),
                    cancellationToken,
                    refusal: false,
                    knownAtm: true,
                    kind: "flapping");
            }
        }

        try
        {
            if (BeforeSignOnRecorded is { } beforeRecord)
            {
                await beforeRecord(request);
            }

            if (!await RecordSignOnAsync(atm.AtmId, signOn: true, cancellationToken, (macDigest, sentAt, now - _policy.SignOnFreshness - TimeSpan.FromSeconds(1))))
            {
                // Another host process on the same database accepted this very sign-on between our check above and this
                // write: the store's unique key (atm, MAC digest) decides, so the sign-on is single-use across the fleet.
                _signOns.Abandon(atm.AtmId, session);
                session.RaiseSignedOff();
                return await RefuseSecurityAsync(request, session, "security.sign-on-refused", "sign-on already accepted once (replayed 0800/001, accepted by another host instance): the connection is not signed on", cancellationToken, "replayed");
            }
        }
        catch
        {
            // Not recorded, so not answered 00: the connection is not signed on either (it is evictable and must sign on
            // again); otherwise a 91 would leave an authenticated session the ATM does not know it has.
            _signOns.Abandon(atm.AtmId, session);
            session.RaiseSignedOff();
            throw;
        }

        return RespondSigned(NetworkFields.CreateResponse(request, ResponseCodes.Approved), keyChangeMac);
    }

    /// <summary>
    /// Field 7 of a sign-on or sign-off: present (else 30), readable (else 30) and within
    /// <see cref="HostPolicy.SignOnFreshness"/> of the host's clock (else 63). Returns the time it names, or the refusal.
    /// </summary>
    private async ValueTask<(DateTimeOffset SentAt, IsoMessage? Problem)> CheckFreshAsync(IsoMessage request, HostSession session, string eventName, string what, string consequence, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        DateTimeOffset sentAt;
        try
        {
            if (request.GetTransmissionDateTime(now) is not { } sent)
            {
                return (default, await RefuseAsync(request, session, eventName, ResponseCodes.FormatError, $"{what} without field 7 (transmission date and time): {consequence}", cancellationToken, "undated"));
            }

            sentAt = sent;
        }
        catch (Iso8583FieldException)
        {
            return (default, await RefuseAsync(request, session, eventName, ResponseCodes.FormatError, $"{what} field 7 (transmission date and time) malformed: {consequence}", cancellationToken, "undated"));
        }

        if ((now - sentAt).Duration() > _policy.SignOnFreshness)
        {
            return (default, await RefuseSecurityAsync(request, session, eventName, $"{what} stale: field 7 is {(now - sentAt).TotalSeconds:F0} s from the host's clock (more than Host:Policy:SignOnFreshness): {consequence}", cancellationToken, "stale"));
        }

        return (sentAt, null);
    }

    /// <summary>Writes the sign-on (or sign-off); false, with nothing but stale sign-ons forgotten, when <paramref name="accepted"/> was recorded before (by any host on the database).</summary>
    private Task<bool> RecordSignOnAsync(string atmId, bool signOn, CancellationToken cancellationToken, (string Digest, DateTimeOffset SentAt, DateTimeOffset ForgetBefore)? accepted = null) =>
        _store.WriteAsync(
            w =>
            {
                if (accepted is { } a && !w.TryRecordSignOn(atmId, a.Digest, a.SentAt, a.ForgetBefore))
                {
                    return false;
                }

                var current = w.GetAtm(atmId)!;
                w.UpdateAtm(current with { SignedOn = signOn });
                w.AppendAudit(signOn ? "atm.sign-on" : "atm.sign-off", atmId, ResponseCodes.Approved, signOn ? "signed on" : "signed off");
                return true;
            },
            cancellationToken);

    /// <summary>
    /// 0800/101, the authenticated key change (docs/protocol/iso8583.md §2.7): on a signed-on connection, MACed
    /// under the key-change MAC key, carrying a fresh terminal nonce in field 120. The new version is computed
    /// and written in the same transaction that reads the current one and consumes the nonce; the replaced key
    /// set stays valid for <see cref="HostPolicy.PreviousKeyGrace"/>, older ones are pruned. The 0810 binds the
    /// keys to the nonce and the version (field 120 version 2) and is MACed under the key-change MAC key.
    /// </summary>
    private async ValueTask<IsoMessage> ChangeKeysAsync(IsoMessage request, AtmRecord atm, HostSession session, CancellationToken cancellationToken)
    {
        if (!session.IsSignedOnAs(atm.AtmId))
        {
            return await RefuseSecurityAsync(request, session, "security.key-change-refused", "key change on a connection not signed on as this ATM: no key changed", cancellationToken);
        }

        using var keyChangeMac = _keys.KeyChangeMacFor(atm);
        var mac = MessageMac.Verify(request, keyChangeMac.Iso);
        if (mac != MacCheckResult.Valid)
        {
            return await RefuseSecurityAsync(request, session, "security.key-change-refused", $"key-change MAC {mac}: no key changed", cancellationToken);
        }

        if (atm.Status != AtmStatus.Active)
        {
            return RespondSigned(await DeclineAsync(request, null, ResponseCodes.InvalidTransaction, "ATM is blocked", cancellationToken), keyChangeMac);
        }

        byte[] nonce;
        try
        {
            nonce = KeyChangeRequestData.Decode(request.KeyChangeData ?? []);
        }
        catch (SecurityException ex)
        {
            return RespondSigned(await DeclineAsync(request, null, ResponseCodes.FormatError, $"key-change request field 120 refused: {ex.Failure}", cancellationToken), keyChangeMac);
        }

        var profile = _keys.Profile;
        using var sessionKeys = profile.GenerateSessionKeys();
        var kcv = sessionKeys.MacKey.CheckValue.ToString();
        var nonceText = Convert.ToHexString(nonce);
        var grace = _policy.PreviousKeyGrace;
        var vault = _keys.Vault;

        // The version is read and written in one transaction (the store serialises writers; PostgreSQL's SERIALIZABLE
        // aborts and re-runs the loser of two host processes), so two racing key changes get two versions. The keys are
        // written to the vault after that transaction committed, under the version it chose: written inside it, a
        // losing attempt on another host (the vault is not part of the ledger's transaction) could overwrite the
        // winner's key of the same version after the winner committed. Nothing uses the new version before the 0810
        // below, which is sent only once the keys are in the vault.
        var change = await _store.WriteAsync(
            w =>
            {
                var current = w.GetAtm(atm.AtmId)!;
                var version = current.SessionKeyVersion + 1;
                if (!w.TryRecordKeyChangeNonce(atm.AtmId, nonceText, version))
                {
                    return (Version: 0, Kept: (IReadOnlyList<int>)[]);
                }

                // Each replaced version keeps its own grace from now, however soon the next key change comes; at most
                // MaxPreviousKeyVersions are kept (the oldest dropped first).
                IReadOnlyList<int> kept = current.SessionKeyRef is null
                    ? []
                    : w.AddPreviousSessionKey(atm.AtmId, new PreviousSessionKey(current.SessionKeyVersion, current.SessionKeyRef, w.UtcNow + grace), MaxPreviousKeyVersions);

                var macKeyRef = MacKeyRef(atm.AtmId, version);
                w.UpdateAtm(current with
                {
                    SessionKeyRef = macKeyRef,
                    SessionKeyVersion = version,
                    SessionKeyCheckValue = kcv,
                    PreviousSessionKeyRef = current.SessionKeyRef,
                    PreviousKeyValidUntil = current.SessionKeyRef is null ? null : w.UtcNow + grace,
                });
                w.AppendAudit("atm.key-change", atm.AtmId, ResponseCodes.Approved, $"session keys version {version}, MAC key KCV {kcv}");
                return (Version: version, Kept: kept);
            },
            cancellationToken);
        if (change.Version == 0)
        {
            return await RefuseSecurityAsync(request, session, "security.key-change-refused", "key-change nonce already used (replayed 0800/101): no key changed", cancellationToken);
        }

        vault.SaveKey(MacKeyRef(atm.AtmId, change.Version), sessionKeys.MacKey, overwrite: true);
        if (sessionKeys.PinKey is { } pinKey)
        {
            vault.SaveKey(PinKeyRef(atm.AtmId, change.Version), pinKey, overwrite: true);
        }

        Prune(atm.AtmId, change.Version, change.Kept);
        _logger.LogInformation("Key change for {AtmId}: session key version {Version}, MAC KCV {Kcv}", atm.AtmId, change.Version, kcv);

        byte[] keyChangeData;
        using (var masterKey = vault.LoadKey(atm.MasterKeyRef))
        {
            keyChangeData = profile.CreateKeyChangeData(masterKey, sessionKeys, change.Version, nonce);
        }

        var response = NetworkFields.CreateResponse(request, ResponseCodes.Approved);
        response.KeyChangeData = keyChangeData;
        MessageMac.Apply(response, keyChangeMac.Iso);
        return response;
    }

    /// <summary>
    /// The replaced key version (newest first) whose grace, counted from its own supersession, has not ended and under
    /// which <paramref name="request"/>'s MAC verifies; null when none does.
    /// </summary>
    private async ValueTask<AtmSessionKeys?> PreviousKeysVerifyingAsync(IsoMessage request, AtmRecord atm, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        foreach (var key in await _store.ReadAsync(r => r.GetPreviousSessionKeys(atm.AtmId), cancellationToken))
        {
            if (key.Version < atm.SessionKeyVersion && now < key.ValidUntil && _keys.PreviousKeys(key) is { } previous
                && MessageMac.Verify(request, previous.IsoMac) == MacCheckResult.Valid)
            {
                return previous;
            }
        }

        return null;
    }

    private static string MacKeyRef(string atmId, int version) => $"mac-{atmId}-v{version}";

    private static string PinKeyRef(string atmId, int version) => $"tpk-{atmId}-v{version}";

    /// <summary>Deletes the ATM's session key files older than <paramref name="current"/> except the <paramref name="kept"/> versions (each still in its own grace).</summary>
    private void Prune(string atmId, int current, IReadOnlyList<int> kept)
    {
        foreach (var name in _keys.Vault.List())
        {
            foreach (var prefix in (string[])[$"mac-{atmId}-v", $"tpk-{atmId}-v"])
            {
                if (name.StartsWith(prefix, StringComparison.Ordinal)
                    && int.TryParse(name.AsSpan(prefix.Length), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var version)
                    && version < current && !kept.Contains(version))
                {
                    try
                    {
                        _keys.Vault.Delete(name);
                        _keys.Forget(name);
                    }
                    catch (IOException ex)
                    {
                        _logger.LogWarning("Could not prune superseded key file {Name}: {Message}", name, ex.Message);
                    }
                }
            }
        }
    }

    /// <summary>A refusal for a security reason (forged or replayed key change, bad sign-on, no sign-on): 63, not MACed, nothing changed, logged and audited as a security event.</summary>
    private ValueTask<IsoMessage> RefuseSecurityAsync(IsoMessage request, HostSession session, string eventName, string reason, CancellationToken cancellationToken, string? kind = null) =>
        RefuseAsync(request, session, eventName, ResponseCodes.SecurityViolation, reason, cancellationToken, kind);

    /// <summary>A refusal with <paramref name="code"/> of a message no ATM key vouches for (or one that must not change state): not MACed, audited throttled.</summary>
    private async ValueTask<IsoMessage> RefuseAsync(IsoMessage request, HostSession session, string eventName, string code, string reason, CancellationToken cancellationToken, string? kind = null)
    {
        // Every caller has found field 41's ATM in the ledger: its id is part of the throttle key.
        await AuditRefusalAsync(request, session, eventName, code, reason, cancellationToken, knownAtm: true, kind: kind);
        return NetworkFields.CreateResponse(request, code);
    }

    /// <summary>
    /// Logs, counts and (throttled per remote address and event: <see cref="RefusalAuditThrottle"/>) audits a refusal of
    /// a message no ATM key vouches for. The row carries how many like it were suppressed since the previous one.
    /// Field 41 and 11 are attacker-chosen: only their sanitised form (<see cref="Safe"/>) reaches the log or the row.
    /// The throttle key is (address, event and code, field 41 when it names a known ATM). Refusals suppressed under a key that
    /// then went quiet are reported in one <c>security.refusals-suppressed</c> row when the throttle expires the key.
    /// With refusal false (a message that is not refused but may repeat without limit, a repeated sign-on) the row is
    /// throttled the same way but not counted as a refusal.
    /// </summary>
    private async ValueTask AuditRefusalAsync(IsoMessage request, HostSession session, string eventName, string? code, string reason, CancellationToken cancellationToken, bool refusal = true, bool knownAtm = false, string? kind = null)
    {
        var atmId = SafeTerminal(request);
        var stan = request.TryGetValue(NetworkFields.Stan, out var s) ? Safe(Encoding.ASCII.GetString(s)) : "-";
        var address = Safe(session.RemoteAddress ?? "?");
        if (refusal)
        {
            Interlocked.Increment(ref _refusalCount);
            _refusals.Add(1, new KeyValuePair<string, object?>("event", eventName));
        }

        // The key names the ATM when field 41 is one the ledger knows (a bounded set), so a decoy refusal for ATM A does
        // not hide a real alert for ATM B from the same address; an unknown id is attacker-chosen and shares one key.
        // Each refusal kind (e.g. a replayed, a stale and a bad-MAC sign-on) has a key of its own, so a flood of one kind
        // cannot hide another; the global row budget (Host:Policy:RefusalAuditMaxRows) is shared by all.
        // A flapping alert names its ATM in the kind, so the budget's "first row of a kind" holds per ATM: one ATM's alert
        // cannot use up another's (bounded: the ATMs the ledger knows).
        var kindKey = kind == "flapping" ? $"{eventName} {kind} {atmId}" : $"{eventName} {kind ?? "-"} {code ?? "-"}";
        var decision = _refusalAudit.Admit(address, $"{kindKey} {(knownAtm ? atmId : "?")}", _time.GetUtcNow(), kindKey);
        if (decision.BudgetDropped > 0)
        {
            await AuditAsync(
                "security.refusals-suppressed",
                null,
                null,
                string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{decision.BudgetDropped} refusals were not audited in the previous {_policy.RefusalAuditInterval}: its budget of {_policy.RefusalAuditMaxRows} rows (Host:Policy:RefusalAuditMaxRows) was spent"),
                cancellationToken);
        }

        if (decision.ExpiredSuppressed > 0)
        {
            await AuditAsync(
                "security.refusals-suppressed",
                null,
                null,
                string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{decision.ExpiredSuppressed} refusals under {decision.ExpiredKeys} throttle keys (address, event, ATM) were not audited; their keys expired after {_policy.RefusalAuditInterval} without another row"),
                cancellationToken);
        }

        if (!decision.Write)
        {
            _logger.LogDebug("Refusal {Event} from {Address} for {AtmId}: audit row suppressed (at most one per {Interval})", eventName, address, atmId ?? "?", _policy.RefusalAuditInterval);
            return;
        }

        _logger.LogWarning("Security event {Event} from {Address}: {Mti} stan {Stan} for {AtmId} refused {Code}: {Reason}", eventName, address, request.Mti, stan, atmId ?? "?", code ?? "-", reason);
        var detail = $"{request.Mti} stan {stan} from {decision.Address}: {reason}";
        if (decision.Suppressed > 0)
        {
            detail += string.Create(System.Globalization.CultureInfo.InvariantCulture, $" [+{decision.Suppressed} more from {decision.Address} since {decision.PreviousRowAt:u} not audited]");
        }

        await AuditAsync(eventName, atmId, code, detail, cancellationToken);
    }

    private static IsoMessage RespondSigned(IsoMessage response, SessionMacKey keyChangeMac)
    {
        MessageMac.Apply(response, keyChangeMac.Iso);
        return response;
    }

    private async ValueTask<(AtmRecord? Atm, AtmSessionKeys? Keys, IsoMessage? Problem)> AuthenticateAtmAsync(IsoMessage request, HostSession session, CancellationToken cancellationToken)
    {
        var atmId = SafeTerminal(request);
        if (atmId is null || !AtmId.TryParse(atmId, out _))
        {
            return (null, null, await DeclineUnauthenticatedAsync(request, session, ResponseCodes.FormatError, "field 41 is not an ATM id", cancellationToken));
        }

        var atm = await _store.ReadAsync(r => r.GetAtm(atmId), cancellationToken);
        if (atm is null)
        {
            return (null, null, await DeclineUnauthenticatedAsync(request, session, ResponseCodes.InvalidTransaction, "unknown ATM", cancellationToken));
        }

        // Sign-on enforced: only a connection over which this very ATM signed on with a valid MAC may carry its
        // financial messages. Anything else is refused 63 before its MAC or the ledger is looked at, and changes nothing.
        if (!session.IsSignedOnAs(atmId))
        {
            return (null, null, await RefuseSecurityAsync(request, session, "security.not-signed-on", "financial message on a connection not signed on as this ATM", cancellationToken));
        }

        var keys = _keys.SessionKeysFor(atm);
        if (keys is null)
        {
            // 96 tells the ATM its keys are stale: it does an 0800 key change (docs/protocol/iso8583.md §2.6).
            return (atm, null, await DeclineAsync(request, null, ResponseCodes.SystemMalfunction, "ATM has no session key yet (key change first)", cancellationToken));
        }

        var mac = MessageMac.Verify(request, keys.IsoMac);
        if (mac == MacCheckResult.Mismatch && await PreviousKeysVerifyingAsync(request, atm, cancellationToken) is { } previous)
        {
            // MACed before the ATM installed the keys of a recent key change (in flight): still accepted, and
            // answered under the same key, for PreviousKeyGrace from that version's supersession.
            keys = previous;
            mac = MacCheckResult.Valid;
        }

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

    /// <summary>A decline (MACed when <paramref name="keys"/> is given) of a message any peer can send and repeat: audited throttled, like a security refusal.</summary>
    private async ValueTask<IsoMessage> DeclineThrottledAsync(IsoMessage request, HostSession session, AtmSessionKeys? keys, string code, string reason, CancellationToken cancellationToken)
    {
        await AuditRefusalAsync(request, session, "request.declined", code, reason, cancellationToken, knownAtm: true);
        return Respond(request, code, keys);
    }

    /// <summary>A decline of a message naming no known ATM (no key to MAC it with): audited throttled, like a security refusal.</summary>
    private async ValueTask<IsoMessage> DeclineUnauthenticatedAsync(IsoMessage request, HostSession session, string code, string reason, CancellationToken cancellationToken)
    {
        await AuditRefusalAsync(request, session, "request.declined", code, reason, cancellationToken);
        return NetworkFields.CreateResponse(request, code);
    }

    private async ValueTask<IsoMessage> DeclineAsync(IsoMessage request, AtmSessionKeys? keys, string code, string reason, CancellationToken cancellationToken)
    {
        var atmId = SafeTerminal(request);
        var stan = request.TryGetValue(NetworkFields.Stan, out var s) ? Safe(Encoding.ASCII.GetString(s)) : "-";
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
                    w.RecordRefusedRequest(atmId!, request.Has(NetworkFields.Stan) ? stan : null, code);
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
        var response = NetworkFields.CreateResponse(request, code);
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
        request.TryGetValue(NetworkFields.TerminalId, out var value) ? Safe(Encoding.ASCII.GetString(value)) : null;

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
    public void Dispose()
    {
        _keys.Dispose();
        Meter.Dispose();
    }

    /// <summary>
    /// The base derivation key of the one phone whose enrolment was read for this request (by the KSN in its header);
    /// revoked, unknown and other phones get none.
    /// </summary>
    private sealed class EnrolledPhoneKey(KeySerialNumber? readFor, PhoneEnrolment? enrolment, HostKeyring keys) : IBaseDerivationKeyProvider
    {
        public SecretKey? FindBaseDerivationKey(KeySerialNumber ksn) =>
            readFor is not null && string.Equals(ksn.InitialKeyId, readFor.InitialKeyId, StringComparison.Ordinal) && enrolment is { Status: PhoneStatus.Active }
                ? keys.BaseDerivationKey(enrolment.BdkId)
                : null;
    }
}
