using CardlessAtm.Terminal.Journal;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Terminal.Links;

/// <summary>
/// Re-keys the terminal when its session keys are suspect (issue 13 item 4): a 0200 answered 63 or 96, a host answer
/// whose MAC does not verify, or a reversal the host refuses 63 mean the host and the ATM no longer share the session
/// keys (rotated at the host, or a stale key). Until the authenticated key change (0800/101) succeeds the ATM is out of
/// service; failed attempts are repeated with capped exponential back-off, and after
/// <see cref="TerminalRekeyOptions.MaxAttempts"/> it stops trying and stays out of service until a sign-on renews the
/// keys (the link reconnects) or the terminal is restarted. Every step is journalled (no key material).
/// </summary>
public sealed class SessionKeyRecovery : IDisposable
{
    private readonly IHostLink _host;
    private readonly TerminalRekeyOptions _options;
    private readonly ElectronicJournal _journal;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _wake = new(0);
    private readonly Lock _lock = new();
    private TaskCompletionSource _renewed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _suspected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private string? _suspect;
    private bool _abandoned;

    /// <summary>Creates the recovery for the link <paramref name="host"/>.</summary>
    public SessionKeyRecovery(IHostLink host, TerminalRekeyOptions options, ElectronicJournal journal, TimeProvider time, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(journal);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        _host = host;
        _options = options;
        _journal = journal;
        _time = time;
        _logger = logger;
    }

    /// <summary>Why the ATM serves no one until it has re-keyed, or null while the session keys are trusted.</summary>
    public string? OutOfServiceReason
    {
        get
        {
            lock (_lock)
            {
                return _suspect is null ? null
                    : _abandoned ? $"the session keys could not be renewed in {_options.MaxAttempts} key-change attempt(s) ({_suspect})"
                    : $"re-keying with the host ({_suspect})";
            }
        }
    }

    /// <summary>Whether re-keying was given up after <see cref="TerminalRekeyOptions.MaxAttempts"/> failed attempts.</summary>
    public bool Abandoned
    {
        get
        {
            lock (_lock)
            {
                return _abandoned;
            }
        }
    }

    /// <summary>Completes when the session keys become suspect (at once while they are).</summary>
    public Task WhenSuspect
    {
        get
        {
            lock (_lock)
            {
                return _suspected.Task;
            }
        }
    }

    /// <summary>The delay after failed attempt <paramref name="attempt"/> (1-based): the initial delay doubled per failure, capped.</summary>
    public static TimeSpan Backoff(int attempt, TimeSpan initial, TimeSpan max)
    {
        var exponent = Math.Clamp(attempt - 1, 0, 20);
        return TimeSpan.FromTicks(Math.Min(initial.Ticks * (1L << exponent), max.Ticks));
    }

    /// <summary>The session keys are suspect (<paramref name="reason"/> says why, without key material): re-key before the next withdrawal.</summary>
    /// <param name="reason">What made them suspect.</param>
    /// <param name="keyVersion">
    /// The session key version the refused or unverifiable message went out under: when the link has installed other
    /// keys since (a key change finished while the answer was on its way), the answer says nothing about the keys in
    /// use now and is ignored, so one stale answer cannot take the ATM out of service again right after it re-keyed.
    /// </param>
    public void Suspect(string reason, int keyVersion)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        if (keyVersion != _host.KeyVersion)
        {
            _logger.LogInformation("Ignored a key suspicion about session key version {Old}: the link now uses version {Current} ({Reason})", keyVersion, _host.KeyVersion, reason);
            return;
        }

        TaskCompletionSource suspected;
        lock (_lock)
        {
            if (_suspect is not null)
            {
                return; // already re-keying (or given up): one recovery at a time
            }

            _suspect = reason;
            _abandoned = false;
            if (_renewed.Task.IsCompleted)
            {
                _renewed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            suspected = _suspected;
        }

        _logger.LogWarning("The session keys are suspect ({Reason}): out of service until the terminal has re-keyed with the host", reason);
        suspected.TrySetResult();
        _wake.Release();
    }

    /// <summary>A sign-on installed fresh session keys (this recovery's key change, or the link's after a reconnect): back in service.</summary>
    public void KeysRenewed()
    {
        TaskCompletionSource renewed;
        lock (_lock)
        {
            if (_suspect is null)
            {
                return;
            }

            _suspect = null;
            _abandoned = false;
            renewed = _renewed;
            if (_suspected.Task.IsCompleted)
            {
                _suspected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }

        renewed.TrySetResult();
        _wake.Release();
    }

    /// <summary>Waits until the session keys are trusted again (at once when they are).</summary>
    public Task WaitUntilTrustedAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return _suspect is null ? Task.CompletedTask : _renewed.Task.WaitAsync(cancellationToken);
        }
    }

    /// <inheritdoc />
    public void Dispose() => _wake.Dispose();

    /// <summary>Runs until cancelled: re-keys whenever the session keys become suspect.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            await _wake.WaitAsync(cancellationToken);
            try
            {
                await RecoverAsync(cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // A journal failure must not end re-keying for good; the next suspicion (or this one, woken) tries again.
                _logger.LogError("Re-keying failed ({Type}: {Message})", e.GetType().Name, e.Message);
                await Task.Delay(_options.RetryMax, _time, cancellationToken);
                _wake.Release();
            }
        }
    }

    private bool IsSuspect(out string reason)
    {
        lock (_lock)
        {
            reason = _suspect ?? string.Empty;
            return _suspect is not null && !_abandoned;
        }
    }

    private async Task RecoverAsync(CancellationToken cancellationToken)
    {
        if (!IsSuspect(out var reason))
        {
            return;
        }

        await _journal.WriteAsync(new HostRekey(HostRekey.Needed, 0, _host.KeyVersion, reason));
        for (var attempt = 1; attempt <= _options.MaxAttempts; attempt++)
        {
            if (!IsSuspect(out _))
            {
                return; // renewed meanwhile (the link signed on again)
            }

            try
            {
                await _host.RekeyAsync(cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                var last = attempt == _options.MaxAttempts;
                var delay = Backoff(attempt, _options.RetryInitial, _options.RetryMax);
                await _journal.WriteAsync(new HostRekey(HostRekey.Failed, attempt, _host.KeyVersion, last ? e.Message : $"{e.Message}; next attempt in {delay}"));
                _logger.LogWarning("Key change attempt {Attempt} of {Max} failed ({Type}: {Message}){Next}", attempt, _options.MaxAttempts, e.GetType().Name, e.Message, last ? string.Empty : $"; next attempt in {delay}");
                if (!last)
                {
                    await WaitOrRenewedAsync(delay, cancellationToken);
                }

                continue;
            }

            await _journal.WriteAsync(new HostRekey(HostRekey.Renewed, attempt, _host.KeyVersion, "session keys renewed: back in service"));
            _logger.LogInformation("Re-keyed with the host (attempt {Attempt}, session key version {Version}): back in service", attempt, _host.KeyVersion);
            KeysRenewed();
            return;
        }

        lock (_lock)
        {
            if (_suspect is null)
            {
                return;
            }

            _abandoned = true;
        }

        var why = $"the session keys could not be renewed in {_options.MaxAttempts} key-change attempt(s) (Terminal:Rekey:MaxAttempts); the ATM stays out of service until a sign-on renews them or it is restarted";
        await _journal.WriteAsync(new HostRekey(HostRekey.Abandoned, _options.MaxAttempts, _host.KeyVersion, why));
        _logger.LogCritical("Out of service: {Reason} (suspect since: {Suspect})", why, reason);
    }

    private async Task WaitOrRenewedAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        Task renewed;
        lock (_lock)
        {
            renewed = _renewed.Task;
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        await Task.WhenAny(Task.Delay(delay, _time, stop.Token), renewed);
        await stop.CancelAsync();
        cancellationToken.ThrowIfCancellationRequested();
    }
}
