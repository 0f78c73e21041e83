using CardlessAtm.Iso8583;
using CardlessAtm.Network;
using CardlessAtm.Qr.Payload;
using CardlessAtm.Terminal.Journal;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Terminal.Flow;

/// <summary>A QR session as the gate sees it: its payload and whether a request has claimed it.</summary>
public sealed class GateSession
{
    private const int Open = 0;
    private const int Claimed = 1;
    private const int Closed = 2;
    private int _state;

    /// <summary>A session about to be shown, open for one request.</summary>
    public GateSession(QrSessionPayload payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        Payload = payload;
        Nonce = payload.Nonce.ToString();
    }

    /// <summary>What the QR code on screen carries.</summary>
    public QrSessionPayload Payload { get; }

    /// <summary>The session's nonce (the journal's session id).</summary>
    public string Nonce { get; }

    /// <summary>
    /// No request may claim the session any more (cancelled, expired, finished). False when a request had
    /// already claimed it: its hand-over to the flow is then imminent and must be served.
    /// </summary>
    public bool Close() => Interlocked.CompareExchange(ref _state, Closed, Open) == Open;

    /// <summary>The first request claims the session; every later one is a duplicate.</summary>
    internal bool TryClaim() => Interlocked.CompareExchange(ref _state, Claimed, Open) == Open;
}

/// <summary>What the gate decided about one forwarded request.</summary>
/// <param name="ResponseCode">The code to answer the phone with at once, or null when the request claimed the session.</param>
/// <param name="Reason">Why it was refused (for the journal and the log), or null.</param>
/// <param name="ConcernsSessionOnScreen">It carries the payload of the session on screen (refusals of those are journalled one by one).</param>
public readonly record struct GateDecision(string? ResponseCode, string? Reason, bool ConcernsSessionOnScreen)
{
    /// <summary>The request claimed the session on screen: the withdrawal goes ahead.</summary>
    public bool Admitted => ResponseCode is null;

    internal static GateDecision Admit() => new(null, null, true);

    internal static GateDecision Refuse(string code, string reason, bool onScreen) => new(code, reason, onScreen);
}

/// <summary>
/// Step E's gate: a request the proxy forwarded (the phone's 0200) is admitted only for the session on screen —
/// same payload, this ATM's id, the session's amount and currency, not expired, not already claimed — and
/// never for a session already used. A refusal that concerns the session on screen is journalled on its own;
/// one that matches no session (anyone on the internet can send those) is only counted toward a journal
/// summary and a metric, so a flood cannot fill the journal.
/// </summary>
public sealed class RequestGate
{
    /// <summary>How many ended sessions are remembered as used (a replay of an older one still matches no session).</summary>
    public const int UsedSessionsRemembered = 1024;

    private readonly string _atmId;
    private readonly ElectronicJournal _journal;
    private readonly TerminalMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Queue<string> _used = new();
    private readonly HashSet<string> _usedSet = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <summary>Creates the gate of the ATM <paramref name="atmId"/>.</summary>
    public RequestGate(string atmId, ElectronicJournal journal, TerminalMetrics metrics, TimeProvider time, ILogger logger)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(atmId);
        ArgumentNullException.ThrowIfNull(journal);
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        _atmId = atmId;
        _journal = journal;
        _metrics = metrics;
        _time = time;
        _logger = logger;
    }

    /// <summary>
    /// When set and it returns a reason, every request is refused 91 with that reason (the ATM is out of service, e.g.
    /// re-keying after suspect session keys): no 0200 goes to the host under keys it no longer shares.
    /// </summary>
    public Func<string?>? OutOfService { get; set; }

    /// <summary>
    /// Decides about <paramref name="request"/> against <paramref name="onScreen"/> (null when no QR code is
    /// shown). An admitted request has claimed the session; a refused one is journalled or counted before this returns.
    /// </summary>
    public async ValueTask<GateDecision> CheckAsync(IsoMessage request, GateSession? onScreen)
    {
        ArgumentNullException.ThrowIfNull(request);
        var decision = Decide(request, onScreen);
        if (decision.Admitted)
        {
            return decision;
        }

        if (decision.ConcernsSessionOnScreen)
        {
            // It concerns the session on screen (wrong amount, expired, a second claim): journalled on its own.
            await _journal.WriteAsync(new RequestRefused(decision.ResponseCode!, decision.Reason!, request.GetString(NetworkFields.Stan) ?? "-") { Session = onScreen?.Nonce });
            _logger.LogWarning("Refused a forwarded request for {AtmId}: {ResponseCode} {Reason}", request.GetString(NetworkFields.TerminalId) ?? "?", decision.ResponseCode, decision.Reason);
        }
        else
        {
            await _journal.CountAsync($"{decision.ResponseCode} {decision.Reason}");
            _metrics.UnmatchedRequest(decision.ResponseCode!, decision.Reason!);
            _logger.LogDebug("Refused a forwarded request that matches no session: {ResponseCode} {Reason}", decision.ResponseCode, decision.Reason);
        }

        _metrics.Withdrawal("refused", decision.ResponseCode!);
        return decision;
    }

    /// <summary>The session left the screen: a later request for it is a replay (<see cref="ResponseCodes.DuplicateTransmission"/>).</summary>
    public void Retire(GateSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        session.Close();
        lock (_lock)
        {
            if (!_usedSet.Add(session.Nonce))
            {
                return;
            }

            _used.Enqueue(session.Nonce);
            while (_used.Count > UsedSessionsRemembered)
            {
                _usedSet.Remove(_used.Dequeue());
            }
        }
    }

    private GateDecision Decide(IsoMessage request, GateSession? session)
    {
        string? qrText;
        long? amountMinor;
        int? currency;
        string? terminal;
        try
        {
            qrText = request.SessionPayload;
            amountMinor = request.AmountMinor;
            currency = request.CurrencyCode;
            terminal = request.TerminalId;
        }
        catch (Iso8583FieldException e)
        {
            return GateDecision.Refuse(ResponseCodes.FormatError, $"field {e.FieldNumber} malformed", false);
        }

        var onScreen = session is not null && qrText is not null && session.Payload.Text == qrText;
        if (terminal != _atmId)
        {
            return GateDecision.Refuse(ResponseCodes.InvalidTransaction, "field 41 names another ATM", onScreen);
        }

        if (OutOfService?.Invoke() is { } outOfService)
        {
            return GateDecision.Refuse(ResponseCodes.IssuerUnavailable, $"out of service: {outOfService}", onScreen);
        }

        if (qrText is null || amountMinor is null || currency is null || !request.Has(NetworkFields.ProtectedData))
        {
            return GateDecision.Refuse(ResponseCodes.FormatError, "fields 4, 48, 49 and 127 are required", onScreen);
        }

        if (!onScreen)
        {
            var nonce = QrPayloadFormat.Parse(qrText).Payload?.Nonce.ToString();
            return nonce is not null && WasUsed(nonce)
                ? GateDecision.Refuse(ResponseCodes.DuplicateTransmission, "the session was already used", false)
                : GateDecision.Refuse(ResponseCodes.InvalidTransaction, session is null ? "no session on screen" : "not the session on screen", false);
        }

        if (amountMinor != session!.Payload.Amount.MinorUnits || currency != session.Payload.Amount.Currency.NumericCode)
        {
            return GateDecision.Refuse(ResponseCodes.InvalidAmount, "amount or currency differs from the session on screen", true);
        }

        if (_time.GetUtcNow() >= session.Payload.ExpiresAt)
        {
            return GateDecision.Refuse(ResponseCodes.InvalidTransaction, "the session has expired", true);
        }

        return session.TryClaim() ? GateDecision.Admit() : GateDecision.Refuse(ResponseCodes.DuplicateTransmission, "the session already has a request", true);
    }

    private bool WasUsed(string nonce)
    {
        lock (_lock)
        {
            return _usedSet.Contains(nonce);
        }
    }
}
