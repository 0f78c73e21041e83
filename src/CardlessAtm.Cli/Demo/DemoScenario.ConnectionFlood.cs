using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using CardlessAtm.Host.Server;
using CardlessAtm.Lab;
using CardlessAtm.Security;

namespace CardlessAtm.Cli.Demo;

/// <summary>
/// <c>--scenario connection-flood</c>: with the terminal signed on, about 2,000 sockets are opened against each of the
/// three listeners — the host, the proxy's ATM port and its phone port — half of them idle and half sending keep-alive
/// frames over TLS (on the ATM port the keep-alive half has no ATM certificate, so the handshake refuses it). While they
/// are held, a customer withdraws as usual and must be approved within the normal timeouts; then the listeners' limit
/// counts are printed. Everything runs on loopback from 127.0.0.1, like the real ATM and phone.
/// </summary>
internal sealed partial class DemoScenario
{
    /// <summary>Sockets held against each listener.</summary>
    internal const int FloodSocketsPerListener = 2_000;

    private DemoConnectionFlood? _connectionFlood;
    private bool? _connectionFloodServed;

    private async Task<DemoConnectionFlood> StartConnectionFloodAsync(DemoNetwork network, CancellationToken cancellationToken)
    {
        Say(string.Empty);
        Say($"(scenario: {FloodSocketsPerListener:N0} sockets against each listener — half idle, half sending keep-alive frames over TLS — while a customer withdraws)");
        var flood = await DemoConnectionFlood.StartAsync(network, cancellationToken);
        foreach (var line in flood.Describe())
        {
            Say("   " + line);
        }

        _connectionFlood = flood;
        return flood;
    }

    /// <summary>The flood's last words for the report: the limit counts, and whether the withdrawal beat it.</summary>
    private string? FinishConnectionFlood(string ending)
    {
        if (_connectionFlood is not { } flood)
        {
            return null;
        }

        Say("Listeners' connection limits enforced during the flood (refused / evicted / closed):");
        foreach (var line in flood.Describe())
        {
            Say("   " + line);
        }

        _connectionFloodServed = ending == Iso8583.ResponseCodes.Approved;
        return string.Create(CultureInfo.InvariantCulture, $"{3 * FloodSocketsPerListener} flood sockets, withdrawal {(_connectionFloodServed == true ? "approved" : "NOT approved")}, limits enforced {flood.TotalEnforced}");
    }
}

/// <summary>The three floods of the connection-flood scenario and the listeners' limit counters, read from their meters.</summary>
internal sealed class DemoConnectionFlood : IAsyncDisposable
{
    private static readonly TimeSpan KeepAliveEvery = TimeSpan.FromMilliseconds(500);
    private readonly MeterListener _listener = new();
    private readonly Dictionary<(string Listener, string Action), long> _counts = [];
    private readonly List<(string Name, SocketFlood Idle, SocketFlood KeepAlive)> _floods = [];

    private DemoConnectionFlood()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Name is "cardless_atm.host.connections.limited" or "cardless_atm.proxy.connections.limited")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string? listenerTag = null;
            string? action = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "listener")
                {
                    listenerTag = tag.Value as string;
                }
                else if (tag.Key == "action")
                {
                    action = tag.Value as string;
                }
            }

            var name = instrument.Meter.Name == HostMetrics.MeterName ? "host" : "proxy " + (listenerTag ?? "?") + " port";
            lock (_counts)
            {
                var key = (name, action ?? "?");
                _counts[key] = _counts.GetValueOrDefault(key) + value;
            }
        });
        _listener.Start();
    }

    /// <summary>Every limit enforcement counted so far, on all three listeners.</summary>
    public long TotalEnforced
    {
        get
        {
            lock (_counts)
            {
                return _counts.Values.Sum();
            }
        }
    }

    public static async Task<DemoConnectionFlood> StartAsync(DemoNetwork network, CancellationToken cancellationToken)
    {
        var half = DemoScenario.FloodSocketsPerListener / 2;
        FileDescriptors.Require(3 * DemoScenario.FloodSocketsPerListener);
        var flood = new DemoConnectionFlood();
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(TimeSpan.FromMinutes(3));
            var targets = new (string Name, IPEndPoint EndPoint, SslClientAuthenticationOptions Tls)[]
            {
                ("host", new IPEndPoint(IPAddress.Loopback, network.HostPort), TlsSetup.ClientOptions(DemoAtmPki.HostName, network.Pki.HostPin)),
                ("proxy atm port", new IPEndPoint(IPAddress.Loopback, network.Proxy.AtmEndPoint.Port), TlsSetup.ClientOptions(DemoAtmPki.ProxyName, network.Pki.ProxyPin)),
                ("proxy phone port", new IPEndPoint(IPAddress.Loopback, network.Proxy.PhoneEndPoint.Port), TlsSetup.ClientOptions(DemoAtmPki.PhonePortName, network.Pki.PhonePortPin)),
            };
            foreach (var (name, endPoint, tls) in targets)
            {
                var idle = await SocketFlood.StartAsync(endPoint, half, keepAliveEvery: null, deadline.Token);
                var keepAlive = await SocketFlood.StartAsync(endPoint, half, KeepAliveEvery, deadline.Token, tls);
                flood._floods.Add((name, idle, keepAlive));
            }

            return flood;
        }
        catch
        {
            await flood.DisposeAsync();
            throw;
        }
    }

    /// <summary>One line per listener: sockets opened, what the flood still holds, and the listener's limit counts.</summary>
    public IEnumerable<string> Describe()
    {
        _listener.RecordObservableInstruments();
        foreach (var (name, idle, keepAlive) in _floods)
        {
            var held = idle.Count - idle.CountClosedByListener() + keepAlive.Count - keepAlive.CountClosedByListener();
            var key = name == "host" ? "host" : name;
            long Count(string action)
            {
                lock (_counts)
                {
                    return _counts.GetValueOrDefault((key, action));
                }
            }

            yield return string.Create(
                CultureInfo.InvariantCulture,
                $"{name,-17} {idle.Count + keepAlive.Count + keepAlive.HandshakesFailed,5} sockets ({idle.Count} idle, {keepAlive.Count} keep-alive over TLS, {keepAlive.HandshakesFailed} refused in the TLS handshake); still open {held,4}; listener refused {Count("refused")}, evicted {Count("evicted")}, closed {Count("closed")}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (_, idle, keepAlive) in _floods)
        {
            await idle.DisposeAsync();
            await keepAlive.DisposeAsync();
        }

        _listener.Dispose();
    }
}
