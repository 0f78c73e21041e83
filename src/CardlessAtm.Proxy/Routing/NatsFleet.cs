using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;

namespace CardlessAtm.Proxy.Routing;

/// <summary>What became of a request sent to the fleet.</summary>
internal enum FleetRequestOutcome
{
    /// <summary>The owning proxy answered; <see cref="FleetReply.Answer"/> holds its bytes.</summary>
    Answered,

    /// <summary>No proxy of the fleet holds the ATM (NATS reported no responders on its subject).</summary>
    Nowhere,

    /// <summary>No answer within the timeout: the ATM may have acted.</summary>
    Timeout,

    /// <summary>NATS could not be reached; the request was (probably) not delivered.</summary>
    Unavailable,
}

/// <summary>A fleet request's outcome and, when answered, the answer's bytes.</summary>
internal readonly record struct FleetReply(FleetRequestOutcome Outcome, byte[]? Answer, string? Problem = null);

/// <summary>One proxy's claim on one ATM id: the entry it wrote in the bucket and the subscription that serves the id.</summary>
internal sealed class FleetClaim(string atmId, string value)
{
    public string AtmId { get; } = atmId;

    /// <summary>What this claim wrote: the proxy id and a fresh token, so that a newer claim by the same proxy differs.</summary>
    public string Value { get; } = value;

    public ulong Revision { get; set; }

    public INatsSub<byte[]>? Subscription { get; set; }

    public int Lost; // 1 once another claim superseded this one or it was released
}

/// <summary>
/// A proxy's membership of a NATS-routed fleet. Ownership: the JetStream KV bucket <c>Proxy:Routing:Nats:Bucket</c>
/// maps ATM id → the claim of the proxy it is signed on to, written with compare-and-set on the entry's revision; the
/// owner rewrites its entries every third of the bucket's MaxAge (<c>OwnerTtl</c>) so a crashed proxy's entries expire,
/// and watches the bucket so that when another proxy claims one of its ATMs (that ATM signed on there, authenticated)
/// it drops its own link. Routing: the owner subscribes to <c>{prefix}.atm.{id}</c> for as long as it holds the id;
/// any proxy sends a phone's request there (request-reply) and relays the answer.
/// </summary>
internal sealed class NatsFleet : IAsyncDisposable
{
    private readonly NatsConnection _nats;
    private readonly INatsKVStore _owners;
    private readonly NatsRoutingOptions _options;
    private readonly FleetAuthenticator _auth;
    private readonly ILogger _log;
    private readonly TimeProvider _time;
    private readonly Func<string, byte[], CancellationToken, Task<byte[]?>> _serve;
    private readonly Action<FleetClaim> _lost;
    private readonly ConcurrentDictionary<string, FleetClaim> _claims = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<Task, byte> _releases = new();
    private Task _watching = Task.CompletedTask;
    private Task _refreshing = Task.CompletedTask;
    private int _refreshFailing;
    private int _disposed;

    private NatsFleet(NatsConnection nats, INatsKVStore owners, NatsRoutingOptions options, FleetAuthenticator auth, ILogger log, TimeProvider time, Func<string, byte[], CancellationToken, Task<byte[]?>> serve, Action<FleetClaim> lost)
    {
        _nats = nats;
        _owners = owners;
        _options = options;
        _auth = auth;
        _log = log;
        _time = time;
        _serve = serve;
        _lost = lost;
    }

    /// <summary>This proxy's id in the fleet.</summary>
    public string ProxyId => _options.EffectiveProxyId;

    /// <summary>The ATM ids this proxy holds in the bucket now.</summary>
    public IReadOnlyCollection<string> ClaimedAtms => _claims.Keys.Order(StringComparer.Ordinal).ToArray();

    /// <summary>
    /// Connects, creates (or opens) the ownership bucket and starts watching it and refreshing this proxy's entries.
    /// </summary>
    /// <param name="options">The validated NATS settings.</param>
    /// <param name="loggerFactory">Where the fleet's lines (and the NATS client's) go.</param>
    /// <param name="time">Paces the refresh of entries.</param>
    /// <param name="serve">Answers a request for an ATM this proxy holds (the request's packed bytes → the answer's, or null for no answer).</param>
    /// <param name="lost">Called when another proxy claimed an ATM this proxy held.</param>
    /// <param name="cancellationToken">Stops the attempt.</param>
    /// <exception cref="ConfigurationException">
    /// The fleet key file is unset, missing, too open or not an AES-256 key file (names <c>Proxy:Routing:Nats:FleetKeyPath</c>);
    /// the server cannot be reached or the bucket cannot be made (names <c>Proxy:Routing:Nats:Url</c>).
    /// </exception>
    public static async Task<NatsFleet> ConnectAsync(NatsRoutingOptions options, ILoggerFactory loggerFactory, TimeProvider time, Func<string, byte[], CancellationToken, Task<byte[]?>> serve, Action<FleetClaim> lost, CancellationToken cancellationToken)
    {
        FleetAuthenticator auth;
        using (var key = options.LoadFleetKey())
        {
            auth = new FleetAuthenticator(key, time);
        }

        var log = loggerFactory.CreateLogger("CardlessAtm.Proxy.Fleet");
        var clientLogs = new NatsClientLogs(loggerFactory, options);
        var nats = new NatsConnection(ClientOptions(options, clientLogs));
        try
        {
            await nats.ConnectAsync().AsTask().WaitAsync(options.ConnectTimeout + TimeSpan.FromSeconds(1), cancellationToken);
            clientLogs.Connected();
            var js = new NatsJSContext(nats);
            var kv = new NatsKVContext(js);
            var owners = await kv.CreateStoreAsync(new NatsKVConfig(options.Bucket) { MaxAge = options.OwnerTtl, History = 1, Storage = NatsKVStorageType.Memory }, cancellationToken);
            var fleet = new NatsFleet(nats, owners, options, auth, log, time, serve, lost);
            fleet._watching = fleet.WatchAsync();
            fleet._refreshing = fleet.RefreshAsync();
            ProxyLog.FleetJoined(log, options.SafeUrl, options.EffectiveProxyId, options.Bucket, options.OwnerTtl.TotalSeconds);
            return fleet;
        }
        catch (Exception ex) when (ex is NatsException or TimeoutException or OperationCanceledException or IOException && !cancellationToken.IsCancellationRequested)
        {
            await nats.DisposeAsync();
            auth.Dispose();
            throw new ConfigurationException(
                "Proxy:Routing:Nats:Url",
                $"Proxy:Routing:Nats:Url: cannot use the NATS server at {options.SafeUrl} with JetStream: {options.Redact(Describe(ex))} (is nats-server running with -js, and are Proxy:Routing:Nats:User/Password/Token right?).",
                ex);
        }
    }

    /// <summary>
    /// Claims <paramref name="atmId"/> for this proxy (after the ATM's sign-on passed every check): writes the bucket
    /// entry with compare-and-set, superseding any other proxy's claim, then subscribes to the ATM's subject. Until the
    /// subscription is in place a request for the ATM finds no responder and is declined 91; it is never answered by
    /// both the old owner and the new (each request is checked against the entry before it is forwarded).
    /// </summary>
    /// <returns>The claim, or null when NATS could not be used (the sign-on is then refused).</returns>
    public async Task<FleetClaim?> ClaimAsync(string atmId, CancellationToken cancellationToken)
    {
        var claim = new FleetClaim(atmId, string.Create(CultureInfo.InvariantCulture, $"{ProxyId} {Guid.NewGuid():N}"));
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                var current = await _owners.TryGetEntryAsync<string>(atmId, cancellationToken: cancellationToken);
                NatsResult<ulong> written;
                string? previous = null;
                if (current.Success && current.Value.Operation == NatsKVOperation.Put)
                {
                    previous = current.Value.Value;
                    written = await _owners.TryUpdateAsync(atmId, claim.Value, current.Value.Revision, cancellationToken: cancellationToken);
                }
                else
                {
                    written = await _owners.TryCreateAsync(atmId, claim.Value, cancellationToken: cancellationToken);
                }

                if (written.Success)
                {
                    claim.Revision = written.Value;
                    if (_claims.TryGetValue(atmId, out var older) && !ReferenceEquals(older, claim))
                    {
                        await DropAsync(older);
                    }

                    _claims[atmId] = claim;
                    claim.Subscription = await _nats.SubscribeCoreAsync<byte[]>(Subject(atmId), cancellationToken: cancellationToken);
                    _ = ServeAsync(claim);
                    await _nats.PingAsync(cancellationToken); // the server has the subscription once it answers: the ATM is reachable when its sign-on is answered
                    ProxyLog.FleetClaimed(_log, atmId, ProxyId, claim.Revision, previous is null ? "-" : OwnerOf(previous));
                    return claim;
                }

                if (attempt == 5)
                {
                    throw new NatsException("the ownership entry kept changing under five compare-and-set attempts");
                }
            }
        }
        catch (Exception ex) when (ex is NatsException or IOException or TimeoutException)
        {
            ProxyLog.FleetClaimFailed(_log, atmId, _options.Redact(Describe(ex)));
            await ReleaseAsync(claim);
            return null;
        }
    }

    /// <summary>Releases <paramref name="claim"/> (its ATM signed off or disconnected here): unsubscribes and deletes the entry if it is still this claim's.</summary>
    public Task ReleaseAsync(FleetClaim claim)
    {
        // Tracked so that a stop waits for the deletes of the ATMs its listener just disconnected before closing NATS.
        var release = ReleaseCoreAsync(claim);
        _releases[release] = 0;
        _ = release.ContinueWith(t => _releases.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return release;
    }

    private async Task ReleaseCoreAsync(FleetClaim claim)
    {
        if (!_claims.TryRemove(new KeyValuePair<string, FleetClaim>(claim.AtmId, claim)))
        {
            await DropAsync(claim);
            return;
        }

        await DropAsync(claim);
        try
        {
            // Compare-and-set: a newer claim (another proxy's, or this one's on a new connection) is left alone.
            await _owners.TryDeleteAsync(claim.AtmId, new NatsKVDeleteOpts { Revision = claim.Revision });
        }
        catch (Exception ex) when (ex is NatsException or IOException or TimeoutException or ObjectDisposedException)
        {
            // The entry expires within Proxy:Routing:Nats:OwnerTtl without its refresh.
            _log.LogDebug(ex, "Releasing ATM {AtmId} in the fleet failed.", claim.AtmId);
        }
    }

    /// <summary>
    /// Sends a phone's request to whichever proxy holds <paramref name="atmId"/>, signed with the fleet key, and waits
    /// for the first reply whose fleet MAC binds it to this request: replies without one (a NATS client that merely
    /// subscribes to the subject) or made for another request (an old reply replayed) are logged and ignored.
    /// </summary>
    public async Task<FleetReply> RequestAsync(string atmId, byte[] request, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var subject = Subject(atmId);
        var headers = _auth.SignRequest(subject, request, out var nonce);
        try
        {
            await foreach (var reply in _nats.RequestManyAsync<byte[], byte[]>(
                subject,
                request,
                headers,
                replyOpts: new NatsSubOpts { Timeout = timeout, ThrowIfNoResponders = true, StopOnEmptyMsg = false },
                cancellationToken: cancellationToken))
            {
                var answer = reply.Data ?? [];
                if (_auth.CheckReply(subject, nonce, reply.Headers, answer) is { } problem)
                {
                    ProxyLog.FleetReplyUnauthenticated(_log, atmId, problem);
                    continue;
                }

                return answer.Length > 0
                    ? new FleetReply(FleetRequestOutcome.Answered, answer)
                    : new FleetReply(FleetRequestOutcome.Unavailable, null, "an empty answer from the owning proxy");
            }

            return new FleetReply(FleetRequestOutcome.Timeout, null);
        }
        catch (NatsNoRespondersException)
        {
            return new FleetReply(FleetRequestOutcome.Nowhere, null);
        }
        catch (NatsNoReplyException)
        {
            return new FleetReply(FleetRequestOutcome.Timeout, null);
        }
        catch (Exception ex) when (ex is NatsException or IOException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            return new FleetReply(FleetRequestOutcome.Unavailable, null, _options.Redact(Describe(ex)));
        }
    }

    /// <summary>Where the bucket says <paramref name="atmId"/> is: the owning proxy's id, or null.</summary>
    public async Task<string?> OwnerAsync(string atmId, CancellationToken cancellationToken)
    {
        var entry = await _owners.TryGetEntryAsync<string>(atmId, cancellationToken: cancellationToken);
        return entry.Success && entry.Value.Operation == NatsKVOperation.Put && entry.Value.Value is { } value ? OwnerOf(value) : null;
    }

    /// <summary>
    /// Leaves the fleet the way a crashed proxy does: the connection goes, the entries stay until they expire.
    /// For tests of the takeover after a crash; <see cref="DisposeAsync"/> afterwards does nothing more.
    /// </summary>
    public async Task AbandonAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stopping.CancelAsync();
        _claims.Clear();
        await _nats.DisposeAsync();
        _stopping.Dispose();
        _auth.Dispose();
    }

    /// <summary>Releases every claim still held, stops watching and closes the connection.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stopping.CancelAsync();
        foreach (var claim in _claims.Values.ToArray())
        {
            await ReleaseAsync(claim);
        }

        await Task.WhenAll(_releases.Keys.Append(Quietly(_watching)).Append(Quietly(_refreshing)));
        await _nats.DisposeAsync();
        _stopping.Dispose();
        _auth.Dispose();
    }

    private static NatsOpts ClientOptions(NatsRoutingOptions options, ILoggerFactory loggerFactory)
    {
        var tls = string.IsNullOrEmpty(options.TlsCaCertificatePath)
            ? NatsTlsOpts.Default
            : new NatsTlsOpts { CaFile = options.TlsCaCertificatePath, Mode = TlsMode.Require };
        return NatsOpts.Default with
        {
            Url = options.Url!,
            Name = "cardless-atm-proxy " + options.EffectiveProxyId,
            AuthOpts = new NatsAuthOpts { Username = options.User, Password = options.Password, Token = options.Token },
            TlsOpts = tls,
            ConnectTimeout = options.ConnectTimeout,
            RetryOnInitialConnect = false,
            LoggerFactory = loggerFactory,
        };
    }

    private static string OwnerOf(string value) => value.Split(' ')[0];

    private static string Describe(Exception ex) => ex.InnerException is { } inner && ex.Message.Length < 40 ? $"{ex.Message} ({inner.Message})" : ex.Message;

    private static async Task Quietly(Task task)
    {
        try
        {
            await task;
        }
        catch (OperationCanceledException)
        {
        }
    }

    private string Subject(string atmId) => $"{_options.SubjectPrefix}.atm.{atmId}";

    private async Task DropAsync(FleetClaim claim)
    {
        Interlocked.Exchange(ref claim.Lost, 1);
        if (claim.Subscription is { } subscription)
        {
            claim.Subscription = null;
            try
            {
                await subscription.DisposeAsync();
            }
            catch (Exception ex) when (ex is NatsException or IOException or ObjectDisposedException)
            {
                _log.LogDebug(ex, "Unsubscribing from ATM {AtmId} failed.", claim.AtmId);
            }
        }
    }

    private async Task ServeAsync(FleetClaim claim)
    {
        var subscription = claim.Subscription!;
        try
        {
            await foreach (var message in subscription.Msgs.ReadAllAsync(_stopping.Token))
            {
                _ = AnswerAsync(claim, message);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task AnswerAsync(FleetClaim claim, NatsMsg<byte[]> message)
    {
        try
        {
            if (message.Data is not { } data || message.ReplyTo is null || Volatile.Read(ref claim.Lost) == 1)
            {
                return;
            }

            // Nothing reaches the ATM, and nothing is answered, unless a proxy holding the fleet key sent it just now,
            // for this ATM's subject, and it was not seen before.
            if (_auth.CheckRequest(message.Subject, message.Headers, data, out var nonce) is { } problem)
            {
                ProxyLog.FleetRequestUnauthenticated(_log, claim.AtmId, problem);
                return;
            }

            // The entry, not the subscription, says who owns the ATM: a takeover that this proxy's watch has not seen yet
            // must not let it forward a request the new owner gets too.
            var entry = await _owners.TryGetEntryAsync<string>(claim.AtmId, cancellationToken: _stopping.Token);
            if (!entry.Success || !string.Equals(entry.Value.Value, claim.Value, StringComparison.Ordinal))
            {
                if (entry.Success && entry.Value.Operation == NatsKVOperation.Put && entry.Value.Value is { } owner)
                {
                    await SupersededAsync(claim, OwnerOf(owner));
                }

                return;
            }

            if (await _serve(claim.AtmId, data, _stopping.Token) is { } answer)
            {
                await message.ReplyAsync(answer, headers: _auth.SignReply(message.Subject, nonce, answer), cancellationToken: _stopping.Token);
            }
        }
        catch (Exception ex) when (ex is NatsException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            _log.LogDebug(ex, "Answering a fleet request for ATM {AtmId} failed.", claim.AtmId);
        }
    }

    private async Task WatchAsync()
    {
        var token = _stopping.Token;
        while (!token.IsCancellationRequested)
        {
            try
            {
                await foreach (var entry in _owners.WatchAsync<string>(">", opts: new NatsKVWatchOpts { UpdatesOnly = true }, cancellationToken: token))
                {
                    if (entry.Operation == NatsKVOperation.Put && _claims.TryGetValue(entry.Key, out var claim)
                        && !string.Equals(entry.Value, claim.Value, StringComparison.Ordinal) && entry.Revision > claim.Revision)
                    {
                        await SupersededAsync(claim, entry.Value is { } value ? OwnerOf(value) : "-");
                    }
                }
            }
            catch (Exception ex) when (ex is NatsException or IOException && !token.IsCancellationRequested)
            {
                _log.LogDebug(ex, "Watching the ownership bucket failed; watching again.");
                await Task.Delay(TimeSpan.FromSeconds(1), _time, token);
            }
        }
    }

    private async Task RefreshAsync()
    {
        var token = _stopping.Token;
        var interval = _options.OwnerTtl / 3;
        while (!token.IsCancellationRequested)
        {
            await Task.Delay(interval, _time, token);
            foreach (var claim in _claims.Values.ToArray())
            {
                await RefreshAsync(claim, token);
            }
        }
    }

    private async Task RefreshAsync(FleetClaim claim, CancellationToken token)
    {
        try
        {
            var written = await _owners.TryUpdateAsync(claim.AtmId, claim.Value, claim.Revision, cancellationToken: token);
            if (!written.Success)
            {
                // Expired (NATS was out of reach longer than the TTL) or taken: take it back only if nobody else has.
                var current = await _owners.TryGetEntryAsync<string>(claim.AtmId, cancellationToken: token);
                if (current.Success && current.Value.Operation == NatsKVOperation.Put)
                {
                    if (!string.Equals(current.Value.Value, claim.Value, StringComparison.Ordinal))
                    {
                        await SupersededAsync(claim, current.Value.Value is { } value ? OwnerOf(value) : "-");
                        return;
                    }

                    claim.Revision = current.Value.Revision;
                    return;
                }

                written = await _owners.TryCreateAsync(claim.AtmId, claim.Value, cancellationToken: token);
                if (!written.Success)
                {
                    await SupersededAsync(claim, "another proxy");
                    return;
                }
            }

            claim.Revision = written.Value;
            if (Interlocked.Exchange(ref _refreshFailing, 0) == 1)
            {
                ProxyLog.FleetRefreshRecovered(_log, ProxyId);
            }
        }
        catch (Exception ex) when (ex is NatsException or IOException or TimeoutException && !token.IsCancellationRequested)
        {
            if (Interlocked.Exchange(ref _refreshFailing, 1) == 0)
            {
                ProxyLog.FleetRefreshFailing(_log, ProxyId, _options.Redact(Describe(ex)), _options.OwnerTtl.TotalSeconds);
            }
        }
    }

    private async Task SupersededAsync(FleetClaim claim, string newOwner)
    {
        if (!_claims.TryRemove(new KeyValuePair<string, FleetClaim>(claim.AtmId, claim)))
        {
            return;
        }

        await DropAsync(claim);
        ProxyLog.FleetSuperseded(_log, claim.AtmId, newOwner);
        _lost(claim);
    }
}
