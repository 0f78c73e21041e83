using System.Diagnostics;
using System.Globalization;
using CardlessAtm.Devices.Configuration;
using CardlessAtm.Devices.FaultCheck;
using CardlessAtm.Devices.Keypad;
using CardlessAtm.Iso8583;
using CardlessAtm.Network;
using CardlessAtm.Qr.Payload;
using CardlessAtm.Qr.Sessions;
using CardlessAtm.Qr.Symbols;
using CardlessAtm.Terminal.Journal;
using CardlessAtm.Terminal.Links;
using CardlessAtm.Terminal.StoreAndForward;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Terminal.Flow;

/// <summary>The terminal's states (the patent's steps A–G as the ATM lives them).</summary>
public enum TerminalState
{
    /// <summary>The host cannot be reached: no customer is served until it can.</summary>
    OutOfService,

    /// <summary>Waiting for a customer.</summary>
    Idle,

    /// <summary>Step A: the customer types the amount.</summary>
    AmountEntry,

    /// <summary>The fault-judgement module decides whether the ATM can dispense the amount.</summary>
    FaultCheck,

    /// <summary>Step B: the QR code is on screen with a countdown; waiting for the phone's request.</summary>
    QrShown,

    /// <summary>Step E: the proxy forwarded a request for the session on screen.</summary>
    RequestReceived,

    /// <summary>Step F/G: the host is deciding.</summary>
    Authorising,

    /// <summary>Notes are being picked.</summary>
    Dispensing,

    /// <summary>Notes are at the exit.</summary>
    Presenting,

    /// <summary>The withdrawal succeeded.</summary>
    Done,

    /// <summary>The transaction ended without (all of) the cash; the customer was told why.</summary>
    Terminated,
}

/// <summary>How one withdrawal ended, for the demo, tests and metrics.</summary>
/// <param name="Session">The QR session nonce, if one was shown.</param>
/// <param name="Requested">The amount typed, if any.</param>
/// <param name="Presented">What reached the customer.</param>
/// <param name="ResponseCode">The code sent to the phone (or the host's decline), if a request came.</param>
/// <param name="CustomerMessage">What the customer was told.</param>
/// <param name="FinalState">Done or Terminated.</param>
public sealed record WithdrawalOutcome(string? Session, Money? Requested, Money? Presented, string? ResponseCode, string CustomerMessage, TerminalState FinalState);

/// <summary>
/// The ATM application's explicit state machine over the device layer: idle → amount entry → fault check →
/// QR shown → request received → authorising → dispensing → presenting → done, or terminated with a customer
/// message at any step. Every step is journalled (and flushed) before the action it records; any shortfall
/// after an approval becomes a reversal in the store-and-forward queue.
/// </summary>
public sealed class WithdrawalFlow : IDisposable
{
    private readonly TerminalOptions _options;
    private readonly AtmDevices _devices;
    private readonly IHostLink _host;
    private readonly WithdrawalTransaction _transaction;
    private readonly ElectronicJournal _journal;
    private readonly QrSessionOptions _qrOptions;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly TerminalMetrics _metrics;
    private readonly Currency _currency;
    private readonly AtmId _atmId;
    private readonly RequestGate _requestGate;
    private readonly CustomerTexts _texts;
    private readonly SessionKeyRecovery _keys;
    private ActiveSession? _session;
    private Devices.Display.Screen? _lastResultScreen;
    private Task<KeyPress>? _pendingKey;
    // Not Idle until the welcome screen is up and earlier keys are discarded: a key pressed on seeing Idle must count.
    private TerminalState _state = TerminalState.OutOfService;
    private string? _outOfServiceReason;

    /// <summary>Creates the flow.</summary>
    public WithdrawalFlow(
        TerminalOptions options,
        AtmDevices devices,
        IHostLink host,
        ReversalForwarder reversals,
        ElectronicJournal journal,
        QrSessionOptions qrOptions,
        TerminalMetrics metrics,
        TimeProvider time,
        ILogger logger)
    {
        _options = options;
        _devices = devices;
        _host = host;
        _transaction = new WithdrawalTransaction(host, devices.Dispenser, reversals, journal, options, metrics, time, logger);
        _transaction.Progress += OnTransactionProgressAsync;
        _transaction.DispenserUnusable += reason => Volatile.Write(ref _outOfServiceReason, reason);
        _keys = new SessionKeyRecovery(host, options.Rekey, journal, time, logger);
        _transaction.KeysSuspect += _keys.Suspect;
        reversals.RekeyRequested += _keys.Suspect;
        _journal = journal;
        _requestGate = new RequestGate(options.AtmId, journal, metrics, time, logger) { OutOfService = () => _keys.OutOfServiceReason };
        _qrOptions = qrOptions;
        _metrics = metrics;
        _time = time;
        _logger = logger;
        _currency = Currency.FromCode(options.Currency);
        _atmId = AtmId.Parse(options.AtmId);
        _texts = CustomerTexts.For(options.Language);
        _devices.Sensors.Status.Changed += OnSensorChanged;
    }

    /// <summary>Raised on every state change.</summary>
    public event Action<TerminalState>? StateChanged;

    /// <summary>Raised when a withdrawal (or an attempt) ends.</summary>
    public event Action<WithdrawalOutcome>? WithdrawalEnded;

    /// <summary>The current state.</summary>
    public TerminalState State => _state;

    /// <summary>The QR payload text on screen now, or null.</summary>
    public string? CurrentQrText => Volatile.Read(ref _session)?.Payload.Text;

    /// <summary>
    /// Waits until the flow is in a state that satisfies <paramref name="predicate"/> (the current state counts),
    /// and returns that state. For the demo, the load benchmark and tests that drive the keypad.
    /// </summary>
    /// <exception cref="OperationCanceledException">Cancelled before such a state was reached.</exception>
    public async Task<TerminalState> WaitForStateAsync(Func<TerminalState, bool> predicate, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        var reached = new TaskCompletionSource<TerminalState>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnChange(TerminalState state)
        {
            if (predicate(state))
            {
                reached.TrySetResult(state);
            }
        }

        StateChanged += OnChange;
        try
        {
            OnChange(_state);
            return await reached.Task.WaitAsync(cancellationToken);
        }
        finally
        {
            StateChanged -= OnChange;
        }
    }

    /// <summary>Re-keys the terminal when its session keys are suspect; while it does (or after it gave up) no customer is served.</summary>
    public SessionKeyRecovery KeyRecovery => _keys;

    /// <summary>Runs customer sessions (and the re-keying after suspect session keys) until cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var rekeying = RunKeyRecoveryAsync(cancellationToken);
        try
        {
            await RunSessionsAsync(cancellationToken);
        }
        finally
        {
            await rekeying;
        }
    }

    private async Task RunKeyRecoveryAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _keys.RunAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }

    private async Task RunSessionsAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var outcome = await RunOneAsync(cancellationToken);
                WithdrawalEnded?.Invoke(outcome);
                await _devices.Display.ShowAsync(_lastResultScreen!, cancellationToken);
                await Task.Delay(_options.ResultScreenTime, _time, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                // Nothing may wedge the ATM: the money part settles itself (WithdrawalTransaction); anything else
                // that failed in the dialogue ends this customer's turn and the next one starts afresh.
                _logger.LogError(e, "The customer dialogue failed in state {State}: {Type}: {Message}; starting over", _state, e.GetType().Name, e.Message);
                Enter(TerminalState.Terminated);
                await Task.Delay(_options.ResultScreenTime > TimeSpan.FromSeconds(1) ? _options.ResultScreenTime : TimeSpan.FromSeconds(1), _time, cancellationToken)
                    .ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
        }
    }

    /// <summary>Why the ATM is out of service for good (until restarted), or null.</summary>
    public string? OutOfServiceReason => Volatile.Read(ref _outOfServiceReason);

    /// <summary>Takes the ATM out of service until it is restarted (a device or a file it cannot trust); the next customer sees "out of service".</summary>
    public void TakeOutOfService(string reason)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        Volatile.Write(ref _outOfServiceReason, reason);
    }

    /// <summary>
    /// Step E: a request the proxy forwarded. Accepted only for the session on screen right now (see
    /// <see cref="RequestGate"/>); anything else is declined at once. An accepted request is answered when the withdrawal ends.
    /// </summary>
    public async ValueTask<IsoMessage> HandleForwardedRequestAsync(IsoMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var session = Volatile.Read(ref _session);
        var decision = await _requestGate.CheckAsync(request, session?.Gate);
        if (!decision.Admitted)
        {
            return NetworkFields.CreateResponse(request, decision.ResponseCode!);
        }

        var forwarded = new ForwardedRequest(request, new TaskCompletionSource<IsoMessage>(TaskCreationOptions.RunContinuationsAsynchronously));
        session!.Requests.TrySetResult(forwarded);
        return await forwarded.Reply.Task.WaitAsync(cancellationToken);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _devices.Sensors.Status.Changed -= OnSensorChanged;
        _keys.Dispose();
    }

    private async Task<WithdrawalOutcome> RunOneAsync(CancellationToken cancellationToken)
    {
        if (OutOfServiceReason is { } reason)
        {
            Enter(TerminalState.OutOfService);
            _logger.LogCritical("Out of service until restarted: {Reason}", reason);
            await _devices.Display.ShowAsync(_texts.OutOfService(), cancellationToken);
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }

        while (true)
        {
            // Suspect session keys: the terminal re-keys before it offers the next withdrawal (issue 13 item 4).
            if (_keys.OutOfServiceReason is { } stale)
            {
                Enter(TerminalState.OutOfService);
                _logger.LogWarning("Out of service: {Reason}", stale);
                await _devices.Display.ShowAsync(_texts.OutOfService(), cancellationToken);
                await _keys.WaitUntilTrustedAsync(cancellationToken);
            }

            if (!_host.IsReady)
            {
                Enter(TerminalState.OutOfService);
                await _devices.Display.ShowAsync(_texts.OutOfService(), cancellationToken);
                await _host.WaitUntilReadyAsync(cancellationToken);
            }

            if (_keys.OutOfServiceReason is not null)
            {
                continue;
            }

            // Keys pressed on an earlier screen are not answers to this one, so they are discarded before the
            // welcome screen is drawn: a key pressed on seeing it must count. A read still waiting (e.g. the
            // Cancel watch while the host decided) is kept: abandoning it would swallow the next key.
            _devices.Keypad.DiscardPending();
            if (_pendingKey is { IsCompleted: true })
            {
                _pendingKey = null;
            }

            await _devices.Display.ShowAsync(_texts.Welcome(), cancellationToken);

            // Announced only now, so that a key pressed on seeing the idle state is never discarded either.
            Enter(TerminalState.Idle);
            if (await WaitForCustomerAsync(cancellationToken))
            {
                break;
            }
        }

        Enter(TerminalState.AmountEntry);
        var amount = await ReadAmountAsync(cancellationToken);
        if (amount is null)
        {
            return Terminate(null, null, null, _texts.CancelledByCustomer);
        }

        await _journal.WriteAsync(new AmountEntered(JournalAmount.Of(amount.Value)));

        Enter(TerminalState.FaultCheck);
        await _devices.Dispenser.RefreshStatusAsync(cancellationToken);
        var verdict = _devices.FaultCheck.Check(amount.Value);
        await JournalVerdictAsync(null, verdict);
        if (!verdict.IsReady)
        {
            return Terminate(null, amount, null, _texts.ForFault(verdict));
        }

        if (!_host.IsReady || _host.SessionKey is not { } key1 || _keys.OutOfServiceReason is not null)
        {
            // Without a session key the host could not verify the QR: do not show one.
            return Terminate(null, amount, null, _texts.ForResponseCode(ResponseCodes.IssuerUnavailable));
        }

        var payload = new QrSessionIssuer(_atmId, key1.Qr, _time, _qrOptions).Issue(amount.Value);
        var session = new ActiveSession(payload);
        await _journal.WriteAsync(new QrShown(JournalAmount.Of(amount.Value), payload.ExpiresAt) { Session = session.Nonce });
        Volatile.Write(ref _session, session);
        Enter(TerminalState.QrShown);
        try
        {
            var forwarded = await WaitForRequestAsync(session, amount.Value, cancellationToken);
            if (forwarded is null)
            {
                return Terminate(session.Nonce, amount, null, session.EndReason!);
            }

            try
            {
                return await WithdrawAsync(session, amount.Value, forwarded, cancellationToken);
            }
            catch (Exception) when (!cancellationToken.IsCancellationRequested)
            {
                forwarded.Reply.TrySetResult(NetworkFields.CreateResponse(forwarded.PhoneRequest, ResponseCodes.SystemMalfunction));
                throw;
            }
        }
        finally
        {
            session.Close(); // before it leaves the screen, so that no request read it as on screen and claims it now
            Volatile.Write(ref _session, null);
            _requestGate.Retire(session.Gate);
        }
    }

    /// <summary>Waits at the idle screen for Enter (or F1): true; false when the session keys became suspect meanwhile.</summary>
    private async Task<bool> WaitForCustomerAsync(CancellationToken cancellationToken)
    {
        var suspect = _keys.WhenSuspect;
        while (true)
        {
            var key = PendingKey(cancellationToken);
            if (await Task.WhenAny(key, suspect) == suspect)
            {
                return false; // the pending read is kept for the next screen that asks
            }

            if ((await TakeKeyAsync()).Key is AtmKey.Enter or AtmKey.F1)
            {
                return true;
            }
        }
    }

    private async Task<ForwardedRequest?> WaitForRequestAsync(ActiveSession session, Money amount, CancellationToken cancellationToken)
    {
        var matrix = QrSymbolEncoder.Encode(session.Payload).Modules;
        while (true)
        {
            var left = session.Payload.ExpiresAt - _time.GetUtcNow();
            if (left <= TimeSpan.Zero)
            {
                if (!session.Close())
                {
                    return await session.Requests.Task; // a request claimed the session just in time
                }

                session.EndReason = _texts.QrExpired;
                await _journal.WriteAsync(new SessionEnded("expired") { Session = session.Nonce });
                return null;
            }

            await _devices.Display.ShowAsync(_texts.ScanQr(amount.ToString(), matrix, session.Payload.Text, (int)Math.Ceiling(left.TotalSeconds)), cancellationToken);
            var tick = Task.Delay(left < TimeSpan.FromSeconds(1) ? left : TimeSpan.FromSeconds(1), _time, cancellationToken);
            var key = PendingKey(cancellationToken);
            var first = await Task.WhenAny(session.Requests.Task, key, tick);
            if (first == session.Requests.Task)
            {
                return await session.Requests.Task;
            }

            if (first == key && (await TakeKeyAsync()).Key == AtmKey.Cancel)
            {
                if (!session.Close())
                {
                    return await session.Requests.Task; // the phone's request won the race with Cancel
                }

                session.EndReason = _texts.CancelledByCustomer;
                await _journal.WriteAsync(new SessionEnded("cancelled") { Session = session.Nonce });
                return null;
            }

            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    private async Task<WithdrawalOutcome> WithdrawAsync(ActiveSession session, Money amount, ForwardedRequest forwarded, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var phone = forwarded.PhoneRequest;
        var stan = _host.NextStan();
        using var scope = _logger.BeginScope(new Dictionary<string, object> { ["AtmId"] = _options.AtmId, ["Session"] = session.Nonce, ["Stan"] = stan });
        Enter(TerminalState.RequestReceived);
        await _journal.WriteAsync(new RequestReceived(phone.GetString(NetworkFields.Stan) ?? "-", JournalAmount.Of(amount)) { Session = session.Nonce, Stan = stan });

        // The fault check runs again: a door may have opened while the customer used the phone.
        await _devices.Dispenser.RefreshStatusAsync(cancellationToken);
        var verdict = _devices.FaultCheck.Check(amount);
        await JournalVerdictAsync(session.Nonce, verdict);
        if (!verdict.IsReady)
        {
            return await FinishAsync(forwarded, session, amount, null, ResponseCodes.SystemMalfunction, _texts.ForFault(verdict), started);
        }

        // A stop does not cut the money part short: it gets StopTimeout to finish (answer, dispense, journal). Only when
        // that runs out is the host's answer no longer awaited, and recovery settles the rest at the next start.
        using var drain = new CancellationTokenSource(Timeout.InfiniteTimeSpan, _time);
        using var onStop = cancellationToken.Register(() =>
        {
            _logger.LogWarning("Stopping: the withdrawal in flight finishes first (at most {StopTimeout})", _options.StopTimeout);
            drain.CancelAfter(_options.StopTimeout);
        });
        var settlement = await _transaction.RunAsync(session.Nonce, amount, verdict.Mix!, phone, stan, WatchForCancel(cancellationToken), drain.Token);
        return await FinishAsync(
            forwarded, session, amount, settlement.Presented, settlement.ResponseCode, settlement.CustomerMessage, started, settlement.AuthorizationCode, settlement.Final, settlement.Screen);
    }

    private async Task OnTransactionProgressAsync(TerminalState state)
    {
        Enter(state);
        var session = Volatile.Read(ref _session);
        var amount = session?.Payload.Amount.ToString() ?? string.Empty;
        if (state == TerminalState.Authorising)
        {
            await _devices.Display.ShowAsync(_texts.Authorising(amount), CancellationToken.None);
        }
        else if (state == TerminalState.Dispensing)
        {
            await _devices.Display.ShowAsync(_texts.Dispensing(amount), CancellationToken.None);
        }
    }

    private async Task<WithdrawalOutcome> FinishAsync(
        ForwardedRequest forwarded, ActiveSession session, Money amount, Money? presented, string responseCode, string customerMessage, long started,
        string? authCode = null, TerminalState final = TerminalState.Terminated, Devices.Display.Screen? screen = null)
    {
        var reply = NetworkFields.CreateResponse(forwarded.PhoneRequest, responseCode);
        if (authCode is not null && responseCode == ResponseCodes.Approved)
        {
            reply.AuthorizationCode = authCode;
        }

        if (presented is { } paid && paid != amount && responseCode == ResponseCodes.Approved)
        {
            reply.ReplacementAmountMinor = paid.MinorUnits;
        }

        await _journal.WriteAsync(new WithdrawalEnded(responseCode, JournalAmount.Of(presented ?? new Money(0, amount.Currency)), final.ToString(), customerMessage) { Session = session.Nonce });
        forwarded.Reply.TrySetResult(reply);
        _metrics.Withdrawal(final == TerminalState.Done ? (presented == amount ? "dispensed" : "partial") : "declined", responseCode);
        _metrics.Latency(Stopwatch.GetElapsedTime(started));
        _lastResultScreen = screen ?? (final == TerminalState.Done ? _texts.TakeCash(presented!.Value.ToString()) : _texts.Terminated(customerMessage));
        Enter(final);
        _logger.LogInformation("Withdrawal ended {State}: {ResponseCode}, presented {Presented} of {Amount}", final, responseCode, presented, amount);
        return new WithdrawalOutcome(session.Nonce, amount, presented, responseCode, customerMessage, final);
    }

    private WithdrawalOutcome Terminate(string? session, Money? amount, string? responseCode, string customerMessage)
    {
        _lastResultScreen = _texts.Terminated(customerMessage);
        Enter(TerminalState.Terminated);
        _metrics.Withdrawal("terminated", responseCode ?? "none");
        return new WithdrawalOutcome(session, amount, null, responseCode, customerMessage, TerminalState.Terminated);
    }

    private async Task<Money?> ReadAmountAsync(CancellationToken cancellationToken)
    {
        var typed = string.Empty;
        while (true)
        {
            await _devices.Display.ShowAsync(_texts.AmountEntry(typed, _currency.Code, _options.MaxAmountMajor), cancellationToken);
            using var timeout = new CancellationTokenSource(_options.KeyTimeout, _time);
            using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
            KeyPress key;
            try
            {
                key = await PendingKey(cancellationToken).WaitAsync(either.Token);
                await TakeKeyAsync();
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                return null;
            }

            switch (key.Key)
            {
                case AtmKey.Cancel:
                    return null;
                case AtmKey.Clear:
                    typed = string.Empty;
                    break;
                case AtmKey.Enter when typed.Length > 0 && int.Parse(typed, CultureInfo.InvariantCulture) > 0:
                    return Money.ParseMajor(typed, _currency);
                default:
                    if (key.Digit is { } digit && !(typed.Length == 0 && digit == 0))
                    {
                        var next = typed + digit.ToString(CultureInfo.InvariantCulture);
                        if (long.Parse(next, CultureInfo.InvariantCulture) <= _options.MaxAmountMajor)
                        {
                            typed = next;
                        }
                    }

                    break;
            }
        }
    }

    /// <summary>Watches the keypad for Cancel while the host decides; true when Cancel was pressed.</summary>
    private Task<bool> WatchForCancel(CancellationToken cancellationToken)
    {
        var key = PendingKey(cancellationToken);
        return key.ContinueWith(
            t => t.IsCompletedSuccessfully && t.Result.Key == AtmKey.Cancel,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    private Task<KeyPress> PendingKey(CancellationToken cancellationToken) =>
        _pendingKey ??= _devices.Keypad.ReadKeyAsync(cancellationToken).AsTask();

    private async Task<KeyPress> TakeKeyAsync()
    {
        var key = await _pendingKey!;
        _pendingKey = null;
        return key;
    }

    private async Task<KeyPress> NextKeyAsync(CancellationToken cancellationToken)
    {
        await PendingKey(cancellationToken);
        return await TakeKeyAsync();
    }

    private async Task JournalVerdictAsync(string? session, FaultVerdict verdict)
    {
        await _journal.WriteAsync(new FaultChecked(JournalAmount.Of(verdict.Amount), verdict.IsReady, [.. verdict.Reasons.Select(r => $"{r.Code}: {r.LogText}")]) { Session = session });
    }

    private void OnSensorChanged(object? sender, Devices.Status.StatusChange change) =>
        _ = _journal.WriteAsync(new SensorChanged(change.Property, change.OldValue?.ToString(), change.NewValue?.ToString(), _state.ToString()) { Session = Volatile.Read(ref _session)?.Nonce });

    private void Enter(TerminalState state)
    {
        _state = state;
        StateChanged?.Invoke(state);
    }

    private sealed record ForwardedRequest(IsoMessage PhoneRequest, TaskCompletionSource<IsoMessage> Reply);

    /// <summary>The session on screen: the gate's view of it, and the dialogue's hand-over of the admitted request.</summary>
    private sealed class ActiveSession(QrSessionPayload payload)
    {
        public GateSession Gate { get; } = new(payload);

        public QrSessionPayload Payload => Gate.Payload;

        public string Nonce => Gate.Nonce;

        public TaskCompletionSource<ForwardedRequest> Requests { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string? EndReason { get; set; }

        /// <inheritdoc cref="GateSession.Close"/>
        public bool Close() => Gate.Close();
    }
}
