using System.Diagnostics.Metrics;
using CardlessAtm.Devices.Dispenser;

namespace CardlessAtm.Terminal;

/// <summary>
/// The terminal's metrics on the <c>CardlessAtm.Terminal</c> meter, readable with
/// <c>dotnet-counters monitor -n cardless-atm --counters CardlessAtm.Terminal</c> or any OpenTelemetry exporter.
/// </summary>
public sealed class TerminalMetrics : IDisposable
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "CardlessAtm.Terminal";

    private readonly Meter _meter;
    private readonly Counter<long> _withdrawals;
    private readonly Counter<long> _dispenserFaults;
    private readonly Histogram<double> _latency;
    private readonly Counter<long> _journalCorruptLines;
    private readonly Counter<long> _unmatchedRequests;

    /// <summary>Creates the instruments; <paramref name="safDepth"/> and <paramref name="safStuck"/> are read when the SAF gauges are observed.</summary>
    public TerminalMetrics(Func<int> safDepth, Func<int> safStuck, IMeterFactory? meterFactory = null)
    {
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _withdrawals = _meter.CreateCounter<long>("cardless_atm.withdrawals", description: "Withdrawals by outcome and response code.");
        _dispenserFaults = _meter.CreateCounter<long>("cardless_atm.dispenser.faults", description: "Dispenser faults by kind.");
        _latency = _meter.CreateHistogram<double>("cardless_atm.withdrawal.duration", unit: "ms", description: "From the forwarded request to the outcome.");
        _journalCorruptLines = _meter.CreateCounter<long>("cardless_atm.journal.corrupt_lines", description: "Journal lines skipped because they are torn or corrupt (each counted once per run; see terminal journal --check).");
        _unmatchedRequests = _meter.CreateCounter<long>("cardless_atm.requests.unmatched", description: "Forwarded requests that matched no session, by response code and reason (summarised in the journal, not journalled one by one).");
        _meter.CreateObservableGauge("cardless_atm.saf.depth", safDepth, description: "Reversals waiting in the store-and-forward queue.");
        _meter.CreateObservableGauge("cardless_atm.saf.stuck", safStuck, description: "Reversals that raised an alert: refused with a code an operator must handle, or past the attempt bound.");
    }

    /// <summary>Counts a withdrawal outcome.</summary>
    public void Withdrawal(string outcome, string responseCode) =>
        _withdrawals.Add(1, new KeyValuePair<string, object?>("outcome", outcome), new KeyValuePair<string, object?>("response_code", responseCode));

    /// <summary>Counts a dispenser fault.</summary>
    public void DispenserFault(DispenseCompletion kind) => _dispenserFaults.Add(1, new KeyValuePair<string, object?>("kind", kind.ToString()));

    /// <summary>Records a withdrawal's end-to-end duration at the terminal.</summary>
    public void Latency(TimeSpan elapsed) => _latency.Record(elapsed.TotalMilliseconds);

    /// <summary>Counts a journal line that was skipped because it is not an entry.</summary>
    public void JournalLineSkipped(bool torn) => _journalCorruptLines.Add(1, new KeyValuePair<string, object?>("kind", torn ? "torn" : "corrupt"));

    /// <summary>Counts a forwarded request that matched no session.</summary>
    public void UnmatchedRequest(string responseCode, string reason) =>
        _unmatchedRequests.Add(1, new KeyValuePair<string, object?>("response_code", responseCode), new KeyValuePair<string, object?>("reason", reason));

    /// <inheritdoc />
    public void Dispose() => _meter.Dispose();
}
