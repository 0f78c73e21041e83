using System.Device.Gpio;
using System.Device.Spi;
using System.Drawing;
using CardlessAtm.Devices.Keypad;
using CardlessAtm.Devices.RaspberryPi.Keypad;
using CardlessAtm.Devices.Status;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Devices.RaspberryPi.Touch;

/// <summary>
/// An XPT2046 resistive touch layer (the one on most ILI9341 modules for the Pi, on the TFT's SPI bus with its own chip
/// select) as a keypad: each configured zone is a key. The pen line (PENIRQ, Low while pressed) is polled on the injected
/// clock; while it is Low a reading takes several conversions per axis, drops those far from the median and averages the
/// rest, and is accepted only with enough pressure before and after. A press is one <see cref="KeyPress"/> once the
/// touch has held for the press debounce, however long it stays; the next press needs the panel released for the
/// release debounce. Sliding onto another zone while pressed is no press.
/// </summary>
public sealed class Xpt2046TouchKeypad : IKeypad, IDisposable
{
    private readonly Xpt2046 _chip;
    private readonly GpioController _gpio;
    private readonly Xpt2046Options _options;
    private readonly IReadOnlyList<(Rectangle Area, AtmKey Key)> _zones;
    private readonly KeyPressQueue _queue = new();
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly ITimer _poll;
    private readonly int[] _xs;
    private readonly int[] _ys;
    private long? _touchSince;
    private long? _releaseSince;
    private bool _pressed;
    private bool _disposed;
    private long _readings;

    /// <summary>Starts polling the controller on <paramref name="spi"/> (owned by the keypad from now on) with PENIRQ on <paramref name="gpio"/> (the controller stays the caller's).</summary>
    /// <param name="spi">The bus, opened with <see cref="Xpt2046Options.CreateSpiConnectionSettings"/> (the controller's chip select and clock).</param>
    /// <param name="gpio">The board's GPIO controller; the keypad opens <see cref="Xpt2046Options.PenIrqPin"/> on it.</param>
    /// <param name="options">Settings, checked by <see cref="Xpt2046OptionsValidator"/> (under the neutral name <c>Xpt2046Options</c> when not by the registration).</param>
    /// <param name="time">Clock for polling and debouncing; the system clock if null.</param>
    /// <param name="logger">Logger; none if null.</param>
    /// <exception cref="ConfigurationException">A setting is invalid.</exception>
    public Xpt2046TouchKeypad(SpiDevice spi, GpioController gpio, Xpt2046Options options, TimeProvider? time = null, ILogger<Xpt2046TouchKeypad>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(spi);
        ArgumentNullException.ThrowIfNull(gpio);
        ArgumentNullException.ThrowIfNull(options);
        new Xpt2046OptionsValidator(nameof(Xpt2046Options)).ThrowIfInvalid(options);
        _zones = options.BuildZones();
        _options = options;
        _gpio = gpio;
        _time = time ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _xs = new int[options.SamplesPerReading];
        _ys = new int[options.SamplesPerReading];
        _chip = new Xpt2046(spi);
        Status = new KeypadStatus($"XPT2046 touch {options.ScreenWidth}x{options.ScreenHeight}");
        _chip.Convert(Xpt2046Channel.X, powerDownAfter: true); // leaves the chip powered down with PENIRQ enabled; a missing bus fails here, before the pin is taken
        _gpio.OpenPin(options.PenIrqPin, PinMode.InputPullUp);
        var interval = TimeSpan.FromMilliseconds(options.PollIntervalMilliseconds);
        _poll = _time.CreateTimer(_ => Poll(), null, interval, interval);
        Status.Device = DeviceState.Online;
    }

    /// <inheritdoc />
    public KeypadStatus Status { get; }

    /// <summary>Readings taken while PENIRQ was Low (for tests to follow the polling).</summary>
    internal long Readings => Interlocked.Read(ref _readings);

    /// <inheritdoc />
    public ValueTask<KeyPress> ReadKeyAsync(CancellationToken cancellationToken) => _queue.ReadAsync(cancellationToken);

    /// <inheritdoc />
    public void DiscardPending() => _queue.DiscardPending();

    /// <summary>
    /// Where a raw reading lies on the screen, by the calibration: each channel scaled from its raw range, then swapped
    /// and inverted as configured; clamped to the panel.
    /// </summary>
    public static Point ToScreen(Xpt2046Options options, int rawX, int rawY)
    {
        ArgumentNullException.ThrowIfNull(options);
        var u = Scale(rawX, options.RawXMin, options.RawXMax);
        var v = Scale(rawY, options.RawYMin, options.RawYMax);
        if (options.SwapXY)
        {
            (u, v) = (v, u);
        }

        u = options.InvertX ? 1 - u : u;
        v = options.InvertY ? 1 - v : v;
        return new Point((int)Math.Round(u * (options.ScreenWidth - 1)), (int)Math.Round(v * (options.ScreenHeight - 1)));
    }

    /// <summary>Stops polling, releases the PENIRQ pin and the SPI device.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        _poll.Dispose();
        lock (_gate)
        {
            _gpio.ClosePin(_options.PenIrqPin);
            _chip.Dispose();
        }

        Status.Device = DeviceState.Offline;
    }

    private static double Scale(int raw, int min, int max) => Math.Clamp((raw - min) / (double)(max - min), 0, 1);

    private void Poll()
    {
        if (!_gate.TryEnter())
        {
            return; // the previous poll still runs (system clock on a loaded machine): skip this tick
        }

        try
        {
            if (_disposed)
            {
                return;
            }

            var reading = _gpio.Read(_options.PenIrqPin) == PinValue.Low ? Read() : null;
            Track(reading);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException)
        {
            // A timer thread must not throw; the panel is marked and polling goes on, so a reseated cable recovers.
            Status.Device = DeviceState.HardwareError;
            _logger.LogError(ex, "XPT2046: reading the touch controller failed");
        }
        finally
        {
            _gate.Exit();
        }
    }

    /// <summary>One filtered reading, or null when the panel is not pressed firmly or the samples disagree.</summary>
    private Point? Read()
    {
        Interlocked.Increment(ref _readings);
        if (Pressure() < _options.PressureThreshold)
        {
            _chip.Convert(Xpt2046Channel.X, powerDownAfter: true);
            return null;
        }

        for (var i = 0; i < _xs.Length; i++)
        {
            _xs[i] = _chip.Convert(Xpt2046Channel.X, powerDownAfter: false);
            _ys[i] = _chip.Convert(Xpt2046Channel.Y, powerDownAfter: false);
        }

        // The pen may have lifted during the burst: the samples count only if the pressure held to the end.
        var held = Pressure() >= _options.PressureThreshold;
        _chip.Convert(Xpt2046Channel.X, powerDownAfter: true);
        if (!held || Filter(_xs) is not { } x || Filter(_ys) is not { } y)
        {
            return null;
        }

        Status.Device = DeviceState.Online;
        return ToScreen(_options, x, y);
    }

    private int Pressure()
    {
        var z1 = _chip.Convert(Xpt2046Channel.Z1, powerDownAfter: false);
        var z2 = _chip.Convert(Xpt2046Channel.Z2, powerDownAfter: false);
        return z1 + Xpt2046.MaxValue - z2;
    }

    /// <summary>The mean of the samples within the spread of their median; null when fewer than a majority are.</summary>
    private int? Filter(int[] samples)
    {
        var sorted = (int[])samples.Clone();
        Array.Sort(sorted);
        var median = sorted[sorted.Length / 2];
        long sum = 0;
        var kept = 0;
        foreach (var sample in sorted)
        {
            if (Math.Abs(sample - median) <= _options.MaxSampleSpread)
            {
                sum += sample;
                kept++;
            }
        }

        return kept > sorted.Length / 2 ? (int)Math.Round(sum / (double)kept) : null;
    }

    private void Track(Point? touch)
    {
        var now = _time.GetTimestamp();
        if (touch is not { } point)
        {
            _touchSince = null;
            if (_pressed)
            {
                _releaseSince ??= now;
                if (_time.GetElapsedTime(_releaseSince.Value) >= TimeSpan.FromMilliseconds(_options.ReleaseDebounceMilliseconds))
                {
                    _pressed = false;
                    _releaseSince = null;
                }
            }

            return;
        }

        _releaseSince = null;
        if (_pressed)
        {
            return; // held, or slid elsewhere: one press per touch
        }

        _touchSince ??= now;
        if (_time.GetElapsedTime(_touchSince.Value) < TimeSpan.FromMilliseconds(_options.PressDebounceMilliseconds))
        {
            return;
        }

        _pressed = true;
        _touchSince = null;
        foreach (var (area, key) in _zones)
        {
            if (area.Contains(point))
            {
                _queue.Add(new KeyPress(key, _time.GetUtcNow()));
                return;
            }
        }

        _logger.LogDebug("XPT2046: touch at ({X},{Y}) is outside every key zone", point.X, point.Y);
    }
}
