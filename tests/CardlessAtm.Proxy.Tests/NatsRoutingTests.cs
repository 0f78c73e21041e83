using System.Security.Cryptography;
using CardlessAtm.Iso8583;
using CardlessAtm.Network;
using CardlessAtm.Proxy.Routing;
using CardlessAtm.Security;
using CardlessAtm.Tests.Shared;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;

namespace CardlessAtm.Proxy.Tests;

/// <summary>
/// Proxy:Routing:Kind = Nats against a real nats-server with JetStream: two proxies with their real listeners on
/// loopback, one NATS. Each test has its own bucket and subject prefix, so tests running at once do not meet.
/// </summary>
public class NatsRoutingTests
{
    [NatsFact]
    public async Task A_phone_at_proxy_B_reaches_the_ATM_signed_on_at_proxy_A_and_the_answer_comes_back_unchanged()
    {
        await using var fleet = new Fleet();
        await using var a = await fleet.StartProxyAsync();
        await using var b = await fleet.StartProxyAsync();
        await using var atm = await FakeAtm.StartAsync("ATM00001", a.Proxy.AtmEndPoint);
        atm.Answer = (request, _) =>
        {
            var response = request.CreateResponse(ResponseCodes.Approved);
            response.AuthorizationCode = "NATS01";
            return Task.FromResult<IsoMessage?>(response);
        };
        Assert.Equal(a.Proxy.FleetProxyId, await b.Proxy.Fleet!.OwnerAsync("ATM00001", Deadline.Token));
        await using var phone = await FakePhone.StartAsync(b.Proxy.PhoneEndPoint);

        var request = FakePhone.Withdrawal("ATM00001", stan: 4242);
        var response = await phone.SendAsync(request);

        Assert.Equal(Mti.FinancialResponse, response.Mti);
        Assert.Equal(ResponseCodes.Approved, response.ResponseCode);
        Assert.Equal("NATS01", response.AuthorizationCode);
        Assert.Equal(4242, response.Stan);
        Assert.Equal(AtmLinkState.Unknown, b.Proxy.GetAtmState("ATM00001"));
        var forwarded = Assert.Single(atm.Received);
        Assert.Equal(request.FieldNumbers, forwarded.FieldNumbers);
        foreach (var field in request.FieldNumbers.Where(f => f != 11))
        {
            Assert.Equal(request.GetBytes(field), forwarded.GetBytes(field)); // the phone's MAC inside 127 still verifies
        }
    }

    [NatsFact]
    public async Task An_ATM_signed_on_to_no_proxy_of_the_fleet_is_declined_91_without_waiting_for_the_forward_timeout()
    {
        await using var fleet = new Fleet();
        await using var a = await fleet.StartProxyAsync();
        await using var b = await fleet.StartProxyAsync();
        await using var other = await FakeAtm.StartAsync("ATM00001", a.Proxy.AtmEndPoint);
        await using var phone = await FakePhone.StartAsync(b.Proxy.PhoneEndPoint);

        // The forward timeout is 90 s and the test's deadline 30 s: the 91 cannot come from a timeout.
        var response = await phone.SendAsync(FakePhone.Withdrawal("ATM00099", stan: 7));

        Assert.Equal(ResponseCodes.IssuerUnavailable, response.ResponseCode);
        Assert.Equal(7, response.Stan);
        Assert.Empty(other.Received);
        Assert.Contains(b.Logs.Lines, l => l.EventId == 32 && (l.Values["Reason"] as string ?? string.Empty).Contains("no proxy of the fleet", StringComparison.Ordinal));
    }

    [NatsFact]
    public async Task The_same_ATM_signing_on_at_proxy_B_takes_over_and_proxy_A_drops_its_link()
    {
        await using var fleet = new Fleet();
        await using var a = await fleet.StartProxyAsync();
        await using var b = await fleet.StartProxyAsync();
        var atAtA = await FakeAtm.StartAsync("ATM00001", a.Proxy.AtmEndPoint);
        await using var _ = atAtA;
        await a.Proxy.WaitForAtmStateAsync("ATM00001", AtmLinkState.Online, Deadline.Token);

        await using var atB = await FakeAtm.StartAsync("ATM00001", b.Proxy.AtmEndPoint);

        await a.Proxy.WaitForAtmStateAsync("ATM00001", AtmLinkState.Offline, Deadline.Token);
        Assert.Equal(b.Proxy.FleetProxyId, await a.Proxy.Fleet!.OwnerAsync("ATM00001", Deadline.Token));
        Assert.Contains(a.Logs.Lines, l => l.EventId == 43 && l.Values["NewOwner"] as string == b.Proxy.FleetProxyId);
        Assert.Empty(a.Proxy.Fleet.ClaimedAtms);

        await atAtA.DisposeAsync(); // its client would otherwise dial A again and take the id back
        await using var phone = await FakePhone.StartAsync(a.Proxy.PhoneEndPoint);
        var response = await phone.SendAsync(FakePhone.Withdrawal("ATM00001", stan: 11));

        Assert.Equal(ResponseCodes.Approved, response.ResponseCode);
        Assert.Single(atB.Received);
    }

    [NatsFact]
    public async Task A_crashed_proxys_claims_expire_and_its_ATM_reconnecting_at_another_proxy_is_routed_again()
    {
        await using var fleet = new Fleet(ownerTtl: TimeSpan.FromSeconds(2));
        var a = await fleet.StartProxyAsync();
        await using var b = await fleet.StartProxyAsync();
        var atm = await FakeAtm.StartAsync("ATM00001", a.Proxy.AtmEndPoint);
        var abandoned = await FakeAtm.StartAsync("ATM00002", a.Proxy.AtmEndPoint);
        var aId = a.Proxy.FleetProxyId;

        await a.Proxy.CrashForTestsAsync();
        await a.DisposeAsync();
        await atm.DisposeAsync();
        await abandoned.DisposeAsync();

        // Nothing released them: the dead proxy's entries are still there, but its subscriptions died with it.
        Assert.Equal(aId, await b.Proxy.Fleet!.OwnerAsync("ATM00002", Deadline.Token));
        await using var phone = await FakePhone.StartAsync(b.Proxy.PhoneEndPoint);
        Assert.Equal(ResponseCodes.IssuerUnavailable, (await phone.SendAsync(FakePhone.Withdrawal("ATM00001", stan: 1))).ResponseCode);

        // The ATM dials B: its authenticated sign-on supersedes the dead proxy's entry at once, without waiting for expiry.
        await using var reconnected = await FakeAtm.StartAsync("ATM00001", b.Proxy.AtmEndPoint);
        Assert.Equal(b.Proxy.FleetProxyId, await b.Proxy.Fleet.OwnerAsync("ATM00001", Deadline.Token));
        Assert.Equal(ResponseCodes.Approved, (await phone.SendAsync(FakePhone.Withdrawal("ATM00001", stan: 2))).ResponseCode);
        Assert.Single(reconnected.Received);

        // The ATM that never came back: its entry expires with the bucket's MaxAge (2 s), refreshed by nobody.
        var deadline = Deadline.Token;
        while (await b.Proxy.Fleet.OwnerAsync("ATM00002", deadline) is not null)
        {
            await Task.Delay(100, deadline);
        }

        // B's own entry outlives several TTLs: it refreshes it.
        Assert.Equal(b.Proxy.FleetProxyId, await b.Proxy.Fleet.OwnerAsync("ATM00001", Deadline.Token));
    }

    [NatsFact]
    public async Task A_request_through_the_fleet_that_the_ATM_does_not_answer_within_the_forward_timeout_is_answered_91()
    {
        await using var fleet = new Fleet(forwardTimeout: TimeSpan.FromSeconds(1));
        await using var a = await fleet.StartProxyAsync();
        await using var b = await fleet.StartProxyAsync();
        await using var atm = await FakeAtm.StartAsync("ATM00001", a.Proxy.AtmEndPoint);
        var never = new TaskCompletionSource<IsoMessage?>();
        atm.Answer = (_, _) => never.Task;
        await using var phone = await FakePhone.StartAsync(b.Proxy.PhoneEndPoint);

        var response = await phone.SendAsync(FakePhone.Withdrawal("ATM00001", stan: 5));

        Assert.Equal(ResponseCodes.IssuerUnavailable, response.ResponseCode);
        Assert.Single(atm.Received); // it was delivered: the outcome is unknown, and logged so at the proxy that answered
        await Eventually.TrueAsync(() => b.Logs.Lines.Concat(a.Logs.Lines).Any(l => l.EventId == 33));
        never.SetResult(null);
    }

    [NatsFact]
    public async Task A_NATS_message_is_held_to_the_phone_ports_rules_and_cannot_reach_an_ATM_other_than_its_subjects()
    {
        await using var fleet = new Fleet();
        await using var a = await fleet.StartProxyAsync();
        await using var atm1 = await FakeAtm.StartAsync("ATM00001", a.Proxy.AtmEndPoint);
        await using var atm2 = await FakeAtm.StartAsync("ATM00002", a.Proxy.AtmEndPoint);
        await using var nats = new NatsConnection(NatsOpts.Default with { Url = NatsTestServer.Url });

        async Task<IsoMessage> Inject(IsoMessage message)
        {
            // Signed with the fleet key: a peer holding it is still held to the phone port's rules.
            var subject = $"{fleet.SubjectPrefix}.atm.ATM00001";
            var packed = message.Pack();
            var reply = await nats.RequestAsync<byte[], byte[]>(subject, packed, fleet.Sign(subject, packed), cancellationToken: Deadline.Token);
            return IsoMessage.Unpack(reply.Data, NetworkSpec.Messages);
        }

        var otherAtm = await Inject(FakePhone.Withdrawal("ATM00002", stan: 1));
        var signOn = await Inject(FakeAtm.SignOnRequest("ATM00001", 2));

        Assert.Equal(ResponseCodes.FormatError, otherAtm.ResponseCode);
        Assert.Equal(ResponseCodes.InvalidTransaction, signOn.ResponseCode);
        Assert.Empty(atm1.Received);
        Assert.Empty(atm2.Received);
        Assert.Equal(2, a.Logs.Lines.Count(l => l.EventId == 46));
    }

    // Finding adv16, closed: a NATS client allowed to subscribe to an ATM's subject sees the reply inbox and answers first.
    // Before the fleet key the phone at proxy B was told 00 (EVIL01) while the ATM declined 51; now the forged answer
    // carries no fleet MAC bound to B's request and B waits for A's.
    [NatsFact]
    public async Task A_NATS_client_subscribed_to_an_ATMs_subject_cannot_answer_a_phones_request_in_the_ATMs_place()
    {
        await using var fleet = new Fleet();
        await using var a = await fleet.StartProxyAsync();
        await using var b = await fleet.StartProxyAsync();
        await using var atm = await FakeAtm.StartAsync("ATM00001", a.Proxy.AtmEndPoint);
        atm.Answer = async (request, _) =>
        {
            await Task.Delay(300, CancellationToken.None);
            return request.CreateResponse("51");
        };
        await using var nats = new NatsConnection(NatsOpts.Default with { Url = NatsTestServer.Url });
        var sub = await nats.SubscribeCoreAsync<byte[]>($"{fleet.SubjectPrefix}.atm.ATM00001");
        _ = Task.Run(async () =>
        {
            await foreach (var m in sub.Msgs.ReadAllAsync())
            {
                var req = IsoMessage.Unpack(m.Data!, NetworkSpec.Messages);
                var forged = req.CreateResponse(ResponseCodes.Approved);
                forged.AuthorizationCode = "EVIL01";
                await m.ReplyAsync(forged.Pack());
            }
        });
        await nats.PingAsync();
        await using var phone = await FakePhone.StartAsync(b.Proxy.PhoneEndPoint);
        var response = await phone.SendAsync(FakePhone.Withdrawal("ATM00001", stan: 4242));
        Assert.Equal("51", response.ResponseCode);
        Assert.Contains(b.Logs.Lines, l => l.EventId == 50);
    }

    // Before the fleet key, a reply recorded from the reply inbox of an earlier approved request and sent again, whole,
    // to a later request with the same STAN was relayed to the phone as 00 while the ATM declined 51. The reply's MAC is
    // bound to the nonce of the request it answered, so it is ignored now.
    [NatsFact]
    public async Task A_reply_recorded_from_an_earlier_request_and_sent_again_is_not_taken_as_the_answer_to_a_later_one()
    {
        await using var fleet = new Fleet();
        await using var a = await fleet.StartProxyAsync();
        await using var b = await fleet.StartProxyAsync();
        await using var atm = await FakeAtm.StartAsync("ATM00001", a.Proxy.AtmEndPoint);
        atm.Answer = (request, _) =>
        {
            var approved = request.CreateResponse(ResponseCodes.Approved);
            approved.AuthorizationCode = "OLD001";
            return Task.FromResult<IsoMessage?>(approved);
        };
        await using var nats = new NatsConnection(NatsOpts.Default with { Url = NatsTestServer.Url });
        var recorded = new TaskCompletionSource<(byte[] Data, NatsHeaders? Headers)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var inboxes = await nats.SubscribeCoreAsync<byte[]>("_INBOX.>");
        _ = Task.Run(async () =>
        {
            await foreach (var m in inboxes.Msgs.ReadAllAsync())
            {
                // The inboxes carry the JetStream API's answers too (the bucket's reads and writes): keep the 0210.
                if (m.Data is { } data && IsoMessage.TryUnpack(data, NetworkSpec.Messages, out var message, out _) && message.Mti == Mti.FinancialResponse)
                {
                    recorded.TrySetResult((data, m.Headers));
                }
            }
        });
        await nats.PingAsync();
        await using (var first = await FakePhone.StartAsync(b.Proxy.PhoneEndPoint))
        {
            Assert.Equal(ResponseCodes.Approved, (await first.SendAsync(FakePhone.Withdrawal("ATM00001", stan: 4242))).ResponseCode);
        }

        var (oldData, oldHeaders) = await recorded.Task.WaitAsync(Deadline.Token);
        atm.Answer = async (request, _) =>
        {
            await Task.Delay(300, CancellationToken.None);
            return request.CreateResponse("51");
        };
        var sub = await nats.SubscribeCoreAsync<byte[]>($"{fleet.SubjectPrefix}.atm.ATM00001");
        _ = Task.Run(async () =>
        {
            await foreach (var m in sub.Msgs.ReadAllAsync())
            {
                await m.ReplyAsync(oldData, headers: Copy(oldHeaders));
            }
        });
        await nats.PingAsync();

        await using var second = await FakePhone.StartAsync(b.Proxy.PhoneEndPoint);
        var response = await second.SendAsync(FakePhone.Withdrawal("ATM00001", stan: 4242));

        Assert.Equal("51", response.ResponseCode);
        Assert.Null(response.AuthorizationCode);
        Assert.Contains(b.Logs.Lines, l => l.EventId == 50);
    }

    // Before the fleet key, a NATS client that may publish on an ATM's subject sent it a well-formed 0200 and the ATM got
    // it (and answered). Now the owner drops a message without the fleet MAC before it looks at the bytes: no answer.
    [NatsFact]
    public async Task A_request_from_a_NATS_client_without_the_fleet_key_never_reaches_the_ATM_and_is_not_answered()
    {
        await using var fleet = new Fleet();
        await using var a = await fleet.StartProxyAsync();
        await using var atm = await FakeAtm.StartAsync("ATM00001", a.Proxy.AtmEndPoint);
        await using var nats = new NatsConnection(NatsOpts.Default with { Url = NatsTestServer.Url });
        var subject = $"{fleet.SubjectPrefix}.atm.ATM00001";
        var packed = FakePhone.Withdrawal("ATM00001", stan: 77).Pack();
        using var wrongKey = SecretKey.Generate(KeyAlgorithm.Aes256);
        using var wrongFleet = new FleetAuthenticator(wrongKey, TimeProvider.System);

        await Assert.ThrowsAsync<NatsNoReplyException>(() => RequestAsync(nats, subject, packed, headers: null));
        await Assert.ThrowsAsync<NatsNoReplyException>(() => RequestAsync(nats, subject, packed, wrongFleet.SignRequest(subject, packed, out _)));

        Assert.Empty(atm.Received);
        Assert.Equal(2, a.Logs.Lines.Count(l => l.EventId == 49));
    }

    // Before the fleet key, a proxy's request recorded on NATS and published again reached the ATM a second time. Its
    // nonce is remembered now (and a copy with a new nonce, or signed for another ATM's subject, fails the MAC).
    [NatsFact]
    public async Task A_proxys_request_recorded_on_NATS_and_sent_again_reaches_the_ATM_only_once()
    {
        await using var fleet = new Fleet();
        await using var a = await fleet.StartProxyAsync();
        await using var b = await fleet.StartProxyAsync();
        await using var atm = await FakeAtm.StartAsync("ATM00001", a.Proxy.AtmEndPoint);
        await using var atm2 = await FakeAtm.StartAsync("ATM00002", a.Proxy.AtmEndPoint);
        await using var nats = new NatsConnection(NatsOpts.Default with { Url = NatsTestServer.Url });
        var subject = $"{fleet.SubjectPrefix}.atm.ATM00001";
        var recorded = new TaskCompletionSource<(byte[] Data, NatsHeaders? Headers)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var sub = await nats.SubscribeCoreAsync<byte[]>(subject);
        _ = Task.Run(async () =>
        {
            await foreach (var m in sub.Msgs.ReadAllAsync())
            {
                recorded.TrySetResult((m.Data!, m.Headers));
            }
        });
        await nats.PingAsync();
        await using (var phone = await FakePhone.StartAsync(b.Proxy.PhoneEndPoint))
        {
            Assert.Equal(ResponseCodes.Approved, (await phone.SendAsync(FakePhone.Withdrawal("ATM00001", stan: 4242))).ResponseCode);
        }

        var (data, headers) = await recorded.Task.WaitAsync(Deadline.Token);
        await sub.UnsubscribeAsync();
        var fresh = Copy(headers)!;
        fresh[FleetAuthenticator.NonceHeader] = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));

        await Assert.ThrowsAsync<NatsNoReplyException>(() => RequestAsync(nats, subject, data, Copy(headers)));
        await Assert.ThrowsAsync<NatsNoReplyException>(() => RequestAsync(nats, subject, data, fresh));
        await Assert.ThrowsAsync<NatsNoReplyException>(() => RequestAsync(nats, $"{fleet.SubjectPrefix}.atm.ATM00002", data, Copy(headers)));

        Assert.Single(atm.Received);
        Assert.Empty(atm2.Received);
        Assert.Equal(3, a.Logs.Lines.Count(l => l.EventId == 49));
    }

    [Theory]
    [InlineData("unset")]
    [InlineData("missing")]
    [InlineData("group-readable")]
    [InlineData("aes128")]
    public async Task A_fleet_key_file_that_is_unset_missing_too_open_or_not_32_bytes_stops_start_up_naming_its_setting(string problem)
    {
        var directory = Directory.CreateTempSubdirectory("fleet-key-");
        try
        {
            using var key = SecretKey.Generate(problem == "aes128" ? KeyAlgorithm.Aes128 : KeyAlgorithm.Aes256);
            var store = new FileKeyStore(directory.FullName);
            store.SaveKey("fleet", key, overwrite: false);
            var path = problem == "missing" ? Path.Combine(directory.FullName, "other.key") : store.PathOf("fleet");
            if (problem == "group-readable" && !OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            }

            var options = ProxyFixture.LoopbackOptions(o =>
            {
                o.Routing.Kind = "Nats";
                o.Routing.Nats.Url = "nats://127.0.0.1:1"; // never reached: the key is read first
                o.Routing.Nats.FleetKeyPath = problem == "unset" ? null : path;
            });

            var error = await Assert.ThrowsAsync<ConfigurationException>(() => ProxyServer.StartAsync(options));

            Assert.Equal(NatsRoutingOptions.FleetKeyPathSetting, error.Setting);
            Assert.DoesNotContain('\n', error.Message);
            Assert.DoesNotContain(Convert.ToHexString(key.ExportBytes()), error.Message, StringComparison.OrdinalIgnoreCase);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [NatsFact]
    public async Task A_proxy_stopped_in_order_releases_its_ATMs_in_the_bucket()
    {
        await using var fleet = new Fleet();
        await using var b = await fleet.StartProxyAsync();
        var a = await fleet.StartProxyAsync();
        await using (var atm = await FakeAtm.StartAsync("ATM00001", a.Proxy.AtmEndPoint))
        {
            Assert.Equal(a.Proxy.FleetProxyId, await b.Proxy.Fleet!.OwnerAsync("ATM00001", Deadline.Token));
            await a.DisposeAsync();
        }

        Assert.Null(await b.Proxy.Fleet.OwnerAsync("ATM00001", Deadline.Token));
    }

    [Fact]
    public async Task An_unreachable_NATS_server_stops_start_up_with_one_line_naming_the_url_setting_and_no_secret()
    {
        await using var fleet = new Fleet();
        var options = ProxyFixture.LoopbackOptions(o =>
        {
            o.Routing.Kind = "Nats";
            o.Routing.Nats.Url = "nats://127.0.0.1:1";
            o.Routing.Nats.User = "proxy";
            o.Routing.Nats.Password = "pw-not-to-be-seen";
            o.Routing.Nats.ConnectTimeout = TimeSpan.FromSeconds(1);
            o.Routing.Nats.FleetKeyPath = fleet.FleetKeyPath;
        });
        var logs = new LogRecorder();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Trace));

        var error = await Assert.ThrowsAsync<ConfigurationException>(() => ProxyServer.StartAsync(options, loggerFactory));

        Assert.Equal("Proxy:Routing:Nats:Url", error.Setting);
        Assert.Contains("nats://127.0.0.1:1", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
        Assert.DoesNotContain("pw-not-to-be-seen", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(logs.Lines, l => l.Text.Contains("pw-not-to-be-seen", StringComparison.Ordinal));
        Assert.DoesNotContain(logs.Lines, l => l.Category.StartsWith("NATS.", StringComparison.Ordinal)); // the client's multi-line error is not printed before it
    }

    [Theory]
    [InlineData("Kubernetes", "Proxy:Routing:Kind")]
    [InlineData("", "Proxy:Routing:Kind")]
    public void A_bad_routing_kind_is_refused_naming_the_setting(string kind, string setting)
    {
        var options = ProxyFixture.LoopbackOptions(o => o.Routing.Kind = kind);

        var error = Assert.Throws<ConfigurationException>(() => new ProxyServer(options));

        Assert.Equal(setting, error.Setting);
    }

    [Theory]
    [InlineData(null, "Proxy:Routing:Nats:Url")]
    [InlineData("http://127.0.0.1:4222", "Proxy:Routing:Nats:Url")]
    [InlineData("nats://proxy:pw-in-url@127.0.0.1:4222", "Proxy:Routing:Nats:Url")]
    public void A_bad_NATS_url_is_refused_naming_the_setting_and_never_quoting_a_password(string? url, string setting)
    {
        var options = ProxyFixture.LoopbackOptions(o =>
        {
            o.Routing.Kind = "nats";
            o.Routing.Nats.Url = url;
        });

        var error = Assert.Throws<ConfigurationException>(() => new ProxyServer(options));

        Assert.Equal(setting, error.Setting);
        Assert.DoesNotContain("pw-in-url", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_password_without_a_user_is_refused_naming_the_user_setting()
    {
        var options = ProxyFixture.LoopbackOptions(o =>
        {
            o.Routing.Kind = "Nats";
            o.Routing.Nats.Url = "nats://127.0.0.1:4222";
            o.Routing.Nats.Password = "pw-alone";
        });

        var error = Assert.Throws<ConfigurationException>(() => new ProxyServer(options));

        Assert.Equal("Proxy:Routing:Nats:User", error.Setting);
        Assert.DoesNotContain("pw-alone", error.Message, StringComparison.Ordinal);
    }

    private static async Task RequestAsync(NatsConnection nats, string subject, byte[] data, NatsHeaders? headers) =>
        await nats.RequestAsync<byte[], byte[]>(subject, data, headers, replyOpts: new NatsSubOpts { Timeout = TimeSpan.FromSeconds(2) }, cancellationToken: Deadline.Token);

    private static NatsHeaders? Copy(NatsHeaders? headers)
    {
        if (headers is null)
        {
            return null;
        }

        var copy = new NatsHeaders();
        foreach (var (name, values) in headers)
        {
            copy[name] = values;
        }

        return copy;
    }

    /// <summary>
    /// Proxies of one fleet: one bucket and subject prefix of their own on the test server, real clock, and one fleet
    /// key (a 0600 file in a 0700 directory of the test's own) that every proxy of the fleet is given.
    /// </summary>
    private sealed class Fleet(TimeSpan? ownerTtl = null, TimeSpan? forwardTimeout = null) : IAsyncDisposable
    {
        private readonly string _name = "t" + Guid.NewGuid().ToString("N")[..12];
        private readonly DirectoryInfo _keyDirectory = Directory.CreateTempSubdirectory("fleet-key-");
        private string? _fleetKeyPath;

        /// <summary>The fleet key file every proxy of this fleet is given (made on first use).</summary>
        public string FleetKeyPath
        {
            get
            {
                if (_fleetKeyPath is null)
                {
                    using var key = SecretKey.Generate(KeyAlgorithm.Aes256);
                    var store = new FileKeyStore(_keyDirectory.FullName);
                    store.SaveKey("fleet", key, overwrite: false);
                    _fleetKeyPath = store.PathOf("fleet");
                }

                return _fleetKeyPath;
            }
        }

        /// <summary>The headers a proxy of this fleet puts on a request on <paramref name="subject"/>.</summary>
        public NatsHeaders Sign(string subject, byte[] payload)
        {
            using var key = FileKeyStore.LoadKeyFile(FleetKeyPath);
            using var auth = new FleetAuthenticator(key, TimeProvider.System);
            return auth.SignRequest(subject, payload, out _);
        }

        public string SubjectPrefix => "cardless-test." + _name;

        public async Task<FleetProxy> StartProxyAsync()
        {
            var logs = new LogRecorder();
            var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Trace));
            var options = ProxyFixture.LoopbackOptions(o =>
            {
                o.Routing.Kind = ProxyRoutingOptions.NatsKind;
                o.Routing.Nats.Url = NatsTestServer.Url;
                o.Routing.Nats.Bucket = "cardless-test-" + _name;
                o.Routing.Nats.SubjectPrefix = SubjectPrefix;
                o.Routing.Nats.ProxyId = "proxy-" + Guid.NewGuid().ToString("N")[..8];
                o.Routing.Nats.OwnerTtl = ownerTtl ?? TimeSpan.FromSeconds(30);
                o.Routing.Nats.FleetKeyPath = FleetKeyPath;
                if (forwardTimeout is { } timeout)
                {
                    o.ForwardTimeout = timeout;
                }
            });
            var proxy = await ProxyServer.StartAsync(options, loggerFactory, TimeProvider.System);
            return new FleetProxy(proxy, logs, loggerFactory);
        }

        public async ValueTask DisposeAsync()
        {
            _keyDirectory.Delete(recursive: true);

            // The bucket is the test's own: delete it so the server does not collect them.
            await using var nats = new NatsConnection(NatsOpts.Default with { Url = NatsTestServer.Url });
            var kv = new NATS.Client.KeyValueStore.NatsKVContext(new NATS.Client.JetStream.NatsJSContext(nats));
            try
            {
                await kv.DeleteStoreAsync("cardless-test-" + _name);
            }
            catch (NatsException)
            {
                // Never created (the test failed before a proxy started).
            }
        }
    }

    private sealed class FleetProxy(ProxyServer proxy, LogRecorder logs, ILoggerFactory loggerFactory) : IAsyncDisposable
    {
        public ProxyServer Proxy { get; } = proxy;

        public LogRecorder Logs { get; } = logs;

        public async ValueTask DisposeAsync()
        {
            await Proxy.DisposeAsync();
            loggerFactory.Dispose();
        }
    }
}
