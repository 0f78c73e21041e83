using System.Device.Gpio;
using System.Device.I2c;
using System.Drawing;
using CardlessAtm.Devices.Keypad;
using CardlessAtm.Devices.Status;
using Iot.Device.Ili934x;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Devices.RaspberryPi.Keypad;

/// <summary>
/// A CHSC6440 touch panel (Iot.Device.Bindings' <see cref="Chsc6440"/>) as a keypad: each
/// configured zone is a key. The binding reports a tap when the finger lifts without dragging, so
/// one tap is one press and a slide across zones is none.
/// </summary>
public sealed class TouchKeypad : IKeypad, IDisposable
{
    private readonly Chsc6440 _touch;
    private readonly IReadOnlyList<(Rectangle Area, AtmKey Key)> _zones;
    private readonly KeyPressQueue _queue = new();
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private int _disposed;
    private int _taps;

    /// <summary>Starts listening to the controller on <paramref name="i2cDevice"/> (owned by the keypad from now on) with its INT line on <paramref name="gpio"/>.</summary>
    /// <exception cref="ConfigurationException">A setting is invalid.</exception>
    public TouchKeypad(I2cDevice i2cDevice, GpioController gpio, TouchKeypadOptions options, TimeProvider? time = null, ILogger<TouchKeypad>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(i2cDevice);
        ArgumentNullException.ThrowIfNull(gpio);
        ArgumentNullException.ThrowIfNull(options);
        new TouchKeypadOptionsValidator(nameof(TouchKeypadOptions)).ThrowIfInvalid(options);
        _zones = options.BuildZones();
        _time = time ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        Status = new KeypadStatus($"CHSC6440 touch {options.ScreenWidth}x{options.ScreenHeight}");
        _touch = new Chsc6440(i2cDevice, new Size(options.ScreenWidth, options.ScreenHeight), options.FlipScreen, options.InterruptPin, gpio, shouldDispose: false);
        _touch.Touched += OnTouched;
        _touch.EnableEvents();
        Status.Device = DeviceState.Online;
    }

    /// <inheritdoc />
    public KeypadStatus Status { get; }

    /// <summary>Taps the binding reported, inside a zone or not (for tests to follow its thread).</summary>
    internal int TapsSeen => Volatile.Read(ref _taps);

    /// <inheritdoc />
    public ValueTask<KeyPress> ReadKeyAsync(CancellationToken cancellationToken) => _queue.ReadAsync(cancellationToken);

    /// <inheritdoc />
    public void DiscardPending() => _queue.DiscardPending();

    /// <summary>Stops the binding's polling thread and releases the INT pin and the I2C device.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _touch.Touched -= OnTouched;
        _touch.Dispose();
        Status.Device = DeviceState.Offline;
    }

    private void OnTouched(object sender, Point point)
    {
        try
        {
            foreach (var (area, key) in _zones)
            {
                if (area.Contains(point))
                {
                    _queue.Add(new KeyPress(key, _time.GetUtcNow()));
                    return;
                }
            }

            _logger.LogDebug("Touch at ({X},{Y}) is outside every key zone", point.X, point.Y);
        }
        catch (Exception ex)
        {
            // This runs on the binding's thread, where an exception would end the process.
            _logger.LogError(ex, "Touch: failed to handle a tap at ({X},{Y})", point.X, point.Y);
        }
        finally
        {
            Interlocked.Increment(ref _taps);
        }
    }
}
