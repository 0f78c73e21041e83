using System.Globalization;
using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Channels;
using CardlessAtm.Terminal.Journal;
using CardlessAtm.Terminal.Links;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Terminal.StoreAndForward;

/// <summary>
/// Delivers the reversal queue to the host: each reversal as an 0420, repeated as 0421 with exponential
/// backoff until the host answers with an authentic 0430; only then is it removed from the disk.
/// </summary>
public sealed class ReversalForwarder : IDisposable
{
    private readonly ReversalStore _queue;
    private readonly HostLink _host;
    private readonly ElectronicJournal _journal;
    private readonly TerminalOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _wake = new(0);

    /// <summary>Creates the forwarder.</summary>
    public ReversalForwarder(ReversalStore queue, HostLink host, ElectronicJournal journal, TerminalOptions options, TimeProvider time, ILogger logger)
    {
        _queue = queue;
        _host = host;
        _journal = journal;
        _options = options;
        _time = time;
        _logger = logger;
    }

    /// <summary>The reversals waiting on disk.</summary>
    public ReversalStore Store => _queue;

    /// <summary>Journals and stores a reversal, then wakes the forwarding loop.</summary>
    public async Task EnqueueAsync(PendingReversal reversal)
    {
        ArgumentNullException.ThrowIfNull(reversal);
        await _journal.WriteAsync(JournalEvents.ReversalQueued, reversal.Session, reversal.OriginalStan, new Dictionary<string, string>
        {
            ["id"] = reversal.Id,
            ["amount"] = reversal.AmountMinor.ToString(CultureInfo.InvariantCulture),
            ["dispensed"] = reversal.DispensedMinor.ToString(CultureInfo.InvariantCulture),
            ["kind"] = reversal.IsPartial ? "partial" : "full",
            ["reason"] = reversal.Reason,
        });
        _queue.Save(reversal);
        _wake.Release();
    }

    /// <inheritdoc />
    public void Dispose() => _wake.Dispose();

    /// <summary>Runs until cancelled: forwards every pending reversal, retrying with backoff.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var delay = _options.ReversalRetryInitial;
        while (!cancellationToken.IsCancellationRequested)
        {
            var pending = _queue.Pending;
            if (pending.Count == 0)
            {
                delay = _options.ReversalRetryInitial;
                await _wake.WaitAsync(cancellationToken);
                continue;
            }

            var allDelivered = true;
            foreach (var reversal in pending)
            {
                if (!await TryDeliverAsync(reversal, cancellationToken))
                {
                    allDelivered = false;
                    break;
                }
            }

            if (!allDelivered)
            {
                // Wait, or wake early when a new reversal arrives (it may find the host back).
                await WaitForWakeAsync(delay, cancellationToken);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.ReversalRetryMax.Ticks));
            }
            else
            {
                delay = _options.ReversalRetryInitial;
            }
        }
    }

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

    private async Task<bool> TryDeliverAsync(PendingReversal reversal, CancellationToken cancellationToken)
    {
        if (!_host.IsReady)
        {
            return false;
        }

        var advice = _host.NewRequest(reversal.Attempts == 0 ? Mti.ReversalAdvice : Mti.ReversalAdviceRepeat);
        advice.ProcessingCode = "010000";
        advice.AmountMinor = reversal.AmountMinor;
        advice.CurrencyCode = reversal.CurrencyNumeric;
        advice.RetrievalReferenceNumber = reversal.RetrievalReference;
        advice.OriginalData = new OriginalDataElements(Mti.FinancialRequest, reversal.OriginalStan, reversal.OriginalTransmission);
        if (reversal.IsPartial)
        {
            advice.ReplacementAmountMinor = reversal.DispensedMinor;
        }

        _queue.Save(reversal with { Attempts = reversal.Attempts + 1 });
        try
        {
            var answer = await _host.SendAsync(advice, cancellationToken);
            if (!answer.MacVerified || answer.Response.Mti != Mti.ReversalAdviceResponse)
            {
                _logger.LogWarning("Reversal {Id}: the host's answer {Mti} is not an authentic 0430; will repeat", reversal.Id, answer.Response.Mti);
                return false;
            }

            await _journal.WriteAsync(JournalEvents.ReversalAcknowledged, reversal.Session, reversal.OriginalStan, new Dictionary<string, string>
            {
                ["id"] = reversal.Id,
                ["response"] = answer.ResponseCode ?? "-",
                ["attempts"] = (reversal.Attempts + 1).ToString(CultureInfo.InvariantCulture),
            });
            _queue.Complete(reversal.Id);
            _logger.LogInformation("Reversal {Id} acknowledged by the host ({ResponseCode})", reversal.Id, answer.ResponseCode);
            return true;
        }
        catch (Exception e) when (e is Iso8583ChannelException or InvalidOperationException or TimeoutException)
        {
            _logger.LogWarning("Reversal {Id} not delivered yet (attempt {Attempt}): {Reason}", reversal.Id, reversal.Attempts + 1, e.Message);
            return false;
        }
    }
}
