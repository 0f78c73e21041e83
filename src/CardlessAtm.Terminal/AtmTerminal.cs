using System.Diagnostics.Metrics;
using CardlessAtm.Devices.Configuration;
using CardlessAtm.Qr.Sessions;
using CardlessAtm.Security;
using CardlessAtm.Terminal.Flow;
using CardlessAtm.Terminal.Journal;
using CardlessAtm.Terminal.Links;
using CardlessAtm.Terminal.StoreAndForward;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Terminal;

/// <summary>
/// The ATM application: devices, the withdrawal flow, the journal, the reversal queue and the links to the
/// host and the proxy, started in the right order — recovery of anything a crash left unfinished first.
/// </summary>
public sealed class AtmTerminal : IAsyncDisposable
{
    private readonly HostLink _host;
    private readonly ProxyLink _proxy;
    private readonly TerminalRecovery _recovery;
    private readonly TerminalMetrics _metrics;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private int _withdrawalInFlightAtStop;

    private AtmTerminal(TerminalOptions options, AtmDevices devices, HostLink host, ElectronicJournal journal, ReversalForwarder reversals, WithdrawalFlow flow, TerminalMetrics metrics, TimeProvider time, ILoggerFactory loggers)
    {
        Options = options;
        Devices = devices;
        _host = host;
        Journal = journal;
        Reversals = reversals;
        Flow = flow;
        _metrics = metrics;
        _time = time;
        _logger = loggers.CreateLogger<AtmTerminal>();
        _proxy = new ProxyLink(options, flow.HandleForwardedRequestAsync, time, loggers.CreateLogger<ProxyLink>());
        _recovery = new TerminalRecovery(journal, devices.Dispenser, reversals, time, loggers.CreateLogger<TerminalRecovery>());
    }

    /// <summary>The settings.</summary>
    public TerminalOptions Options { get; }

    /// <summary>The devices.</summary>
    public AtmDevices Devices { get; }

    /// <summary>The electronic journal.</summary>
    public ElectronicJournal Journal { get; }

    /// <summary>The store-and-forward reversals.</summary>
    public ReversalForwarder Reversals { get; }

    /// <summary>The withdrawal state machine.</summary>
    public WithdrawalFlow Flow { get; }

    /// <summary>Whether the host link is signed on with session keys.</summary>
    public bool IsHostReady => _host.IsReady;

    /// <summary>The host's version of the session keys the terminal holds (0 before the first key change).</summary>
    public int HostKeyVersion => _host.KeyVersion;

    /// <summary>Whether the proxy link is up.</summary>
    public bool IsProxyConnected => _proxy.IsConnected;

    /// <summary>The host endpoint the link is on, or dials next: <c>Terminal:Host</c> or one of its <c>Failover</c> entries.</summary>
    public Iso8583.Channels.Iso8583Endpoint HostEndpoint => _host.CurrentEndpoint;

    /// <summary>How the host link is secured, from its negotiated session, e.g. <c>TLS 1.3, server pinned spki-sha256:…</c>; <c>not connected</c> while down.</summary>
    public string HostLinkSecurity => DescribeLink(_host.Connection, Options.Host);

    /// <summary>How the proxy link is secured, from its negotiated session; <c>not connected</c> while down.</summary>
    public string ProxyLinkSecurity => DescribeLink(_proxy.Connection, Options.Proxy);

    /// <summary>Builds the terminal: validates the settings, loads the terminal master key, opens the journal and the queue.</summary>
    /// <exception cref="ConfigurationException">A terminal setting is wrong (<see cref="ConfigurationException.Setting"/> names it).</exception>
    /// <exception cref="ArgumentOutOfRangeException">A <c>QrSession</c> setting is out of range (the message names it).</exception>
    /// <exception cref="SecurityException">The master key is missing or its file is readable by others.</exception>
    public static AtmTerminal Create(
        TerminalOptions options, AtmDevices devices, ISecurityProfile profile, QrSessionOptions qrOptions, TimeProvider time, ILoggerFactory loggers, IMeterFactory? meters = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(devices);
        ArgumentNullException.ThrowIfNull(qrOptions);
        TerminalOptionsValidator.ThrowIfInvalid(options);
        qrOptions.Validate();
        var masterKey = new FileKeyStore(options.KeyStore).LoadKey(options.MasterKeyName);
        var journal = new ElectronicJournal(Path.Combine(options.DataDirectory, "journal.log"), time, loggers.CreateLogger<ElectronicJournal>(), options.Journal);
        var queue = new ReversalStore(Path.Combine(options.DataDirectory, "saf"));
        var stan = StanReservation.Open(Path.Combine(options.DataDirectory, "stan"));
        var host = new HostLink(options, profile, masterKey, stan, time, loggers.CreateLogger<HostLink>());
        var reversals = new ReversalForwarder(queue, host, journal, options, time, loggers.CreateLogger<ReversalForwarder>());
        var metrics = new TerminalMetrics(() => queue.Depth, () => reversals.StuckCount, meters);
        journal.LineSkipped += line => metrics.JournalLineSkipped(line.Torn);
        var flow = new WithdrawalFlow(options, devices, host, reversals, journal, qrOptions, metrics, time, loggers.CreateLogger<WithdrawalFlow>());

        // Every sign-on installs fresh session keys: suspect keys are trusted again and the reversal queue goes out under them.
        host.SignedOn += () =>
        {
            flow.KeyRecovery.KeysRenewed();
            reversals.KeysRenewed();
        };
        return new AtmTerminal(options, devices, host, journal, reversals, flow, metrics, time, loggers);
    }

    /// <summary>
    /// Runs until cancelled: settles what a crash left unfinished, dials the host and the proxy, forwards
    /// reversals and serves customers.
    /// </summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        await Journal.WriteAsync(new TerminalStarted(Options.AtmId));
        var (_, unreadable) = Reversals.Store.ReadAll();
        if (unreadable.Count > 0)
        {
            // A reversal file nobody can read may be money owed to a customer: serve no one until an operator repairs it.
            var reason = new ReversalStoreException(unreadable).Message;
            _logger.LogCritical("Out of service: {Reason}", reason);
            Flow.TakeOutOfService(reason);
        }

        var recovered = await _recovery.RecoverAsync(cancellationToken);
        if (recovered > 0)
        {
            _logger.LogWarning("Recovery settled {Count} unfinished withdrawal(s)", recovered);
        }

        if (_recovery.Unsettled.Count > 0)
        {
            Flow.TakeOutOfService(string.Join("; ", _recovery.Unsettled));
        }

        if (!Options.Host.Tls.Enabled)
        {
            _logger.LogWarning(
                "INSECURE: the host link to {Endpoint} runs plain TCP (Terminal:Host:Insecure = true): withdrawals cross the network readable and the host is not authenticated. Set Terminal:Host:Tls:ServerPin outside a lab.",
                Options.Host);
        }

        await _host.StartAsync(cancellationToken);
        await _proxy.StartAsync(cancellationToken);
        var forwarding = Reversals.RunAsync(cancellationToken);
        var serving = Flow.RunAsync(cancellationToken);
        var all = Task.WhenAll(forwarding, serving);
        var stopRequested = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (cancellationToken.Register(() => stopRequested.TrySetResult()))
        {
            if (await Task.WhenAny(all, stopRequested.Task) != all)
            {
                // Stopping: a withdrawal in flight drains (WithdrawalFlow gives it StopTimeout); the bound here adds a
                // little for its journal lines. Past it, the process ends as a crash would, and recovery settles the rest.
                var bound = Task.Delay(Options.StopTimeout + TimeSpan.FromSeconds(2), _time, CancellationToken.None);
                if (await Task.WhenAny(all, bound) != all)
                {
                    Volatile.Write(ref _withdrawalInFlightAtStop, 1);
                    _logger.LogCritical(
                        "Stopping with a withdrawal unfinished after {StopTimeout} (state {State}): it is left as after a crash; the next start settles it from the journal",
                        Options.StopTimeout, Flow.State);
                    _ = all.ContinueWith(t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                    return;
                }
            }
        }

        try
        {
            await all;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }

    /// <summary>True when a stop could not wait for the withdrawal in flight (see <see cref="TerminalOptions.StopTimeout"/>).</summary>
    public bool StoppedWithWithdrawalInFlight => Volatile.Read(ref _withdrawalInFlightAtStop) == 1;

    /// <summary>Whether the host acknowledged the 0800/002 sign-off when the terminal stopped.</summary>
    public bool SignedOffAtHost => _host.SignedOffAtHost;

    /// <summary>Waits until the host link is signed on with session keys.</summary>
    public Task WaitUntilHostReadyAsync(CancellationToken cancellationToken) => _host.WaitUntilReadyAsync(cancellationToken);

    private static string DescribeLink(Iso8583.Channels.Iso8583Connection? connection, EndpointOptions endpoint) =>
        connection is not { IsOpen: true }
            ? "not connected"
            : TlsSetup.DescribeSession(connection.TlsProtocol, connection.RemoteCertificate, endpoint.Tls.Enabled ? CertificatePin.Parse(endpoint.Tls.ServerPin!) : null);

    /// <summary>Waits until both links are up (the host with session keys).</summary>
    public async Task WaitUntilOnlineAsync(CancellationToken cancellationToken)
    {
        await _host.WaitUntilReadyAsync(cancellationToken);
        await _proxy.WaitUntilConnectedAsync(cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _host.DisposeAsync(); // signs off at the host
        if (StoppedWithWithdrawalInFlight)
        {
            // The unfinished withdrawal may still write its journal lines or store a reversal: nothing it uses is
            // closed under it; the process exit ends it as a crash would.
            return;
        }

        Flow.Dispose();
        Reversals.Dispose();
        Journal.Dispose();
        _metrics.Dispose();
    }
}
