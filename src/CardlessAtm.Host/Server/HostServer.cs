using System.Net;
using CardlessAtm.Host.Administration;
using CardlessAtm.Host.Authorisation;
using CardlessAtm.Host.Processing;
using CardlessAtm.Host.Storage;
using CardlessAtm.Host.Storage.Postgres;
using CardlessAtm.Host.Storage.Sqlite;
using CardlessAtm.Iso8583.Channels;
using CardlessAtm.Network;
using CardlessAtm.Security;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Host.Server;

/// <summary>Settings of a host instance (configuration section <c>Host</c>).</summary>
public sealed class HostServerOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Host";

    /// <summary>The SQLite ledger file (created if missing).</summary>
    public string DatabasePath { get; set; } = "host.db";

    /// <summary>
    /// Which store holds the ledger (<c>Host:Store</c>): SQLite in <see cref="DatabasePath"/> (the default), or a
    /// PostgreSQL database that several host processes may share (docs/scale-out.md).
    /// </summary>
    public HostStoreOptions Store { get; set; } = new();

    /// <summary>The key vault directory (created 0700 if missing) when the store is SQLite; unused with Postgres, whose keys are in the database.</summary>
    public string KeyVaultPath { get; set; } = "host-keys";

    /// <summary>
    /// <c>Host:Keys</c>: with <c>Host:Store:Kind = Postgres</c> the keys live in the database, wrapped under the key-encryption
    /// key in the 0600 file <see cref="HostKeyOptions.KekPath"/> on each host (docs/scale-out.md).
    /// </summary>
    public HostKeyOptions Keys { get; set; } = new();

    /// <summary>Address to listen on (default loopback).</summary>
    public IPAddress Address { get; set; } = IPAddress.Loopback;

    /// <summary>TCP port; 0 picks a free one (see <see cref="HostServer.LocalEndPoint"/>).</summary>
    public int Port { get; set; } = 8583;

    /// <summary>The security profile ATMs and phones use.</summary>
    public SecurityProfileKind Profile { get; set; } = SecurityProfileKind.Aes;

    /// <summary>Limits.</summary>
    public HostPolicy Policy { get; set; } = new();

    /// <summary>
    /// Most simultaneous ATM connections (default 1024), counting those in their TLS handshake. When reached, the
    /// oldest connection that has not signed on is closed for the newcomer (whatever it is sending); only when there is
    /// none (every slot signed on) is the newcomer closed at once.
    /// </summary>
    public int MaxConnections { get; set; } = 1024;

    /// <summary>
    /// Most connections at once that have not signed on (default 256): the rest of <see cref="MaxConnections"/> is
    /// reserved for signed-on ATMs. When reached, the oldest that has not signed on is closed for the newcomer, so a
    /// flood of anonymous sockets never keeps an ATM from dialling in.
    /// </summary>
    public int MaxConnectionsBeforeSignOn { get; set; } = 256;

    /// <summary>
    /// Most connections at once from one IP address (default 64). When reached, the oldest of that address's
    /// connections that has not signed on is closed for the newcomer, so one address
    /// only ever pushes out its own. Raise it for many ATMs behind one NAT address.
    /// </summary>
    public int MaxConnectionsPerAddress { get; set; } = 64;

    /// <summary>
    /// A connection that receives no message for this long is closed (default 90 s). An ATM's link stays up with its
    /// echo tests (every 30 s of silence by default), so it must exceed the ATMs' echo interval. Keep-alive frames do not count.
    /// </summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(90);

    /// <summary>A connection that has sent no complete message this long after it opened is closed (default 15 s): slow-loris.</summary>
    public TimeSpan FirstMessageTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How long a TLS handshake may take (default 10 s).</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// A connection whose ATM has not signed on (valid 0800/001) this long after it opened is closed, whatever it sends
    /// (default 30 s): echoes or garbage do not let an anonymous socket keep its slot. An ATM signs on as soon as it connects.
    /// </summary>
    public TimeSpan SignOnTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// TLS 1.3 for the ATMs' connections (<c>Host:Tls</c>: CertificatePath and PrivateKeyPath, the pair
    /// <c>cardless-atm keys tls</c> writes). Required to listen unless <see cref="Insecure"/> is true.
    /// </summary>
    public TlsListenerOptions Tls { get; set; } = new();

    /// <summary>
    /// <c>Host:Insecure</c>: true lets the host listen on plain TCP when <see cref="Tls"/> has no certificate, for a lab
    /// that chooses this knowingly (messages are MACed but readable, and anyone on the path sees who withdraws what);
    /// logged as a warning at start-up. Default false: no certificate, no listener.
    /// </summary>
    public bool Insecure { get; set; }
}

/// <summary>The <c>Host:Keys</c> settings.</summary>
public sealed class HostKeyOptions
{
    /// <summary>
    /// <c>Host:Keys:KekPath</c>: the key-encryption key file (the key-file format, AES-256, mode 0600 in a 0700 directory)
    /// under which the database key vault's rows are wrapped; required with <c>Host:Store:Kind = Postgres</c>. Every host
    /// of one database holds its own copy of the same KEK; it is never in the database or the configuration.
    /// </summary>
    public string? KekPath { get; set; }

    /// <summary>
    /// <c>Host:Keys:HighWaterMarkPath</c>: this host's high-water mark file of the database key vault (per key name the
    /// highest row version this host has read or written, sealed with a MAC under a key derived from the KEK; mode 0600).
    /// Default: <c>vault-marks</c> beside <see cref="KekPath"/>, so each host (each copy of the KEK) has its own. A row
    /// below its mark (restored from before a re-key) is refused. A missing file is created empty.
    /// </summary>
    public string? HighWaterMarkPath { get; set; }
}

/// <summary>
/// A running host: the ledger, the key vault, the message processor and the ISO 8583 TCP server.
/// Start one in-process with <see cref="StartAsync"/> (port 0 for a free loopback port), or open
/// the parts without listening with <see cref="OpenAsync"/> for operator commands.
/// </summary>
public sealed class HostServer : IAsyncDisposable
{
    /// <summary>Vault reference of the PIN verification key.</summary>
    public const string PinKeyRef = "pvk";

    private readonly IHostStore _store;
    private readonly PinVerifier _pins;

    // Which ATM signed on over each connection (sign-on enforced); an entry lives as long as its connection.
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<Iso8583Connection, HostSession> _sessions = [];
    private Iso8583Server? _server;
    private HostMetrics? _metrics;

    private HostServer(IHostStore store, IKeyVault vault, ISecurityProfile profile, PinVerifier pins, HostProcessor processor, HostAdministration administration)
    {
        _store = store;
        Vault = vault;
        Profile = profile;
        _pins = pins;
        Processor = processor;
        Administration = administration;
    }

    /// <summary>The ledger.</summary>
    public IHostStore Store => _store;

    /// <summary>The key vault: the security module's file key store (SQLite), or the database vault (Postgres).</summary>
    public IKeyVault Vault { get; }

    /// <summary>The security profile.</summary>
    public ISecurityProfile Profile { get; }

    /// <summary>The message logic.</summary>
    public HostProcessor Processor { get; }

    /// <summary>Operator operations (accounts, ATMs, phones, reports).</summary>
    public HostAdministration Administration { get; }

    /// <summary>The listener's metrics (meter <c>CardlessAtm.Host</c>; after <see cref="StartAsync"/>).</summary>
    public HostMetrics Metrics => _metrics ?? throw new InvalidOperationException("The host is not listening.");

    /// <summary>Where the server listens (after <see cref="StartAsync"/>).</summary>
    public IPEndPoint LocalEndPoint => _server?.LocalEndPoint ?? throw new InvalidOperationException("The host is not listening.");

    /// <summary>Connections whose ATM has signed on (for the status an operator reads); 0 before the host listens.</summary>
    public int SignedOnConnectionCount => _server?.Connections.Count(c => c.IsAuthenticated) ?? 0;

    /// <summary>Opens the ledger (running migrations) and the key vault, without listening.</summary>
    /// <exception cref="StoreUnavailableException">The database cannot be opened.</exception>
    public static Task<HostServer> OpenAsync(HostServerOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        HostServerOptionsValidator.ThrowIfInvalid(options);
        loggerFactory ??= NullLoggerFactory.Instance;
        time ??= TimeProvider.System;
        var store = OpenStore(options, loggerFactory, time);
        IKeyVault vault;
        PinVerifier pins;
        try
        {
            vault = OpenVault(options, time);
            pins = OpenPinVerifier(vault);
        }
        catch
        {
            store.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }

        var profile = SecurityProfiles.Create(options.Profile);
        var processor = new HostProcessor(store, vault, profile, pins, options.Policy, time, loggerFactory.CreateLogger<HostProcessor>());
        var administration = new HostAdministration(store, vault, pins, profile, time);
        return Task.FromResult(new HostServer(store, vault, profile, pins, processor, administration));
    }

    /// <summary>The key vault of <paramref name="options"/>' store kind: files for SQLite, the database (keys wrapped under the KEK) for Postgres.</summary>
    /// <exception cref="ConfigurationException">Postgres: the KEK file is missing, too open, not a key or not this database's KEK, or a row fails authentication.</exception>
    public static IKeyVault OpenVault(HostServerOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Store.Kind == HostStoreKind.Postgres
            ? PostgresKeyVault.Open(options.Store.ConnectionString!, options.Keys.KekPath, options.Keys.HighWaterMarkPath, time)
            : new FileKeyStore(options.KeyVaultPath);
    }

    /// <summary>
    /// The key vault alone, for key administration before (or beside) a running host: the database is migrated first, and
    /// unlike <see cref="OpenAsync"/> no PIN verification key is generated, so a migrated host's <c>pvk</c> can be imported.
    /// The caller disposes a returned <see cref="IDisposable"/>.
    /// </summary>
    /// <exception cref="ConfigurationException">A bad store setting or KEK (see <see cref="OpenVault"/>).</exception>
    public static async Task<IKeyVault> OpenVaultOnlyAsync(HostServerOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        HostServerOptionsValidator.ThrowIfInvalid(options);
        if (options.Store.Kind == HostStoreKind.Postgres)
        {
            await PostgresHostStore.Open(options.Store.ConnectionString!, time, connections: 1).DisposeAsync();
        }

        return OpenVault(options, time);
    }

    /// <summary>The PIN verification key, generated on a vault's first start (another host starting at once may win: then its key is used).</summary>
    private static PinVerifier OpenPinVerifier(IKeyVault vault)
    {
        if (!vault.Contains(PinKeyRef))
        {
            using var fresh = SecretKey.Generate(KeyAlgorithm.Aes256);
            try
            {
                vault.SaveKey(PinKeyRef, fresh);
            }
            catch (KeyFileRejectedException) when (vault.Contains(PinKeyRef))
            {
                // Another host of the fleet generated it first: use that one.
            }
        }

        using var pinVerificationKey = vault.LoadKey(PinKeyRef);
        return new PinVerifier(pinVerificationKey);
    }

    private static IHostStore OpenStore(HostServerOptions options, ILoggerFactory loggerFactory, TimeProvider time) => options.Store.Kind switch
    {
        HostStoreKind.Postgres => PostgresHostStore.Open(options.Store.ConnectionString!, time, loggerFactory.CreateLogger<PostgresHostStore>()),
        _ => SqliteHostStore.Open(options.DatabasePath, time, loggerFactory.CreateLogger<SqliteHostStore>()),
    };

    /// <summary>Opens the host and starts listening for ATM connections.</summary>
    /// <exception cref="ConfigurationException">No TLS certificate and not <see cref="HostServerOptions.Insecure"/>, or the pair cannot be loaded.</exception>
    public static async Task<HostServer> StartAsync(HostServerOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? time = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        HostServerOptionsValidator.ThrowIfCannotListen(options);
        var host = await OpenAsync(options, loggerFactory, time);
        try
        {
            await host.ListenAsync(options, loggerFactory ?? NullLoggerFactory.Instance, time ?? TimeProvider.System, cancellationToken);
            return host;
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }
    }

    private async Task ListenAsync(HostServerOptions options, ILoggerFactory loggerFactory, TimeProvider time, CancellationToken cancellationToken)
    {
        var processor = Processor;
        _server = new Iso8583Server(new Iso8583ServerOptions
        {
            Spec = NetworkSpec.Messages,
            Address = options.Address,
            Port = options.Port,
            MaxConnections = options.MaxConnections,
            MaxUnauthenticatedConnections = options.MaxConnectionsBeforeSignOn,
            MaxConnectionsPerAddress = options.MaxConnectionsPerAddress,
            ReceiveIdleTimeout = options.IdleTimeout,
            FirstMessageTimeout = options.FirstMessageTimeout,
            HandshakeTimeout = options.HandshakeTimeout,
            AuthenticationTimeout = options.SignOnTimeout,

            // Every ATM signs on first: a connection that has not is evicted (oldest first) for a newcomer even while a
            // request of its is being handled, so an anonymous socket that keeps sending holds no slot by being busy.
            EvictBusyUnauthenticated = true,
            TimeProvider = time,
            Logger = loggerFactory.CreateLogger<Iso8583Server>(),
            // The connection's first MACed sign-on is not evicted from the moment it is read until it has been checked
            // (once per connection, still bounded by Host:SignOnTimeout): a flood arriving meanwhile cannot push the ATM out.
            IsAuthenticationAttempt = IsMacedSignOn,
            RequestHandler = (request, connection, ct) => processor.HandleAsync(request, _sessions.GetValue(connection, NewSession), ct),

            // Echoes go to the processor, which holds the keys: an echo whose field 64/128 does not verify is
            // refused 63 rather than answered 00 by the channel.
            AnswerEchoTests = false,
            Tls = options.Tls.CreateServerOptions("Host:Tls"),
        });
        var server = _server;
        _metrics = new HostMetrics(() => server.SlotCount);
        _server.LimitEnforced += _metrics.ConnectionLimited;
        await _server.StartAsync(cancellationToken);
        var log = loggerFactory.CreateLogger<HostServer>();
        if (options.Tls.Enabled)
        {
            log.LogInformation("Host listening on {EndPoint} (TLS 1.3).", _server.LocalEndPoint);
        }
        else
        {
            log.LogWarning(
                "INSECURE: the host listener {EndPoint} runs plain TCP (Host:Insecure = true): ATMs' messages cross the network readable. Configure Host:Tls (CertificatePath, PrivateKeyPath) outside a lab.",
                _server.LocalEndPoint);
        }
    }

    /// <summary>
    /// The session of a new connection. When a newer sign-on of its ATM supersedes it, the connection is closed: an ATM
    /// holds one signed-on (authenticated, never evicted) slot at most, and the older connection is of no use to it.
    /// </summary>
    private static HostSession NewSession(Iso8583Connection connection)
    {
        var session = new HostSession(AddressOf(connection.RemoteEndPoint));

        // Only a sign-on whose field 64 verified under the ATM's key (fresh, unused) signs the session on, and it does so
        // before the sign-on is written to the store: from then on the connection keeps its slot however many anonymous
        // sockets arrive. An unMACed or forged one is refused 63 and its connection stays anonymous (evictable).
        session.SignedOn += connection.MarkAuthenticated;
        session.SignedOff += connection.MarkUnauthenticated; // signed off: before sign-on again, evictable and on the deadline
        session.Superseded += () => _ = CloseQuietlyAsync(connection);
        return session;
    }

    private static bool IsMacedSignOn(Iso8583.IsoMessage request)
    {
        try
        {
            return request.Mti == Iso8583.Mti.NetworkManagementRequest
                && request.NetworkManagementCode == Iso8583.NetworkManagementCodes.SignOn
                && (request.Has(NetworkFields.Mac) || request.Has(NetworkFields.SecondaryMac));
        }
        catch (Iso8583.Iso8583FieldException)
        {
            return false;
        }
    }

    private static async Task CloseQuietlyAsync(Iso8583Connection connection)
    {
        try
        {
            await connection.CloseAsync();
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException or Iso8583ChannelException)
        {
            // Already closing: nothing to do.
        }
    }

    /// <summary>The IP address of a connection's "address:port" (the port varies per connection, so it is not part of the key).</summary>
    private static string AddressOf(string remoteEndPoint) =>
        IPEndPoint.TryParse(remoteEndPoint, out var endPoint) ? endPoint.Address.ToString() : remoteEndPoint;

    /// <summary>Stops listening (draining requests in flight), then closes the ledger.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        _metrics?.Dispose();

        Processor.Dispose();
        await _store.DisposeAsync();
        _pins.Dispose();
        (Vault as IDisposable)?.Dispose();
    }
}
