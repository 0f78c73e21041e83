using System.Collections.Concurrent;
using System.Net;
using CardlessAtm.Iso8583.Channels;
using CardlessAtm.Network;
using Microsoft.Extensions.Time.Testing;

namespace CardlessAtm.Iso8583.Tests;

public sealed class ChannelTests : IAsyncLifetime
{
    private readonly List<IAsyncDisposable> _cleanup = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var item in Enumerable.Reverse(_cleanup))
        {
            try
            {
                await item.DisposeAsync().AsTask().WaitAsync(Timeouts.Generous);
            }
            catch (Exception)
            {
                // a test that broke its peer on purpose may leave it in any state
            }
        }
    }

    private static IsoMessage Request(int stan, long amount = 10_000) =>
        new(NetworkSpec.Messages, Mti.FinancialRequest) { ProcessingCode = "010000", AmountMinor = amount, Stan = stan, TerminalId = "ATM00001", CurrencyCode = 978 };

    private static ValueTask<IsoMessage?> Approve(IsoMessage request, Iso8583Connection connection, CancellationToken ct)
    {
        var response = request.CreateResponse(ResponseCodes.Approved);
        response.AuthorizationCode = "A1B2C3";
        return ValueTask.FromResult<IsoMessage?>(response);
    }

    private async Task<Iso8583Server> StartServerAsync(Action<Iso8583ServerOptions>? configure = null)
    {
        var options = new Iso8583ServerOptions { Spec = NetworkSpec.Messages, RequestHandler = Approve };
        configure?.Invoke(options);
        var server = new Iso8583Server(options);
        await server.StartAsync();
        _cleanup.Add(server);
        return server;
    }

    private async Task<Iso8583Client> StartClientAsync(IPEndPoint server, Action<Iso8583ClientOptions>? configure = null, bool waitConnected = true)
    {
        var options = new Iso8583ClientOptions { Spec = NetworkSpec.Messages, Host = "127.0.0.1", Port = server.Port, ReconnectInitialDelay = TimeSpan.FromMilliseconds(20), ReconnectMaxDelay = TimeSpan.FromMilliseconds(200) };
        configure?.Invoke(options);
        var client = new Iso8583Client(options);
        _cleanup.Add(client);
        await client.StartAsync();
        if (waitConnected)
        {
            await client.WaitUntilConnectedAsync(Timeouts.Token());
        }

        return client;
    }

    [Fact]
    public async Task A_request_gets_its_matched_response()
    {
        var server = await StartServerAsync();
        var client = await StartClientAsync(server.LocalEndPoint);

        var response = await client.SendRequestAsync(Request(42));

        Assert.Equal("0210", response.Mti);
        Assert.Equal(42, response.Stan);
        Assert.Equal("00", response.ResponseCode);
        Assert.Equal("A1B2C3", response.AuthorizationCode);
    }

    [Fact]
    public async Task Pipelined_requests_answered_out_of_order_each_get_their_own_response()
    {
        var server = await StartServerAsync(o => o.RequestHandler = async (request, _, _) =>
        {
            for (var i = 0; i < request.Stan % 7; i++)
            {
                await Task.Yield(); // finish in a different order than received
            }

            var response = request.CreateResponse(ResponseCodes.Approved);
            return response;
        });
        var client = await StartClientAsync(server.LocalEndPoint);

        var requests = Enumerable.Range(1, 500).Select(i => Request(i, amount: i * 100)).ToArray();
        var responses = await Task.WhenAll(requests.Select(r => client.SendRequestAsync(r)));

        for (var i = 0; i < requests.Length; i++)
        {
            Assert.Equal(requests[i].Stan, responses[i].Stan);
            Assert.Equal(requests[i].AmountMinor, responses[i].AmountMinor);
        }
    }

    [Fact]
    public async Task A_peer_that_never_answers_times_the_request_out_on_the_configured_clock()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var received = new TaskCompletionSource();
        var server = await StartServerAsync(o => o.RequestHandler = async (_, _, ct) =>
        {
            received.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
            return null;
        });
        var client = await StartClientAsync(server.LocalEndPoint, o => { o.TimeProvider = time; o.RequestTimeout = TimeSpan.FromSeconds(30); });

        var pending = client.SendRequestAsync(Request(7));
        await received.Task.WaitAsync(Timeouts.Generous);
        await AdvanceUntilDoneAsync(time, pending, TimeSpan.FromSeconds(31));

        var error = await Assert.ThrowsAsync<Iso8583ChannelException>(() => pending);
        Assert.Equal(ChannelErrorReason.Timeout, error.Reason);
        Assert.Equal(0, client.Connection!.PendingRequestCount);
        Assert.True(client.IsConnected);
    }

    [Fact]
    public async Task A_late_response_is_handed_to_the_unmatched_response_handler()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var gate = new TaskCompletionSource();
        var received = new TaskCompletionSource();
        var late = new TaskCompletionSource<IsoMessage>();
        var server = await StartServerAsync(o => o.RequestHandler = async (request, _, _) =>
        {
            received.TrySetResult();
            await gate.Task;
            return request.CreateResponse(ResponseCodes.Approved);
        });
        var client = await StartClientAsync(server.LocalEndPoint, o => { o.TimeProvider = time; o.UnmatchedResponseHandler = (m, _) => late.TrySetResult(m); });

        var pending = client.SendRequestAsync(Request(9));
        await received.Task.WaitAsync(Timeouts.Generous);
        await AdvanceUntilDoneAsync(time, pending, TimeSpan.FromSeconds(31));
        await Assert.ThrowsAsync<Iso8583ChannelException>(() => pending);

        gate.SetResult();
        var response = await late.Task.WaitAsync(Timeouts.Generous);
        Assert.Equal(9, response.Stan);
    }

    [Fact]
    public async Task A_malformed_request_that_can_be_identified_is_answered_with_format_error_30()
    {
        var server = await StartServerAsync();
        await using var peer = await RawPeer.ConnectAsync(server.LocalEndPoint);
        // 0200 with 11, 41, 49 — 49 holds a letter, found after 11 and 41 are read
        var packed = Convert.FromHexString("30323030" + "0020000000808000" + "303030313233" + "41544D3030303031" + "39583738");

        await peer.SendFrameAsync(packed);
        var answer = NetworkSpec.Unpack((await peer.ReadFrameAsync())!);

        Assert.Equal("0210", answer.Mti);
        Assert.Equal(ResponseCodes.FormatError, answer.ResponseCode);
        Assert.Equal(123, answer.Stan);
        Assert.Equal("ATM00001", answer.TerminalId);

        // The connection stays usable.
        await peer.SendFrameAsync(Request(124).Pack());
        Assert.Equal("00", NetworkSpec.Unpack((await peer.ReadFrameAsync())!).ResponseCode);
    }

    [Fact]
    public async Task An_unidentifiable_frame_closes_that_connection_only()
    {
        var server = await StartServerAsync();
        var client = await StartClientAsync(server.LocalEndPoint);
        await using var peer = await RawPeer.ConnectAsync(server.LocalEndPoint);

        await peer.SendFrameAsync("ZZZZ garbage"u8.ToArray());

        Assert.True(await peer.ServerClosedAsync());
        Assert.Equal("00", (await client.SendRequestAsync(Request(1))).ResponseCode);
    }

    [Fact]
    public async Task A_frame_header_over_the_maximum_closes_the_connection_before_reading_the_body()
    {
        var server = await StartServerAsync(o => o.Framing = new FrameFormat(maxFrameBytes: 1024));
        await using var peer = await RawPeer.ConnectAsync(server.LocalEndPoint);

        await peer.SendAsync([0xFF, 0xFF]); // announces 65535 bytes and sends none

        Assert.True(await peer.ServerClosedAsync());
    }

    [Fact]
    public async Task A_burst_of_garbage_connections_leaves_the_server_answering()
    {
        var server = await StartServerAsync();
        var random = new Random(30);
        var kinds = 5;
        var tasks = Enumerable.Range(0, 200).Select(async i =>
        {
            await using var peer = await RawPeer.ConnectAsync(server.LocalEndPoint);
            var noise = new byte[random.Next(1, 400)];
            lock (random)
            {
                random.NextBytes(noise);
            }

            switch (i % kinds)
            {
                case 0: await peer.SendAsync(noise); break; // raw noise, any header
                case 1: await peer.SendFrameAsync(noise); break; // well framed noise
                case 2: await peer.SendAsync([0x00, 0x64, 0x30, 0x32]); break; // disconnects mid-frame
                case 3: await peer.SendAsync([0x00, 0x00, 0x00, 0x00]); break; // keep-alives only
                default: break; // connects and leaves
            }

            peer.Close();
        });
        await Task.WhenAll(tasks);

        var client = await StartClientAsync(server.LocalEndPoint);
        Assert.Equal("00", (await client.SendRequestAsync(Request(77))).ResponseCode);
        await Timeouts.UntilAsync(() => server.Connections.Count == 1, "garbage connections closed");
    }

    [Fact]
    public async Task A_peer_that_disconnects_mid_frame_is_closed_and_reported()
    {
        var closed = new TaskCompletionSource<Iso8583Connection>();
        var server = await StartServerAsync();
        server.ConnectionClosed += c => closed.TrySetResult(c);
        var peer = await RawPeer.ConnectAsync(server.LocalEndPoint);

        var frame = FrameFormat.Default.Frame(Request(5).Pack());
        await peer.SendAsync(frame[..(frame.Length / 2)]);
        peer.Close();

        var connection = await closed.Task.WaitAsync(Timeouts.Generous);
        Assert.Equal(ConnectionState.Closed, connection.State);
        Assert.Empty(server.Connections);
    }

    [Fact]
    public async Task Waiting_requests_fail_as_closed_when_the_peer_drops_the_connection()
    {
        var server = await StartServerAsync(o => o.RequestHandler = async (_, connection, _) =>
        {
            await connection.DisposeAsync();
            return null;
        });
        var client = await StartClientAsync(server.LocalEndPoint);

        var error = await Assert.ThrowsAsync<Iso8583ChannelException>(() => client.SendRequestAsync(Request(3)).WaitAsync(Timeouts.Generous));
        Assert.Equal(ChannelErrorReason.ConnectionClosed, error.Reason);
    }

    [Fact]
    public async Task The_client_reconnects_and_signs_on_again_after_the_connection_drops()
    {
        var signOns = 0;
        var server = await StartServerAsync(o => o.RequestHandler = (request, _, _) =>
        {
            if (request.NetworkManagementCode == NetworkManagementCodes.SignOn)
            {
                Interlocked.Increment(ref signOns);
            }

            return ValueTask.FromResult<IsoMessage?>(request.CreateResponse(ResponseCodes.Approved));
        });
        var stan = new StanGenerator();
        var client = await StartClientAsync(server.LocalEndPoint, o => o.SignOn = async (connection, ct) =>
        {
            var signOn = new IsoMessage(NetworkSpec.Messages, Mti.NetworkManagementRequest) { Stan = stan.Next(), TerminalId = "ATM00001", NetworkManagementCode = NetworkManagementCodes.SignOn };
            var answer = await connection.SendRequestAsync(signOn, ct);
            if (answer.ResponseCode != ResponseCodes.Approved)
            {
                throw new InvalidOperationException("sign-on refused");
            }
        });
        var first = client.Connection!;
        Assert.Equal(1, signOns);

        foreach (var connection in server.Connections)
        {
            await connection.DisposeAsync();
        }

        await Timeouts.UntilAsync(() => client.Connection is { IsOpen: true } c && !ReferenceEquals(c, first), "reconnected");
        Assert.Equal(2, signOns);
        Assert.Equal("00", (await client.SendRequestAsync(Request(11))).ResponseCode);
    }

    [Fact]
    public async Task Stopping_the_client_signs_off_before_closing()
    {
        var codes = new ConcurrentQueue<string>();
        var server = await StartServerAsync(o => o.RequestHandler = (request, _, _) =>
        {
            codes.Enqueue(request.NetworkManagementCode ?? request.Mti);
            return ValueTask.FromResult<IsoMessage?>(request.CreateResponse(ResponseCodes.Approved));
        });
        var client = await StartClientAsync(server.LocalEndPoint, o => o.SignOff = (connection, ct) =>
            connection.SendRequestAsync(new IsoMessage(NetworkSpec.Messages, Mti.NetworkManagementRequest) { Stan = 99, NetworkManagementCode = NetworkManagementCodes.SignOff }, ct));
        var connection = client.Connection!;

        await client.StopAsync();

        Assert.Equal([NetworkManagementCodes.SignOff], codes);
        Assert.Equal(ConnectionState.Closed, connection.State);
        Assert.False(client.IsConnected);
    }

    [Fact]
    public async Task The_client_keeps_retrying_until_the_server_appears()
    {
        var probe = new Iso8583Server(new Iso8583ServerOptions { Spec = NetworkSpec.Messages });
        await probe.StartAsync();
        var endPoint = probe.LocalEndPoint;
        await probe.StopAsync();

        var client = await StartClientAsync(endPoint, o => o.StableConnectionPeriod = TimeSpan.FromMilliseconds(50), waitConnected: false);
        await Timeouts.UntilAsync(() => client.ConsecutiveFailures >= 2, "failed attempts while nothing listens");
        Assert.Equal(ChannelErrorReason.NotConnected, (await Assert.ThrowsAsync<Iso8583ChannelException>(() => client.SendRequestAsync(Request(1)))).Reason);

        await StartServerAsync(o => o.Port = endPoint.Port);
        await client.WaitUntilConnectedAsync(Timeouts.Token());
        Assert.Equal("00", (await client.SendRequestAsync(Request(2))).ResponseCode);
        await Timeouts.UntilAsync(() => client.ConsecutiveFailures == 0, "the failure count is reset once the connection stayed up for the stable period");
    }

    [Fact]
    public void Backoff_doubles_to_the_cap_and_jitter_spreads_the_upper_half()
    {
        var initial = TimeSpan.FromMilliseconds(500);
        var max = TimeSpan.FromSeconds(30);

        Assert.Equal(TimeSpan.FromMilliseconds(250), Iso8583Client.BackoffDelay(0, initial, max, 0));
        Assert.Equal(TimeSpan.FromMilliseconds(500), Iso8583Client.BackoffDelay(0, initial, max, 1));
        Assert.Equal(TimeSpan.FromMilliseconds(2000), Iso8583Client.BackoffDelay(3, initial, max, 0));
        Assert.Equal(TimeSpan.FromSeconds(15), Iso8583Client.BackoffDelay(20, initial, max, 0));
        Assert.Equal(TimeSpan.FromSeconds(30), Iso8583Client.BackoffDelay(1000, initial, max, 1));
    }

    [Fact]
    public async Task A_quiet_connection_sends_an_echo_test_on_the_configured_clock()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var echo = new TaskCompletionSource<IsoMessage>();
        var server = await StartServerAsync(o =>
        {
            o.AnswerEchoTests = false;
            o.RequestHandler = (request, _, _) =>
            {
                echo.TrySetResult(request);
                return ValueTask.FromResult<IsoMessage?>(request.CreateResponse(ResponseCodes.Approved));
            };
        });
        var client = await StartClientAsync(server.LocalEndPoint, o =>
        {
            o.TimeProvider = time;
            o.IdleEchoInterval = TimeSpan.FromSeconds(60);
            o.TerminalId = "ATM00009";
            o.RequestTimeout = TimeSpan.FromDays(1); // fake time keeps moving until the echo is seen; it must not time out meanwhile
        });

        await AdvanceUntilDoneAsync(time, echo.Task, TimeSpan.FromSeconds(61));

        var request = await echo.Task;
        Assert.Equal("0800", request.Mti);
        Assert.Equal(NetworkManagementCodes.EchoTest, request.NetworkManagementCode);
        Assert.Equal("ATM00009", request.TerminalId);
        Assert.NotNull(request.Stan);
        Assert.True(client.IsConnected);
    }

    [Fact]
    public async Task An_unanswered_echo_closes_the_connection_so_the_client_reconnects()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var server = await StartServerAsync(o =>
        {
            o.AnswerEchoTests = false;
            o.RequestHandler = async (_, _, ct) =>
            {
                await Task.Delay(Timeout.Infinite, ct);
                return null;
            };
        });
        var client = await StartClientAsync(server.LocalEndPoint, o => { o.TimeProvider = time; o.IdleEchoInterval = TimeSpan.FromSeconds(60); o.RequestTimeout = TimeSpan.FromSeconds(10); });
        var first = client.Connection!;

        await AdvanceUntilDoneAsync(time, first.Completion, TimeSpan.FromSeconds(35));

        Assert.Equal(ConnectionState.Closed, first.State);
    }

    [Fact]
    public async Task Echo_tests_are_answered_by_the_connection_itself()
    {
        var server = await StartServerAsync(o => o.RequestHandler = (_, _, _) => throw new InvalidOperationException("the handler must not see echo tests"));
        var client = await StartClientAsync(server.LocalEndPoint);

        var response = await client.SendRequestAsync(new IsoMessage(NetworkSpec.Messages, Mti.NetworkManagementRequest) { Stan = 1, NetworkManagementCode = NetworkManagementCodes.EchoTest });

        Assert.Equal(("0810", "00", "301"), (response.Mti, response.ResponseCode, response.NetworkManagementCode));
    }

    [Fact]
    public async Task A_failing_handler_is_answered_with_system_malfunction_96()
    {
        var server = await StartServerAsync(o => o.RequestHandler = (_, _, _) => throw new InvalidOperationException("boom"));
        var client = await StartClientAsync(server.LocalEndPoint);

        Assert.Equal(ResponseCodes.SystemMalfunction, (await client.SendRequestAsync(Request(4))).ResponseCode);
    }

    [Fact]
    public async Task Graceful_stop_lets_in_flight_requests_finish_and_answers_new_ones_91()
    {
        var gate = new TaskCompletionSource();
        var received = new TaskCompletionSource();
        var server = await StartServerAsync(o => o.RequestHandler = async (request, _, _) =>
        {
            received.TrySetResult();
            await gate.Task;
            return request.CreateResponse(ResponseCodes.Approved);
        });
        var client = await StartClientAsync(server.LocalEndPoint);

        var inFlight = client.SendRequestAsync(Request(1));
        await received.Task.WaitAsync(Timeouts.Generous);
        var stopping = server.StopAsync();
        await Timeouts.UntilAsync(() => server.Connections.All(c => c.State == ConnectionState.Draining), "draining");

        var refused = await client.SendRequestAsync(Request(2));
        Assert.Equal(ResponseCodes.IssuerUnavailable, refused.ResponseCode);
        Assert.False(stopping.IsCompleted);

        gate.SetResult();
        Assert.Equal("00", (await inFlight.WaitAsync(Timeouts.Generous)).ResponseCode);
        await stopping.WaitAsync(Timeouts.Generous);
        Assert.Empty(server.Connections);
    }

    [Fact]
    public async Task Unanswered_requests_beyond_the_limit_wait_for_a_slot()
    {
        var gate = new TaskCompletionSource();
        var server = await StartServerAsync(o => o.RequestHandler = async (request, _, _) =>
        {
            await gate.Task;
            return request.CreateResponse(ResponseCodes.Approved);
        });
        var client = await StartClientAsync(server.LocalEndPoint, o => o.MaxUnansweredRequests = 2);

        var requests = new[] { client.SendRequestAsync(Request(1)), client.SendRequestAsync(Request(2)), client.SendRequestAsync(Request(3)) };

        Assert.Equal(2, client.Connection!.PendingRequestCount);
        Assert.False(requests[2].IsCompleted);
        gate.SetResult();
        Assert.Equal([1, 2, 3], (await Task.WhenAll(requests).WaitAsync(Timeouts.Generous)).Select(r => r.Stan!.Value));
    }

    [Fact]
    public async Task Incoming_requests_beyond_the_limit_are_not_handled_concurrently()
    {
        var gate = new TaskCompletionSource();
        var running = 0;
        var most = 0;
        var server = await StartServerAsync(o =>
        {
            o.MaxConcurrentIncomingRequests = 1;
            o.RequestHandler = async (request, _, _) =>
            {
                var now = Interlocked.Increment(ref running);
                InterlockedMax(ref most, now);
                await gate.Task;
                Interlocked.Decrement(ref running);
                return request.CreateResponse(ResponseCodes.Approved);
            };
        });
        var client = await StartClientAsync(server.LocalEndPoint);

        var requests = Enumerable.Range(1, 5).Select(i => client.SendRequestAsync(Request(i))).ToArray();
        await Timeouts.UntilAsync(() => Volatile.Read(ref running) == 1, "first request handled");
        gate.SetResult();
        await Task.WhenAll(requests).WaitAsync(Timeouts.Generous);

        Assert.Equal(1, most);
    }

    [Fact]
    public async Task A_second_request_with_the_same_match_key_is_refused()
    {
        var gate = new TaskCompletionSource();
        var server = await StartServerAsync(o => o.RequestHandler = async (request, _, _) =>
        {
            await gate.Task;
            return request.CreateResponse(ResponseCodes.Approved);
        });
        var client = await StartClientAsync(server.LocalEndPoint);

        var first = client.SendRequestAsync(Request(8));
        var error = await Assert.ThrowsAsync<Iso8583ChannelException>(() => client.SendRequestAsync(Request(8)));

        Assert.Equal(ChannelErrorReason.DuplicateMatchKey, error.Reason);
        gate.SetResult();
        await first.WaitAsync(Timeouts.Generous);
    }

    [Fact]
    public async Task The_server_can_send_requests_to_a_connected_client()
    {
        // The proxy's case: the ATM dials in, the proxy forwards a phone's 0200 down that connection.
        var server = await StartServerAsync();
        var client = await StartClientAsync(server.LocalEndPoint, o => o.RequestHandler = Approve);
        await Timeouts.UntilAsync(() => server.Connections.Count == 1, "connection registered");

        var response = await server.Connections.Single().SendRequestAsync(Request(55));

        Assert.Equal(("0210", 55), (response.Mti, response.Stan!.Value));
        Assert.True(client.IsConnected);
    }

    [Fact]
    public async Task Tpdu_framing_carries_the_tpdu_and_the_reply_swaps_it()
    {
        var framing = new FrameFormat(FrameHeader.TwoByteBinaryLengthWithTpdu);
        var server = await StartServerAsync(o => o.Framing = framing);
        await using var peer = await RawPeer.ConnectAsync(server.LocalEndPoint);

        await peer.SendAsync(framing.Frame(Request(6).Pack(), new Tpdu(0x60, 0x0010, 0x0020)));
        var body = (await peer.ReadFrameAsync())!;

        Assert.Equal(Convert.FromHexString("6000200010"), body[..5]);
        Assert.Equal("0210", NetworkSpec.Unpack(body.AsSpan(5)).Mti);
    }

    [Fact]
    public async Task A_silent_peer_is_closed_after_the_receive_idle_timeout()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var server = await StartServerAsync(o => { o.TimeProvider = time; o.ReceiveIdleTimeout = TimeSpan.FromMinutes(5); });
        await using var peer = await RawPeer.ConnectAsync(server.LocalEndPoint);
        await Timeouts.UntilAsync(() => server.Connections.Count == 1, "connection accepted");
        var connection = server.Connections.Single();

        await AdvanceUntilDoneAsync(time, connection.Completion, TimeSpan.FromMinutes(1));

        Assert.True(await peer.ServerClosedAsync());
    }

    [Fact]
    public async Task An_anonymous_connection_is_closed_at_the_authentication_timeout_however_much_it_sends()
    {
        // Adversary review of issue 12, finding 3: traffic used to keep an anonymous (not signed-on) socket alive forever.
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var server = await StartServerAsync(o =>
        {
            o.TimeProvider = time;
            o.ReceiveIdleTimeout = TimeSpan.FromMinutes(5);
            o.AuthenticationTimeout = TimeSpan.FromSeconds(30);
            o.RequestHandler = (request, connection, ct) =>
            {
                if (request.Stan == 99)
                {
                    connection.MarkAuthenticated(); // the "sign-on"
                }

                return Approve(request, connection, ct);
            };
        });
        await using var anonymous = await RawPeer.ConnectAsync(server.LocalEndPoint);
        await using var authenticated = await RawPeer.ConnectAsync(server.LocalEndPoint);
        await authenticated.SendFrameAsync(Request(99).Pack());
        Assert.NotNull(await authenticated.ReadFrameAsync());
        for (var i = 1; i <= 3; i++)
        {
            await anonymous.SendFrameAsync(Request(i).Pack());
            Assert.NotNull(await anonymous.ReadFrameAsync()); // answered: it is busy, not idle
            time.Advance(TimeSpan.FromSeconds(9));
        }

        var anonymousConnection = server.Connections.Single(c => !c.IsAuthenticated);
        await AdvanceUntilDoneAsync(time, anonymousConnection.Completion, TimeSpan.FromSeconds(1));

        Assert.Equal(ConnectionLimit.AuthenticationTimeout, anonymousConnection.ClosedBy);
        Assert.True(await anonymous.ServerClosedAsync());
        await authenticated.SendFrameAsync(Request(100).Pack());
        Assert.NotNull(await authenticated.ReadFrameAsync()); // the authenticated one is not held to the deadline
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_busy_anonymous_connection_is_evicted_for_a_newcomer_only_where_the_listener_says_so(bool evictBusy)
    {
        // Adversary review of issue 12, finding 3: at the host (evictBusy) a request being handled no longer protects an
        // anonymous socket's slot; a phone listener (default) keeps a busy phone's slot.
        var release = new TaskCompletionSource();
        var entered = 0;
        var limited = new ConcurrentQueue<(ConnectionLimit, ConnectionLimitAction)>();
        var server = await StartServerAsync(o =>
        {
            o.MaxConnections = 2;
            o.EvictBusyUnauthenticated = evictBusy;
            o.RequestHandler = async (request, connection, ct) =>
            {
                if (request.Stan < 10)
                {
                    Interlocked.Increment(ref entered);
                    await release.Task.WaitAsync(ct); // busy until the test ends
                }

                return await Approve(request, connection, ct);
            };
        });
        server.LimitEnforced += (limit, action) => limited.Enqueue((limit, action));
        await using var first = await RawPeer.ConnectAsync(server.LocalEndPoint);
        await first.SendFrameAsync(Request(1).Pack());
        await Timeouts.UntilAsync(() => Volatile.Read(ref entered) == 1, "first request being handled");
        await using var second = await RawPeer.ConnectAsync(server.LocalEndPoint);
        await second.SendFrameAsync(Request(2).Pack());
        await Timeouts.UntilAsync(() => Volatile.Read(ref entered) == 2, "second request being handled");

        await using var newcomer = await RawPeer.ConnectAsync(server.LocalEndPoint);
        await newcomer.SendFrameAsync(Request(50).Pack());

        if (evictBusy)
        {
            Assert.NotNull(await newcomer.ReadFrameAsync()); // served
            Assert.True(await first.ServerClosedAsync()); // the oldest anonymous one made room, busy as it was
            Assert.Contains((ConnectionLimit.TotalConnections, ConnectionLimitAction.Evicted), limited);
            Assert.Equal(2, server.SlotCount);
        }
        else
        {
            Assert.True(await newcomer.ServerClosedAsync());
            Assert.Contains((ConnectionLimit.TotalConnections, ConnectionLimitAction.Refused), limited);
        }

        release.TrySetResult();
    }

    [Fact]
    public async Task An_authentication_attempt_is_shielded_from_the_moment_it_is_read_until_its_handler_returns()
    {
        // Adversary read of issue 12: shielded only once its handler ran, a sign-on queued behind the read loop could
        // still be evicted by newcomers; the channel now takes the shield as it reads the frame.
        var grantedInHandler = new TaskCompletionSource<bool>();
        var afterwards = new TaskCompletionSource<bool>();
        var server = await StartServerAsync(o =>
        {
            o.IsAuthenticationAttempt = m => m.Stan == 1;
            o.RequestHandler = async (request, connection, ct) =>
            {
                if (request.Stan == 1)
                {
                    grantedInHandler.TrySetResult(connection.TryBeginAuthenticating()); // false: the channel holds it already
                }
                else
                {
                    afterwards.TrySetResult(connection.TryBeginAuthenticating()); // false: once per connection
                }

                return await Approve(request, connection, ct);
            };
        });
        await using var peer = await RawPeer.ConnectAsync(server.LocalEndPoint);

        await peer.SendFrameAsync(Request(1).Pack());
        Assert.False(await grantedInHandler.Task.WaitAsync(TimeSpan.FromSeconds(30)));
        await peer.SendFrameAsync(Request(2).Pack());
        Assert.False(await afterwards.Task.WaitAsync(TimeSpan.FromSeconds(30)));
        await Timeouts.UntilAsync(() => server.Connections.All(c => !c.IsAuthenticating), "the shield ends when the attempt's handler returns");
        await server.DisposeAsync();
    }

    [Fact]
    public async Task A_connection_whose_proof_of_identity_is_being_checked_is_not_evicted_and_the_shield_is_granted_once()
    {
        // Issue 12, finding H1: the host evicts busy anonymous connections, so an ATM whose sign-on was being checked
        // could be pushed out by a flood. A connection shields itself for one check; the next-oldest is evicted instead.
        var release = new TaskCompletionSource();
        var entered = 0;
        var secondGrant = new TaskCompletionSource<bool>();
        var server = await StartServerAsync(o =>
        {
            o.MaxConnections = 2;
            o.EvictBusyUnauthenticated = true;
            o.RequestHandler = async (request, connection, ct) =>
            {
                if (request.Stan == 1)
                {
                    Assert.True(connection.TryBeginAuthenticating());
                    try
                    {
                        secondGrant.TrySetResult(connection.TryBeginAuthenticating());
                        Interlocked.Increment(ref entered);
                        await release.Task.WaitAsync(ct); // the "sign-on check" in progress
                    }
                    finally
                    {
                        connection.EndAuthenticating();
                    }
                }
                else if (request.Stan == 2)
                {
                    Interlocked.Increment(ref entered);
                    await release.Task.WaitAsync(ct); // busy, not shielded
                }

                return await Approve(request, connection, ct);
            };
        });
        await using var checking = await RawPeer.ConnectAsync(server.LocalEndPoint);
        await checking.SendFrameAsync(Request(1).Pack());
        await Timeouts.UntilAsync(() => Volatile.Read(ref entered) == 1, "sign-on check under way");
        await using var busy = await RawPeer.ConnectAsync(server.LocalEndPoint);
        await busy.SendFrameAsync(Request(2).Pack());
        await Timeouts.UntilAsync(() => Volatile.Read(ref entered) == 2, "second request being handled");

        await using var newcomer = await RawPeer.ConnectAsync(server.LocalEndPoint);
        await newcomer.SendFrameAsync(Request(50).Pack());

        Assert.NotNull(await newcomer.ReadFrameAsync()); // served
        Assert.True(await busy.ServerClosedAsync()); // the busy, unshielded one made room, though younger
        Assert.False(await secondGrant.Task); // one shield per connection
        release.TrySetResult();
        Assert.NotNull(await checking.ReadFrameAsync()); // the shielded one kept its slot and got its answer
    }

    [Fact]
    public async Task A_connection_marked_unauthenticated_again_is_held_to_a_fresh_authentication_deadline()
    {
        // Issue 12, finding M2 (b): a signed-off ATM connection kept its authenticated slot, with no deadline.
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var server = await StartServerAsync(o =>
        {
            o.TimeProvider = time;
            o.ReceiveIdleTimeout = TimeSpan.FromHours(1);
            o.AuthenticationTimeout = TimeSpan.FromSeconds(30);
            o.RequestHandler = (request, connection, ct) =>
            {
                if (request.Stan == 99)
                {
                    connection.MarkAuthenticated(); // the "sign-on"
                }
                else if (request.Stan == 98)
                {
                    connection.MarkUnauthenticated(); // the "sign-off"
                }

                return Approve(request, connection, ct);
            };
        });
        await using var peer = await RawPeer.ConnectAsync(server.LocalEndPoint);
        await peer.SendFrameAsync(Request(99).Pack());
        Assert.NotNull(await peer.ReadFrameAsync());
        var connection = server.Connections.Single();
        time.Advance(TimeSpan.FromMinutes(2)); // authenticated: no deadline
        await peer.SendFrameAsync(Request(1).Pack());
        Assert.NotNull(await peer.ReadFrameAsync());

        await peer.SendFrameAsync(Request(98).Pack());
        Assert.NotNull(await peer.ReadFrameAsync());
        var signedOffAt = time.GetUtcNow();
        Assert.False(connection.IsAuthenticated);
        await AdvanceUntilDoneAsync(time, connection.Completion, TimeSpan.FromSeconds(1));

        Assert.Equal(ConnectionLimit.AuthenticationTimeout, connection.ClosedBy);
        Assert.True(time.GetUtcNow() - signedOffAt >= TimeSpan.FromSeconds(30)); // the deadline runs from the sign-off
        Assert.True(await peer.ServerClosedAsync());
    }

    [Fact]
    public async Task A_connection_marked_unauthenticated_again_is_evictable_and_counts_before_authentication()
    {
        var server = await StartServerAsync(o =>
        {
            o.MaxConnections = 4;
            o.MaxUnauthenticatedConnections = 1;
            o.RequestHandler = (request, connection, ct) =>
            {
                if (request.Stan == 99)
                {
                    connection.MarkAuthenticated();
                }
                else if (request.Stan == 98)
                {
                    connection.MarkUnauthenticated();
                }

                return Approve(request, connection, ct);
            };
        });
        await using var signedOff = await RawPeer.ConnectAsync(server.LocalEndPoint);
        await signedOff.SendFrameAsync(Request(99).Pack());
        Assert.NotNull(await signedOff.ReadFrameAsync());
        await signedOff.SendFrameAsync(Request(98).Pack());
        Assert.NotNull(await signedOff.ReadFrameAsync());

        await using var newcomer = await RawPeer.ConnectAsync(server.LocalEndPoint);
        await newcomer.SendFrameAsync(Request(50).Pack());

        Assert.NotNull(await newcomer.ReadFrameAsync()); // admitted: the signed-off connection made room
        Assert.True(await signedOff.ServerClosedAsync());
    }

    [Fact]
    public async Task A_malformed_response_fails_its_request_at_once_instead_of_timing_out()
    {
        // A raw "host" that answers with 49 = "9X8": 11 and 41 are read first, so the request can be identified.
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var host = Task.Run(async () =>
        {
            using var socket = await listener.AcceptTcpClientAsync(Timeouts.Token());
            var stream = socket.GetStream();
            var header = new byte[2];
            await stream.ReadExactlyAsync(header, Timeouts.Token());
            await stream.ReadExactlyAsync(new byte[(header[0] << 8) | header[1]], Timeouts.Token());
            var bad = Convert.FromHexString("30323130" + "0020000002808000" + "303030303037" + "3030" + "41544D3030303031" + "39583738");
            await stream.WriteAsync(FrameFormat.Default.Frame(bad), Timeouts.Token());
            await Task.Delay(Timeout.Infinite, Timeouts.Token()).ContinueWith(_ => { }, TaskScheduler.Default);
        });
        var client = await StartClientAsync((IPEndPoint)listener.LocalEndpoint, o => o.RequestTimeout = TimeSpan.FromHours(1));

        var error = await Assert.ThrowsAsync<Iso8583ChannelException>(() => client.SendRequestAsync(Request(7)).WaitAsync(Timeouts.Generous));

        Assert.Equal(ChannelErrorReason.MalformedResponse, error.Reason);
        Assert.IsType<Iso8583ParseException>(error.InnerException);
        Assert.True(client.IsConnected);
    }

    [Fact]
    public async Task A_message_is_captured_when_sent_so_changing_it_afterwards_changes_nothing()
    {
        var seen = new TaskCompletionSource<long?>();
        var server = await StartServerAsync(o => o.RequestHandler = (request, _, _) =>
        {
            seen.TrySetResult(request.AmountMinor);
            return ValueTask.FromResult<IsoMessage?>(request.CreateResponse(ResponseCodes.Approved));
        });
        var client = await StartClientAsync(server.LocalEndPoint);
        var request = Request(12, amount: 5_000);

        var pending = client.SendRequestAsync(request);
        request.AmountMinor = 999_999;

        Assert.Equal(5_000, await seen.Task.WaitAsync(Timeouts.Generous));
        await pending;
    }

    [Fact]
    public void Bad_settings_are_refused_naming_the_setting()
    {
        var e = Assert.Throws<ArgumentException>(() => new Iso8583Client(new Iso8583ClientOptions { Spec = NetworkSpec.Messages, Port = 0 }));
        Assert.Contains("Port", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => new Iso8583Server(new Iso8583ServerOptions { Spec = NetworkSpec.Messages, RequestTimeout = TimeSpan.Zero }));
        Assert.Contains("RequestTimeout", e.Message, StringComparison.Ordinal);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }

    /// <summary>Moves fake time forward in steps until the task finishes (timers may be armed a moment after the call).</summary>
    private static async Task AdvanceUntilDoneAsync(FakeTimeProvider time, Task task, TimeSpan step)
    {
        var token = Timeouts.Token();
        while (!task.IsCompleted)
        {
            Assert.False(token.IsCancellationRequested, "the task never finished");
            time.Advance(step);
            await Task.WhenAny(task, Task.Delay(20, CancellationToken.None));
        }
    }
}
