using CardlessAtm.Cli.Hosting;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Time.Testing;

namespace CardlessAtm.Cli.Tests;

public sealed class SystemdWatchdogTests
{
    [Theory]
    [InlineData("30000000", null, 30.0)]
    [InlineData("30000000", "4242", 30.0)]
    [InlineData("500000", null, 0.5)]
    public void The_interval_is_read_as_sd_watchdog_enabled_reads_it(string usec, string? pid, double seconds)
    {
        Assert.Equal(TimeSpan.FromSeconds(seconds), SystemdWatchdog.IntervalFrom(usec, pid, 4242));
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("", null)]
    [InlineData("0", null)]
    [InlineData("-5", null)]
    [InlineData("30s", null)]
    [InlineData("30000000", "1")]
    [InlineData("30000000", "x")]
    public void No_interval_when_unset_malformed_or_meant_for_another_process(string? usec, string? pid)
    {
        Assert.Null(SystemdWatchdog.IntervalFrom(usec, pid, 4242));
    }

    [Fact]
    public async Task It_pings_every_half_interval_while_the_main_loop_runs_and_stops_when_it_ends()
    {
        var time = new FakeTimeProvider();
        var notifier = new RecordingNotifier();
        var alive = true;
        using var watchdog = new SystemdWatchdog(notifier, TimeSpan.FromSeconds(30), () => alive, time);
        await watchdog.StartAsync(CancellationToken.None);

        time.Advance(TimeSpan.FromSeconds(14));
        Assert.Equal(0, notifier.Pings);
        time.Advance(TimeSpan.FromSeconds(1));
        await notifier.WaitForAsync(1);
        time.Advance(TimeSpan.FromSeconds(15));
        await notifier.WaitForAsync(2);

        alive = false;
        time.Advance(TimeSpan.FromSeconds(15));
        time.Advance(TimeSpan.FromSeconds(15));
        await watchdog.StopAsync(CancellationToken.None);
        Assert.Equal(2, notifier.Pings);
        Assert.All(notifier.States, s => Assert.Equal("WATCHDOG=1", s.ToString()));
    }

    [Fact]
    public async Task Without_a_watchdog_interval_nothing_is_sent()
    {
        var time = new FakeTimeProvider();
        var notifier = new RecordingNotifier();
        using var watchdog = new SystemdWatchdog(notifier, null, () => true, time);
        await watchdog.StartAsync(CancellationToken.None);

        time.Advance(TimeSpan.FromMinutes(10));
        await watchdog.StopAsync(CancellationToken.None);

        Assert.Equal(0, notifier.Pings);
    }

    private sealed class RecordingNotifier : ISystemdNotifier
    {
        private readonly Lock _gate = new();
        private readonly List<ServiceState> _states = [];

        public bool IsEnabled => true;

        public int Pings
        {
            get
            {
                lock (_gate)
                {
                    return _states.Count;
                }
            }
        }

        public IReadOnlyList<ServiceState> States
        {
            get
            {
                lock (_gate)
                {
                    return [.. _states];
                }
            }
        }

        public void Notify(ServiceState state)
        {
            lock (_gate)
            {
                _states.Add(state);
            }
        }

        public async Task WaitForAsync(int count)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while (Pings < count)
            {
                await Task.Delay(10, timeout.Token);
            }
        }
    }
}
