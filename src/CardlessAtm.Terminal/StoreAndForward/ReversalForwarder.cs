using CardlessAtm.Iso8583;
using CardlessAtm.Network;
using CardlessAtm.Terminal.Journal;
using CardlessAtm.Terminal.Links;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Terminal.StoreAndForward;

/// <summary>What the terminal does with a reversal after the host's answer (or its silence).</summary>
public enum ReversalDisposition
{
    /// <summary>An authentic 0430 with 00 (also sent for a reversal already applied): the reversal leaves the queue.</summary>
    Acknowledged,

    /// <summary>No answer, a broken link, 91 or 92: repeat as 0421 after the backoff.</summary>
    RetryLater,

    /// <summary>63 or 96, or an answer whose MAC fails: the keys may be stale; re-key, then repeat.</summary>
    RekeyThenRetry,

    /// <summary>Any other code (12 the ATM is blocked, 30 format error, …): repeating cannot help; an operator must act.</summary>
    NeedsOperator,
}

/// <summary>
/// Delivers the reversal queue to the host: each reversal as an 0420, repeated as 0421 (same STAN, field 39 the
/// reason) with exponential backoff per reversal. A reversal leaves the disk only on an authentic 0430 with 00;
/// every other answer is classified (<see cref="Classify"/>), journalled and kept. After
/// <see cref="TerminalOptions.ReversalMaxAttempts"/> attempts, or on a code that needs an operator, it raises an
/// alert: an Error log, the <c>cardless_atm.saf.stuck</c> gauge and <see cref="Stuck"/>.
/// </summary>
public sealed class ReversalForwarder : IDisposable
{
    private readonly ReversalStore _queue;
    private readonly IHostLink _host;
    private readonly ElectronicJournal _journal;
    private readonly TerminalOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _wake = new(0);
    private volatile bool _rekeyFirst;

    /// <summary>Creates the forwarder.</summary>
    public ReversalForwarder(ReversalStore queue, IHostLink host, ElectronicJournal journal, TerminalOptions options, TimeProvider time, ILogger logger)
    {
        _queue = queue;
        _host = host;
        _journal = journal;
        _options = options;
        _time = time;
        _logger = logger;
    }

    /// <summary>Raised when a reversal's answer says the session keys may be stale (<see cref="ReversalDisposition.RekeyThenRetry"/>).</summary>
    /// <remarks>The second argument is the session key version the advice went out under.</remarks>
    public event Action<string, int>? RekeyRequested;

    /// <summary>
    /// A sign-on installed fresh session keys: a re-key this forwarder meant to do first is no longer needed, and the
    /// queue is looked at again (reversals are delivered under the new keys as they fall due).
    /// </summary>
    public void KeysRenewed()
    {
        _rekeyFirst = false;
        _wake.Release();
    }

    /// <summary>The reversals waiting on disk.</summary>
    public ReversalStore Store => _queue;

    /// <summary>Reversals that raised an alert: waiting for an operator, or past the attempt bound.</summary>
    public IReadOnlyList<PendingReversal> Stuck => [.. _queue.ReadAll().Reversals.Where(IsStuck)];

    /// <summary>How many reversals are stuck (for the <c>cardless_atm.saf.stuck</c> gauge).</summary>
    public int StuckCount => _queue.ReadAll().Reversals.Count(IsStuck);

    /// <summary>The classification of a field 39 in an authentic 0430.</summary>
    public static ReversalDisposition Classify(string? responseCode) => responseCode switch
    {
        ResponseCodes.Approved => ReversalDisposition.Acknowledged,
        ResponseCodes.IssuerUnavailable or ResponseCodes.RoutingError => ReversalDisposition.RetryLater,
        ResponseCodes.SecurityViolation or ResponseCodes.SystemMalfunction => ReversalDisposition.RekeyThenRetry,
        _ => ReversalDisposition.NeedsOperator,
    };

    /// <summary>
    /// Stores a reversal durably (file, fsync, directory fsync), <em>then</em> journals it and wakes the
    /// forwarding loop: a crash between the two leaves a file that recovery sees, never a journal line without one.
    /// </summary>
    public async Task EnqueueAsync(PendingReversal reversal)
    {
        ArgumentNullException.ThrowIfNull(reversal);
        _queue.Save(reversal);
        var currency = Currency.FromNumericCode(reversal.CurrencyNumeric).Code;
        await _journal.WriteAsync(new ReversalQueued(
            reversal.Id,
            new JournalAmount(reversal.AmountMinor, currency),
            new JournalAmount(reversal.DispensedMinor, currency),
            reversal.IsPartial ? "partial" : "full",
            reversal.ReasonCode,
            reversal.Reason)
        { Session = reversal.Session, Stan = reversal.OriginalStan });
        _wake.Release();
    }

    /// <summary>
    /// An operator's retry: a reversal waiting for an operator (or past its attempt bound) is made due at once.
    /// Works on the files alone, so <c>cardless-atm terminal saf retry</c> can run beside the terminal.
    /// </summary>
    /// <returns>False when no reversal has this id.</returns>
    public static bool RequestRetry(ReversalStore queue, string id, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(time);
        return queue.Update(id, reversal => reversal with { Status = ReversalStatus.Pending, NextAttemptAt = null, Attempts = 0, LastProblem = $"operator retry at {time.GetUtcNow():u}" });
    }

    /// <inheritdoc />
    public void Dispose() => _wake.Dispose();

    /// <summary>Runs until cancelled: forwards every due reversal, each with its own backoff.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            TimeSpan wait;
            try
            {
                wait = await ForwardDueAsync(cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // A disk or journal failure must not end store-and-forward for good: the reversals stay on disk.
                _logger.LogError(e, "Store-and-forward pass failed ({Type}: {Message}); trying again in {Delay}", e.GetType().Name, e.Message, _options.ReversalRetryMax);
                wait = _options.ReversalRetryMax;
            }

            await WaitForWakeAsync(wait, cancellationToken);
        }
    }

    /// <summary>
    /// One pass over the queue: sends every due reversal in order, stopping at the first the link could not
    /// carry. Returns how long to wait before the next pass (or <see cref="Timeout.InfiniteTimeSpan"/> when
    /// nothing is due until a new reversal or an operator retry arrives).
    /// </summary>
    public async Task<TimeSpan> ForwardDueAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<PendingReversal> pending;
        try
        {
            pending = _queue.Pending;
        }
        catch (ReversalStoreException e)
        {
            _logger.LogError("Store-and-forward queue {Directory}: {Problem}", _queue.Directory, e.Message);
            return _options.ReversalRetryMax;
        }

        var now = _time.GetUtcNow();
        foreach (var reversal in pending.Where(r => r.Status == ReversalStatus.Pending && (r.NextAttemptAt is null || r.NextAttemptAt <= now)))
        {
            if (!_host.IsReady)
            {
                return _options.ReversalRetryInitial;
            }

            if (!await TryDeliverAsync(reversal, cancellationToken))
            {
                break; // the link carried nothing: the others would fare no better now
            }
        }

        var next = _queue.ReadAll().Reversals.Where(r => r.Status == ReversalStatus.Pending).Select(r => r.NextAttemptAt ?? now).DefaultIfEmpty().Min();
        if (next == default)
        {
            return _options.ReversalRetryMax; // nothing pending: look again now and then (an operator retry from another process)
        }

        var wait = next - _time.GetUtcNow();
        return wait <= TimeSpan.Zero ? TimeSpan.FromMilliseconds(1) : (wait > _options.ReversalRetryMax ? _options.ReversalRetryMax : wait);
    }

    private bool IsStuck(PendingReversal r) => r.Status == ReversalStatus.NeedsOperator || r.Attempts >= _options.ReversalMaxAttempts;

    private async Task WaitForWakeAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(delay, _time);
        using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            await _wake.WaitAsync(either.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // The backoff delay ran out.
        }
    }

    /// <returns>False when the link could not carry the reversal (no answer); true when the host answered.</returns>
    private async Task<bool> TryDeliverAsync(PendingReversal reversal, CancellationToken cancellationToken)
    {
        if (_rekeyFirst)
        {
            try
            {
                await _host.RekeyAsync(cancellationToken);
                _rekeyFirst = false;
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                await RecordFailureAsync(reversal, "none", $"re-key failed: {e.Message}", ReversalDisposition.RekeyThenRetry, _host.KeyVersion);
                return false;
            }
        }

        var stan = reversal.AdviceStan == 0 ? _host.NextStan() : reversal.AdviceStan;
        var advice = _host.NewRequest(reversal.AdviceStan == 0 ? Mti.ReversalAdvice : Mti.ReversalAdviceRepeat);
        advice.Stan = stan;
        advice.ProcessingCode = ProcessingCodes.CashWithdrawal;
        advice.AmountMinor = reversal.AmountMinor;
        advice.CurrencyCode = reversal.CurrencyNumeric;
        advice.RetrievalReferenceNumber = reversal.RetrievalReference;
        advice.ResponseCode = reversal.ReasonCode;
        advice.OriginalData = new OriginalDataElements(Mti.FinancialRequest, reversal.OriginalStan, reversal.OriginalTransmission);
        if (reversal.IsPartial)
        {
            advice.ReplacementAmountMinor = reversal.DispensedMinor;
        }

        // Counted on disk before it leaves: a crash mid-send repeats it as 0421 with the same STAN.
        var attempt = reversal with { Attempts = reversal.Attempts + 1, AdviceStan = stan };
        _queue.Save(attempt);
        HostAnswer answer;
        var keyVersion = _host.KeyVersion;
        try
        {
            answer = await _host.SendAsync(advice, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            await RecordFailureAsync(attempt, "none", e.Message, ReversalDisposition.RetryLater, keyVersion);
            return false;
        }

        if (!answer.MacVerified || answer.Response.Mti != Mti.ReversalAdviceResponse)
        {
            await RecordFailureAsync(attempt, answer.ResponseCode ?? "none", $"the answer {answer.Response.Mti} is not an authentic 0430", ReversalDisposition.RekeyThenRetry, keyVersion);
            return true;
        }

        if (answer.Mismatch is not null)
        {
            await RecordFailureAsync(attempt, answer.ResponseCode ?? "none", $"the 0430 differs from the advice in field(s) {answer.Mismatch}", ReversalDisposition.RetryLater, keyVersion);
            return true;
        }

        var disposition = Classify(answer.ResponseCode);
        if (disposition != ReversalDisposition.Acknowledged)
        {
            await RecordFailureAsync(attempt, answer.ResponseCode ?? "none", $"the host answered {answer.ResponseCode} ({ResponseCodes.Describe(answer.ResponseCode)})", disposition, keyVersion);
            return true;
        }

        await _journal.WriteAsync(new ReversalAcknowledged(reversal.Id, ResponseCodes.Approved, attempt.Attempts) { Session = reversal.Session, Stan = reversal.OriginalStan });
        _queue.Complete(reversal.Id);
        _logger.LogInformation("Reversal {Id} acknowledged by the host (00) after {Attempts} attempt(s)", reversal.Id, attempt.Attempts);
        return true;
    }

    private async Task RecordFailureAsync(PendingReversal attempt, string response, string problem, ReversalDisposition disposition, int keyVersion)
    {
        var status = disposition == ReversalDisposition.NeedsOperator ? ReversalStatus.NeedsOperator : ReversalStatus.Pending;
        var exponent = Math.Clamp(attempt.Attempts - 1, 0, 30);
        var backoff = TimeSpan.FromTicks(Math.Min(_options.ReversalRetryInitial.Ticks * (1L << Math.Min(exponent, 20)), _options.ReversalRetryMax.Ticks));
        var updated = attempt with
        {
            Status = status,
            LastResponse = response,
            LastProblem = problem,
            NextAttemptAt = status == ReversalStatus.Pending ? _time.GetUtcNow() + backoff : null,
        };
        _queue.Save(updated);
        // An answer to an advice MACed under keys the link has replaced since says nothing about the keys in use now.
        if (disposition == ReversalDisposition.RekeyThenRetry && keyVersion == _host.KeyVersion)
        {
            _rekeyFirst = true;
            RekeyRequested?.Invoke($"reversal {attempt.Id} not acknowledged: {problem}", keyVersion);
        }
        await _journal.WriteAsync(new ReversalNotAcknowledged(attempt.Id, response, disposition.ToString(), attempt.Attempts, problem) { Session = attempt.Session, Stan = attempt.OriginalStan });

        if (IsStuck(updated))
        {
            _logger.LogError(
                "ALERT stuck reversal {Id} (session {Session}, {Amount} minor units): {Problem}; attempts {Attempts}; {Action}",
                attempt.Id, attempt.Session, attempt.AmountMinor - attempt.DispensedMinor, problem, attempt.Attempts,
                status == ReversalStatus.NeedsOperator ? "not repeated until an operator runs 'cardless-atm terminal saf retry " + attempt.Id + "'" : "still repeated every " + _options.ReversalRetryMax);
        }
        else
        {
            _logger.LogWarning("Reversal {Id} not acknowledged (attempt {Attempt}): {Problem}; {Disposition}", attempt.Id, attempt.Attempts, problem, disposition);
        }
    }
}
