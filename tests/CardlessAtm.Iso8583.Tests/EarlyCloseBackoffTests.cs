using System.Collections.Concurrent;
using CardlessAtm.Iso8583.Channels;
using CardlessAtm.Network;
using Microsoft.Extensions.Time.Testing;

namespace CardlessAtm.Iso8583.Tests;

/// <summary>
/// Issue 12 finding M1 (client side): a peer that closes the connection right after a successful sign-on (a host
/// superseding one of two devices that hold the same terminal master key) must not be redialled at the initial delay
/// forever. The failure count is reset only once a connection stayed up for StableConnectionPeriod, so the delays grow
/// up to ReconnectMaxDelay. Real server over loopback; fake time, fixed jitter.
/// </summary>
public sealed class EarlyCloseBackoffTests
{
    private static readonly TimeSpan Initial = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Max = TimeSpan.FromSeconds(8);

    [Fact]
    public async Task A_peer_that_closes_right_after_sign_on_is_redialled_with_growing_back_off_up_to_the_cap()
    {
        var time = new TimerRecordingTimeProvider(DateTimeOffset.UtcNow);
        var signOns = new ConcurrentQueue<DateTimeOffset>();
        var closeAfterSignOn = true;
        await using var server = new Iso8583Server(new Iso8583ServerOptions
        {
            Spec = NetworkSpec.Messages,
            RequestHandler = (request, connection, handlerToken) =>
            {
                signOns.Enqueue(time.GetUtcNow());
                if (Volatile.Read(ref closeAfterSignOn))
                {
                    // Superseded at once: the answer goes out, then the connection is closed.
                    _ = Task.Run(
                        async () =>
                        {
                            await Task.Delay(20, CancellationToken.None);
                            await connection.CloseAsync(CancellationToken.None);
                        },
                        CancellationToken.None);
                }

                return ValueTask.FromResult<IsoMessage?>(request.CreateResponse(ResponseCodes.Approved));
            },
        });
        await server.StartAsync();
        await using var client = new Iso8583Client(new Iso8583ClientOptions
        {
            Spec = NetworkSpec.Messages,
            Host = "127.0.0.1",
            Port = server.LocalEndPoint.Port,
            TimeProvider = time,
            JitterSource = () => 0, // each delay is exactly half the capped exponential one
            ReconnectInitialDelay = Initial,
            ReconnectMaxDelay = Max,
            StableConnectionPeriod = TimeSpan.FromSeconds(10),
            RequestTimeout = TimeSpan.FromDays(1),
            SignOn = async (connection, ct) =>
            {
                var answer = await connection.SendRequestAsync(new IsoMessage(NetworkSpec.Messages, Mti.NetworkManagementRequest) { Stan = 1, TerminalId = "ATM00001", NetworkManagementCode = NetworkManagementCodes.SignOn }, ct);
                Assert.Equal(ResponseCodes.Approved, answer.ResponseCode);
            },
        });
        await client.StartAsync();

        await AdvanceUntilAsync(time, () => signOns.Count >= 6, TimeSpan.FromMilliseconds(100));

        var at = signOns.ToArray();
        var gaps = at.Zip(at.Skip(1), (a, b) => b - a).Take(5).ToArray();

        // Back-off after failure n is min(Max, Initial·2ⁿ)/2 with no jitter: 1 s, 2 s, 4 s, then the cap 4 s. The delays the
        // client scheduled are read from the timers it created (not from the gaps, which also hold the fake time that
        // passed while the real dial and sign-on ran: more on a loaded machine); the gaps can only be longer.
        var expected = new[] { 1, 2, 4, 4, 4 }.Select(s => TimeSpan.FromSeconds(s)).ToArray();
        var backoffs = time.DueTimes.Where(d => d > TimeSpan.Zero && d <= Max).Take(expected.Length).ToArray();
        Assert.Equal(expected, backoffs);
        for (var i = 0; i < gaps.Length; i++)
        {
            Assert.True(gaps[i] >= expected[i], $"gap {i + 1} was {gaps[i].TotalSeconds:F1} s, expected at least {expected[i].TotalSeconds} s (gaps: {string.Join(", ", gaps.Select(g => g.TotalSeconds.ToString("F1", System.Globalization.CultureInfo.InvariantCulture)))})");
        }

        Assert.True(client.ConsecutiveEarlyCloses >= 5, $"early closes {client.ConsecutiveEarlyCloses}");
        Assert.True(client.ConsecutiveFailures >= 5, $"failures {client.ConsecutiveFailures}");

        // A connection that stays up for the stable period resets the count (the next close is redialled at the initial delay).
        Volatile.Write(ref closeAfterSignOn, false);
        var before = signOns.Count;
        await AdvanceUntilAsync(time, () => signOns.Count > before && client.IsConnected, TimeSpan.FromMilliseconds(100));
        var stable = client.Connection!;
        Assert.True(client.ConsecutiveFailures >= 5, "not reset at sign-on");
        await AdvanceUntilAsync(time, () => client.ConsecutiveFailures == 0, TimeSpan.FromSeconds(1));
        Assert.Equal(0, client.ConsecutiveEarlyCloses);
        Assert.True(stable.IsOpen);
        Assert.Same(stable, client.Connection);
    }

    [Fact]
    public void The_stable_period_must_not_be_negative()
    {
        var options = new Iso8583ClientOptions { Spec = NetworkSpec.Messages, Port = 1, StableConnectionPeriod = TimeSpan.FromSeconds(-1) };
        var error = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Equal(nameof(Iso8583ClientOptions.StableConnectionPeriod), error.ParamName);
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

    /// <summary>Moves fake time forward in steps until the condition holds.</summary>
    private static async Task AdvanceUntilAsync(FakeTimeProvider time, Func<bool> condition, TimeSpan step)
    {
        var token = Timeouts.Token();
        while (!condition())
        {
            Assert.False(token.IsCancellationRequested, "the condition never held");
            time.Advance(step);
            await Task.Delay(10, CancellationToken.None);
        }
    }
}
