using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using CardlessAtm.Iso8583.Channels;
using CardlessAtm.Network;
using Microsoft.Extensions.Time.Testing;

namespace CardlessAtm.Iso8583.Tests;

/// <summary>
/// Issue 16 item 1: a client given several endpoints moves to the next one when the current one fails — connect refused,
/// or the signed-on connection dropped — round-robin back to the first, with the usual back-off between attempts. Real
/// listeners on loopback; a refused endpoint is a port that was bound and released.
/// </summary>
public sealed class EndpointFailoverTests
{
    [Fact]
    public async Task When_the_first_endpoint_refuses_the_connection_the_client_signs_on_at_the_second()
    {
        var refused = FreePort();
        await using var second = await SignOnServer.StartAsync();
        await using var client = NewClient(TimeProvider.System, new Iso8583Endpoint("127.0.0.1", refused), new Iso8583Endpoint("127.0.0.1", second.Port));

        await client.StartAsync();
        await client.WaitUntilConnectedAsync(Timeouts.Token());

        Assert.Equal(new Iso8583Endpoint("127.0.0.1", second.Port), client.CurrentEndpoint);
        Assert.Equal(1, second.SignOns);
        Assert.True(client.ConsecutiveFailures >= 1, "the refused endpoint was never tried");
        var echo = await client.SendRequestAsync(Echo(), Timeouts.Token());
        Assert.Equal(ResponseCodes.Approved, echo.ResponseCode);
    }

    [Fact]
    public async Task When_the_connected_endpoint_drops_the_link_the_client_moves_to_the_next_one()
    {
        var first = await SignOnServer.StartAsync();
        await using var second = await SignOnServer.StartAsync();
        await using var client = NewClient(TimeProvider.System, new Iso8583Endpoint("127.0.0.1", first.Port), new Iso8583Endpoint("127.0.0.1", second.Port));
        await client.StartAsync();
        var onFirst = await client.WaitUntilConnectedAsync(Timeouts.Token());
        Assert.Equal(first.Port, client.CurrentEndpoint.Port);
        Assert.Equal(1, first.SignOns);

        await first.DisposeAsync(); // the host dies: its connections drop, its port refuses

        await Timeouts.UntilAsync(() => second.SignOns == 1 && client.IsConnected, "the client signed on at the second endpoint");
        Assert.False(onFirst.IsOpen);
        Assert.Equal(second.Port, client.CurrentEndpoint.Port);
        Assert.Equal(ResponseCodes.Approved, (await client.SendRequestAsync(Echo(), Timeouts.Token())).ResponseCode);
    }

    [Fact]
    public async Task When_every_endpoint_is_down_the_client_backs_off_round_robin_and_signs_on_when_one_comes_back()
    {
        var time = new TimerRecordingTimeProvider(DateTimeOffset.UtcNow);
        var portA = FreePort();
        var portB = FreePort();
        var log = new RecordingLogger();
        await using var client = NewClient(time, new Iso8583Endpoint("127.0.0.1", portA), new Iso8583Endpoint("127.0.0.1", portB), log);
        await client.StartAsync();

        // Four failed attempts: A, B, A, B — each followed by a back-off that doubles (jitter 0: half the capped delay).
        while (client.ConsecutiveFailures < 4)
        {
            time.Advance(TimeSpan.FromMilliseconds(100));
            await Task.Delay(10, CancellationToken.None);
            Assert.False(Timeouts.Token().IsCancellationRequested);
        }

        var backoffs = time.DueTimes.Where(d => d > TimeSpan.Zero && d <= TimeSpan.FromSeconds(8)).Take(4).ToArray();
        Assert.Equal(new[] { 1, 2, 4, 4 }.Select(s => TimeSpan.FromSeconds(s)), backoffs);
        var moves = log.Lines.Where(l => l.Contains("moving to endpoint", StringComparison.Ordinal)).Take(4).ToArray();
        Assert.Equal(4, moves.Length);
        Assert.Equal(
            [$"127.0.0.1:{portB} (2 of 2)", $"127.0.0.1:{portA} (1 of 2)", $"127.0.0.1:{portB} (2 of 2)", $"127.0.0.1:{portA} (1 of 2)"],
            moves.Select(m => m[(m.IndexOf("moving to endpoint ", StringComparison.Ordinal) + "moving to endpoint ".Length)..]));
        Assert.False(client.IsConnected);

        // The second endpoint comes back on its port: the round-robin reaches it and the client signs on there.
        await using var back = await SignOnServer.StartAsync(portB);
        var token = Timeouts.Token();
        while (!client.IsConnected)
        {
            Assert.False(token.IsCancellationRequested, "the client never signed on at the endpoint that came back");
            time.Advance(TimeSpan.FromMilliseconds(250));
            await Task.Delay(10, CancellationToken.None);
        }

        Assert.Equal(portB, client.CurrentEndpoint.Port);
        Assert.Equal(1, back.SignOns);
    }

    [Fact]
    public void A_failover_endpoint_without_a_valid_port_is_refused_naming_its_index()
    {
        var options = new Iso8583ClientOptions
        {
            Spec = NetworkSpec.Messages,
            Port = 1,
            FailoverEndpoints = [new Iso8583Endpoint("127.0.0.1", 2), new Iso8583Endpoint("127.0.0.1", 0)],
        };

        var error = Assert.Throws<ArgumentException>(options.Validate);

        Assert.Equal("FailoverEndpoints[1].Port", error.ParamName);
    }

    private static Iso8583Client NewClient(TimeProvider time, Iso8583Endpoint first, Iso8583Endpoint second, Microsoft.Extensions.Logging.ILogger? log = null) => new(new Iso8583ClientOptions
    {
        Logger = log ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance,
        Spec = NetworkSpec.Messages,
        Host = first.Host,
        Port = first.Port,
        FailoverEndpoints = [second],
        TimeProvider = time,
        JitterSource = () => 0,
        ReconnectInitialDelay = TimeSpan.FromSeconds(1),
        ReconnectMaxDelay = TimeSpan.FromSeconds(8),
        ConnectTimeout = TimeSpan.FromDays(1),
        RequestTimeout = TimeSpan.FromDays(1),
        SignOn = async (connection, ct) =>
        {
            var answer = await connection.SendRequestAsync(SignOnRequest(), ct);
            Assert.Equal(ResponseCodes.Approved, answer.ResponseCode);
        },
    });

    private static IsoMessage SignOnRequest() =>
        new(NetworkSpec.Messages, Mti.NetworkManagementRequest) { Stan = Random.Shared.Next(1, 999_999), TerminalId = "ATM00001", NetworkManagementCode = NetworkManagementCodes.SignOn };

    private static IsoMessage Echo() =>
        new(NetworkSpec.Messages, Mti.NetworkManagementRequest) { Stan = Random.Shared.Next(1, 999_999), TerminalId = "ATM00001", NetworkManagementCode = NetworkManagementCodes.EchoTest };

    /// <summary>A loopback port nothing listens on (bound, then released): connecting to it is refused.</summary>
    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>A real server that approves every sign-on and counts them.</summary>
    private sealed class SignOnServer : IAsyncDisposable
    {
        private readonly Iso8583Server _server;
        private int _signOns;
        private int _disposed;

        private SignOnServer(int port)
        {
            _server = new Iso8583Server(new Iso8583ServerOptions
            {
                Spec = NetworkSpec.Messages,
                Port = port,
                RequestHandler = (request, _, _) =>
                {
                    if (request.NetworkManagementCode == NetworkManagementCodes.SignOn)
                    {
                        Interlocked.Increment(ref _signOns);
                    }

                    return ValueTask.FromResult<IsoMessage?>(request.CreateResponse(ResponseCodes.Approved));
                },
            });
        }

        public int Port => _server.LocalEndPoint.Port;

        public int SignOns => Volatile.Read(ref _signOns);

        public static async Task<SignOnServer> StartAsync(int port = 0)
        {
            var server = new SignOnServer(port);
            await server._server.StartAsync();
            return server;
        }

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                await _server.DisposeAsync();
            }
        }
    }

    /// <summary>Keeps every formatted log line.</summary>
    private sealed class RecordingLogger : Microsoft.Extensions.Logging.ILogger
    {
        private readonly ConcurrentQueue<string> _lines = new();

        public string[] Lines => [.. _lines];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            _lines.Enqueue(formatter(state, exception));
    }

    /// <summary>Fake time that remembers the due time of every timer created on it (the client's back-off delays among them).</summary>
    private sealed class TimerRecordingTimeProvider(DateTimeOffset start) : FakeTimeProvider(start)
    {
        private readonly ConcurrentQueue<TimeSpan> _dueTimes = new();

        public TimeSpan[] DueTimes => [.. _dueTimes];

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            _dueTimes.Enqueue(dueTime);
            return base.CreateTimer(callback, state, dueTime, period);
        }
    }
}
