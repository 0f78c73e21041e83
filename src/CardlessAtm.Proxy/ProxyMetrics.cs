using System.Diagnostics;
using System.Diagnostics.Metrics;
using CardlessAtm.Iso8583.Channels;

namespace CardlessAtm.Proxy;

/// <summary>What became of a phone request (the <c>outcome</c> tag of the proxy's metrics).</summary>
public static class ForwardOutcomes
{
    /// <summary>The ATM answered; the phone got the ATM's 0210.</summary>
    public const string Answered = "answered";

    /// <summary>No ATM with that id ever signed on: 92, not forwarded.</summary>
    public const string UnknownAtm = "unknown_atm";

    /// <summary>The ATM is signed off or disconnected: 91, not forwarded.</summary>
    public const string AtmOffline = "atm_offline";

    /// <summary>The ATM already has the most unanswered forwards allowed: 91, not forwarded.</summary>
    public const string AtmBusy = "atm_busy";

    /// <summary>Forwarded, but no answer within the forward timeout: 91, outcome unknown.</summary>
    public const string Timeout = "timeout";

    /// <summary>Forwarded, but the ATM's connection closed before it answered: 91, outcome unknown.</summary>
    public const string AtmDisconnected = "atm_disconnected";

    /// <summary>Forwarded, but the ATM's answer could not be unpacked: 96, outcome unknown.</summary>
    public const string MalformedAnswer = "malformed_answer";

    /// <summary>Forwarded, but the phone's connection went away before the answer: nothing to send, outcome unknown.</summary>
    public const string PhoneGone = "phone_gone";

    /// <summary>Not a well-formed 0200 for routing (missing STAN or ATM id, or another MTI): 30 or 12, not forwarded.</summary>
    public const string Rejected = "rejected";

    /// <summary>Past the phone connection's request limit: 91, not forwarded, the connection is closing.</summary>
    public const string LimitExceeded = "limit_exceeded";
}

/// <summary>
/// The proxy's instruments, on a <see cref="Meter"/> named <see cref="MeterName"/>:
/// <c>cardless_atm.proxy.requests</c> (counter; tags <c>outcome</c>, <c>response_code</c>),
/// <c>cardless_atm.proxy.forward.duration</c> (histogram, seconds, from receiving the phone's request to
/// answering it, for forwarded requests; tag <c>outcome</c>),
/// <c>cardless_atm.proxy.atms.registered</c> (observable gauge),
/// <c>cardless_atm.proxy.sign_ons</c> (counter; tag <c>result</c> = accepted | refused),
/// <c>cardless_atm.proxy.late_answers</c> (counter: ATM answers that came after the phone was answered 91),
/// <c>cardless_atm.proxy.atms.known</c> (observable gauge: ATM ids remembered, online or offline),
/// <c>cardless_atm.proxy.connections.limited</c> (counter; tags <c>listener</c> = atm | phone, <c>limit</c>, <c>action</c> =
/// refused | evicted | closed: a connection limit or timeout was enforced).
/// </summary>
public sealed class ProxyMetrics : IDisposable
{
    /// <summary>The meter's name, for <c>dotnet-counters monitor --counters CardlessAtm.Proxy</c> or an OpenTelemetry exporter.</summary>
    public const string MeterName = "CardlessAtm.Proxy";

    private readonly bool _ownsMeter;
    private readonly Counter<long> _requests;
    private readonly Histogram<double> _forwardDuration;
    private readonly Counter<long> _signOns;
    private readonly Counter<long> _lateAnswers;
    private readonly Counter<long> _connectionsLimited;

    internal ProxyMetrics(IMeterFactory? meterFactory, Func<int> registeredAtms, Func<int> knownAtms)
    {
        var options = new MeterOptions(MeterName) { Version = "1.0" };
        Meter = meterFactory?.Create(options) ?? new Meter(options);
        _ownsMeter = meterFactory is null;
        _requests = Meter.CreateCounter<long>("cardless_atm.proxy.requests", "{request}", "Phone requests handled, by outcome and the response code sent to the phone.");
        _forwardDuration = Meter.CreateHistogram<double>("cardless_atm.proxy.forward.duration", "s", "Time from a phone's request to the proxy's answer, for requests forwarded to an ATM.");
        _signOns = Meter.CreateCounter<long>("cardless_atm.proxy.sign_ons", "{sign-on}", "ATM sign-ons, by result.");
        _lateAnswers = Meter.CreateCounter<long>("cardless_atm.proxy.late_answers", "{answer}", "ATM answers that came after the phone had been answered 91.");
        Meter.CreateObservableGauge("cardless_atm.proxy.atms.registered", registeredAtms, "{atm}", "ATMs signed on over a live connection.");
        Meter.CreateObservableGauge("cardless_atm.proxy.atms.known", knownAtms, "{atm}", "ATM ids remembered, online or offline (at most Proxy:MaxKnownAtms).");
        _connectionsLimited = Meter.CreateCounter<long>("cardless_atm.proxy.connections.limited", "{connection}", "Connections refused, evicted or closed by a connection limit or timeout, by listener, limit and action.");
    }

    /// <summary>The meter (one per proxy instance; its name is <see cref="MeterName"/>).</summary>
    public Meter Meter { get; }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsMeter)
        {
            Meter.Dispose();
        }
    }

    internal void Request(string outcome, string responseCode) =>
        _requests.Add(1, new TagList { { "outcome", outcome }, { "response_code", responseCode } });

    internal void Forwarded(string outcome, TimeSpan elapsed) =>
        _forwardDuration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("outcome", outcome));

    internal void SignOn(bool accepted) =>
        _signOns.Add(1, new KeyValuePair<string, object?>("result", accepted ? "accepted" : "refused"));

    internal void LateAnswer() => _lateAnswers.Add(1);

    internal void ConnectionLimited(string listener, ConnectionLimit limit, ConnectionLimitAction action) =>
        _connectionsLimited.Add(1, new TagList { { "listener", listener }, { "limit", ConnectionLimitTags.Of(limit) }, { "action", ConnectionLimitTags.Of(action) } });
}
