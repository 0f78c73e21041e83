using System.Net;
using CardlessAtm.Host.Administration;
using CardlessAtm.Host.Authorisation;
using CardlessAtm.Host.Processing;
using CardlessAtm.Host.Storage;
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

    /// <summary>The key vault directory (created 0700 if missing).</summary>
    public string KeyVaultPath { get; set; } = "host-keys";

    /// <summary>Address to listen on (default loopback).</summary>
    public IPAddress Address { get; set; } = IPAddress.Loopback;

    /// <summary>TCP port; 0 picks a free one (see <see cref="HostServer.LocalEndPoint"/>).</summary>
    public int Port { get; set; } = 8583;

    /// <summary>The security profile ATMs and phones use.</summary>
    public SecurityProfileKind Profile { get; set; } = SecurityProfileKind.Aes;

    /// <summary>Limits.</summary>
    public HostPolicy Policy { get; set; } = new();

    /// <summary>Most simultaneous ATM connections.</summary>
    public int MaxConnections { get; set; } = 1024;

    /// <summary>TLS 1.3 for the ATMs' connections (<c>Host:Tls</c>); plain TCP when no certificate is set.</summary>
    public TlsListenerOptions Tls { get; set; } = new();

    /// <summary>Checks the settings; the message names the bad one.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(DatabasePath))
        {
            throw new ArgumentException("Host:DatabasePath must name the SQLite file.", nameof(DatabasePath));
        }

        if (string.IsNullOrWhiteSpace(KeyVaultPath))
        {
            throw new ArgumentException("Host:KeyVaultPath must name the key vault directory.", nameof(KeyVaultPath));
        }

        if (Port is < 0 or > 65535)
        {
            throw new ArgumentOutOfRangeException(nameof(Port), Port, "Host:Port must be 0..65535.");
        }

        Policy.Validate();
    }
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

    private readonly SqliteHostStore _store;
    private readonly PinVerifier _pins;

    // Which ATM signed on over each connection (sign-on enforced); an entry lives as long as its connection.
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<Iso8583Connection, HostSession> _sessions = [];
    private Iso8583Server? _server;

    private HostServer(SqliteHostStore store, FileKeyStore vault, ISecurityProfile profile, PinVerifier pins, HostProcessor processor, HostAdministration administration)
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

    /// <summary>The key vault (the security module's file key store).</summary>
    public FileKeyStore Vault { get; }

    /// <summary>The security profile.</summary>
    public ISecurityProfile Profile { get; }

    /// <summary>The message logic.</summary>
    public HostProcessor Processor { get; }

    /// <summary>Operator operations (accounts, ATMs, phones, reports).</summary>
    public HostAdministration Administration { get; }

    /// <summary>Where the server listens (after <see cref="StartAsync"/>).</summary>
    public IPEndPoint LocalEndPoint => _server?.LocalEndPoint ?? throw new InvalidOperationException("The host is not listening.");

    /// <summary>Opens the ledger (running migrations) and the key vault, without listening.</summary>
    /// <exception cref="StoreUnavailableException">The database cannot be opened.</exception>
    public static Task<HostServer> OpenAsync(HostServerOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        loggerFactory ??= NullLoggerFactory.Instance;
        time ??= TimeProvider.System;
        var vault = new FileKeyStore(options.KeyVaultPath);
        if (!vault.Contains(PinKeyRef))
        {
            using var fresh = SecretKey.Generate(KeyAlgorithm.Aes256);
            vault.SaveKey(PinKeyRef, fresh);
        }

        PinVerifier pins;
        using (var pinVerificationKey = vault.LoadKey(PinKeyRef))
        {
            pins = new PinVerifier(pinVerificationKey);
        }

        var profile = SecurityProfiles.Create(options.Profile);
        var store = SqliteHostStore.Open(options.DatabasePath, time, loggerFactory.CreateLogger<SqliteHostStore>());
        var processor = new HostProcessor(store, vault, profile, pins, options.Policy, time, loggerFactory.CreateLogger<HostProcessor>());
        var administration = new HostAdministration(store, vault, pins, profile, time);
        return Task.FromResult(new HostServer(store, vault, profile, pins, processor, administration));
    }

    /// <summary>Opens the host and starts listening for ATM connections.</summary>
    public static async Task<HostServer> StartAsync(HostServerOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? time = null, CancellationToken cancellationToken = default)
    {
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
            Address = options.Address,
            Port = options.Port,
            MaxConnections = options.MaxConnections,
            TimeProvider = time,
            Logger = loggerFactory.CreateLogger<Iso8583Server>(),
            RequestHandler = (request, connection, ct) => processor.HandleAsync(request, _sessions.GetOrCreateValue(connection), ct),

            // Echoes go to the processor, which holds the keys: an echo whose field 64/128 does not verify is
            // refused 63 rather than answered 00 by the channel.
            AnswerEchoTests = false,
            Tls = options.Tls.CreateServerOptions(),
        });
        await _server.StartAsync(cancellationToken);
    }

    /// <summary>Stops listening (draining requests in flight), then closes the ledger.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        Processor.Dispose();
        await _store.DisposeAsync();
        _pins.Dispose();
    }
}
