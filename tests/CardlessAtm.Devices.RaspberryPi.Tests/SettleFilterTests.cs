using CardlessAtm.Devices.RaspberryPi.Input;
using Microsoft.Extensions.Time.Testing;

namespace CardlessAtm.Devices.RaspberryPi.Tests;

/// <summary>The debounce filter when the machine runs its timers late (a busy Pi, a loaded CI runner).</summary>
public class SettleFilterTests
{
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(25);

    [Fact]
    public void A_press_held_past_the_settle_time_counts_even_when_its_timer_runs_after_the_release()
    {
        var time = new LateTimers();
        var settled = new List<(int Channel, bool Level)>();
        using var filter = new SettleFilter(time, Settle, 2, (channel, level, changed) =>
        {
            if (changed)
            {
                settled.Add((channel, level));
            }
        });

        filter.Raw(1, true);
        time.Clock.Advance(TimeSpan.FromMilliseconds(150)); // held 150 ms; the pool has not run the 25 ms timer
        filter.Raw(1, false);
        time.Clock.Advance(TimeSpan.FromMilliseconds(250));
        time.RunDueTimers(); // the timers run at last

        Assert.Equal([(1, true), (1, false)], settled);
        Assert.False(filter.Accepted(1));
    }

    [Fact]
    public void A_glitch_shorter_than_the_settle_time_stays_no_press_when_timers_run_late()
    {
        var time = new LateTimers();
        var settled = new List<(int Channel, bool Level)>();
        using var filter = new SettleFilter(time, Settle, 1, (channel, level, changed) =>
        {
            if (changed)
            {
                settled.Add((channel, level));
            }
        });

        filter.Raw(0, true);
        time.Clock.Advance(TimeSpan.FromMilliseconds(10));
        filter.Raw(0, false);
        time.Clock.Advance(TimeSpan.FromMilliseconds(250));
        time.RunDueTimers();

        Assert.Empty(settled);
        Assert.False(filter.Accepted(0));
    }

    /// <summary>
    /// System.Threading.Timer counts in whole milliseconds of Environment.TickCount64 while the settle time is measured on
    /// the high-resolution clock, so a 25 ms timer can run 24.4 ms after the edge. The filter must still accept the level:
    /// a door opened once on the FirmwareSim rig otherwise stayed "closed" for good (no later edge re-arms the timer).
    /// </summary>
    [Fact]
    public void A_single_edge_is_accepted_when_its_timer_runs_a_little_before_the_settle_time()
    {
        var time = new LateTimers();
        var settled = new List<(int Channel, bool Level)>();
        using var filter = new SettleFilter(time, Settle, 1, (channel, level, changed) =>
        {
            if (changed)
            {
                settled.Add((channel, level));
            }
        });

        filter.Raw(0, true);
        time.Clock.Advance(Settle - TimeSpan.FromMilliseconds(0.6));
        time.RunTimersEarly(); // the timer runs 0.6 ms before the edge has held for the settle time
        time.Clock.Advance(TimeSpan.FromMilliseconds(1));
        time.RunDueTimers();

        Assert.Equal([(0, true)], settled);
        Assert.True(filter.Accepted(0));
    }

    /// <summary>A clock whose timers run only when the test says so, however long past due.</summary>
    private sealed class LateTimers : TimeProvider
    {
        private readonly List<LateTimer> _timers = [];

        public FakeTimeProvider Clock { get; } = new();

        public override long TimestampFrequency => Clock.TimestampFrequency;

        public override long GetTimestamp() => Clock.GetTimestamp();

        public override DateTimeOffset GetUtcNow() => Clock.GetUtcNow();

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = new LateTimer(this, callback, state);
            timer.Change(dueTime, period);
            _timers.Add(timer);
            return timer;
        }

        public void RunDueTimers()
        {
            foreach (var timer in _timers.ToArray())
            {
                timer.RunIfDue();
            }
        }

        /// <summary>Runs every armed timer now, even one not yet due (a millisecond-tick timer firing early).</summary>
        public void RunTimersEarly()
        {
            foreach (var timer in _timers.ToArray())
            {
                timer.RunIfArmed();
            }
        }

        private sealed class LateTimer(LateTimers time, TimerCallback callback, object? state) : ITimer
        {
            private long? _dueAt;

            public bool Change(TimeSpan dueTime, TimeSpan period)
            {
                _dueAt = dueTime == Timeout.InfiniteTimeSpan ? null : time.GetTimestamp() + (long)(dueTime.TotalSeconds * time.TimestampFrequency);
                return true;
            }

            public void RunIfDue()
            {
                if (_dueAt is { } due && time.GetTimestamp() >= due)
                {
                    _dueAt = null;
                    callback(state);
                }
            }

            public void RunIfArmed()
            {
                if (_dueAt is not null)
                {
                    _dueAt = null;
                    callback(state);
                }
            }

            public void Dispose() => _dueAt = null;

            public ValueTask DisposeAsync()
            {
                Dispose();
                return ValueTask.CompletedTask;
            }
        }
    }
}
