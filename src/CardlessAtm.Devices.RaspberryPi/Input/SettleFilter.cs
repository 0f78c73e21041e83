namespace CardlessAtm.Devices.RaspberryPi.Input;

/// <summary>
/// Debounces contacts: a channel's level is accepted only after it has stayed unchanged for the
/// settle time, measured on the injected <see cref="TimeProvider"/>. Raw edges re-arm the
/// channel's timer, so a switch that bounces 20 times in 5 ms yields one change, 'settle' after
/// its last bounce. Shared by the keypad (one channel per key) and the fault sensors (one per input).
/// </summary>
internal sealed class SettleFilter : IDisposable
{
    private readonly Lock _gate = new();
    private readonly TimeProvider _time;
    private readonly TimeSpan _settle;
    private readonly Action<int, bool, bool> _onSettled;
    private readonly Func<int, bool>? _readNow;
    private readonly Channel[] _channels;
    private bool _disposed;

    /// <param name="time">The clock.</param>
    /// <param name="settle">How long a level must hold before it counts.</param>
    /// <param name="channelCount">Number of independent inputs.</param>
    /// <param name="onSettled">
    /// Called (outside the filter's lock) with (channel, level, changed) each time a channel has held
    /// a level for the settle time after an edge; changed says whether the accepted level moved.
    /// </param>
    /// <param name="readNow">When given, the level is read again when the settle time ends (so a missed edge cannot leave a stale level).</param>
    public SettleFilter(TimeProvider time, TimeSpan settle, int channelCount, Action<int, bool, bool> onSettled, Func<int, bool>? readNow = null)
    {
        _time = time;
        _settle = settle;
        _onSettled = onSettled;
        _readNow = readNow;
        _channels = new Channel[channelCount];
        for (var i = 0; i < channelCount; i++)
        {
            _channels[i] = new Channel();
        }
    }

    /// <summary>Sets a channel's accepted level without debouncing (the level read at start-up).</summary>
    public void Seed(int channel, bool level)
    {
        lock (_gate)
        {
            _channels[channel].Raw = level;
            _channels[channel].Accepted = level;
        }
    }

    /// <summary>The accepted (debounced) level of a channel.</summary>
    public bool Accepted(int channel)
    {
        lock (_gate)
        {
            return _channels[channel].Accepted;
        }
    }

    /// <summary>The last raw (not yet debounced) level of a channel.</summary>
    public bool RawLevel(int channel)
    {
        lock (_gate)
        {
            return _channels[channel].Raw;
        }
    }

    /// <summary>A raw edge (or sample) of a channel: restarts its settle time.</summary>
    public void Raw(int channel, bool level)
    {
        bool? caughtUp = null;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            var c = _channels[channel];

            // The level this edge ends held for the settle time already, but its timer has not run yet (a busy machine
            // runs timers late): accept it now, or a 150 ms key press would be lost because the pool was 150 ms late.
            if (level != c.Raw && c.Raw != c.Accepted && c.Timer is not null && _time.GetElapsedTime(c.LastEdge) >= _settle)
            {
                c.Accepted = c.Raw;
                caughtUp = c.Raw;
            }

            c.Raw = level;
            c.LastEdge = _time.GetTimestamp();
            c.Timer ??= _time.CreateTimer(OnTimer, channel, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            c.Timer.Change(_settle, Timeout.InfiniteTimeSpan);
        }

        if (caughtUp is { } settled)
        {
            _onSettled(channel, settled, true);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            foreach (var c in _channels)
            {
                c.Timer?.Dispose();
            }
        }
    }

    private void OnTimer(object? state)
    {
        var channel = (int)state!;
        bool level;
        lock (_gate)
        {
            var c = _channels[channel];
            if (_disposed)
            {
                return;
            }

            var held = _time.GetElapsedTime(c.LastEdge);
            if (held < _settle)
            {
                // Either an edge came after this timer was armed, or the timer ran early (System.Threading.Timer counts
                // whole milliseconds, the settle time is measured on the high-resolution clock). Arm it for what is left
                // of the settle time after the last edge: returning without a timer would leave the level unaccepted.
                c.Timer?.Change(_settle - held, Timeout.InfiniteTimeSpan);
                return;
            }

            level = c.Raw;
        }

        if (_readNow is not null)
        {
            level = _readNow(channel);
        }

        bool changed;
        lock (_gate)
        {
            var c = _channels[channel];
            if (_disposed)
            {
                return;
            }

            changed = c.Accepted != level;
            c.Accepted = level;
        }

        _onSettled(channel, level, changed);
    }

    private sealed class Channel
    {
        public bool Raw;
        public bool Accepted;
        public long LastEdge;
        public ITimer? Timer;
    }
}
