using System.Diagnostics;
using System.Diagnostics.Metrics;
using CardlessAtm.Iso8583.Channels;

namespace CardlessAtm.Host.Server;

/// <summary>
/// The host listener's instruments, on a <see cref="Meter"/> named <see cref="MeterName"/>:
/// <c>cardless_atm.host.connections.limited</c> (counter; tags <c>limit</c> and <c>action</c> = refused | evicted | closed:
/// a connection limit or timeout was enforced) and <c>cardless_atm.host.connections.open</c> (observable gauge).
/// </summary>
public sealed class HostMetrics : IDisposable
{
    /// <summary>The meter's name, for <c>dotnet-counters monitor --counters CardlessAtm.Host</c> or an OpenTelemetry exporter.</summary>
    public const string MeterName = "CardlessAtm.Host";

    private readonly Counter<long> _connectionsLimited;

    internal HostMetrics(Func<int> openConnections)
    {
        Meter = new Meter(new MeterOptions(MeterName) { Version = "1.0" });
        _connectionsLimited = Meter.CreateCounter<long>("cardless_atm.host.connections.limited", "{connection}", "Connections refused, evicted or closed by a connection limit or timeout, by limit and action.");
        Meter.CreateObservableGauge("cardless_atm.host.connections.open", openConnections, "{connection}", "Connections holding a slot, including those in their TLS handshake.");
    }

    /// <summary>The meter (one per host instance).</summary>
    public Meter Meter { get; }

    /// <inheritdoc />
    public void Dispose() => Meter.Dispose();

    internal void ConnectionLimited(ConnectionLimit limit, ConnectionLimitAction action) =>
        _connectionsLimited.Add(1, new TagList { { "limit", ConnectionLimitTags.Of(limit) }, { "action", ConnectionLimitTags.Of(action) } });
}
