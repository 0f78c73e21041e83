using System.Device.Gpio;
using CardlessAtm.Devices.RaspberryPi.Input;
using CardlessAtm.Devices.Sensors;
using CardlessAtm.Devices.Status;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Devices.RaspberryPi.Sensors;

/// <summary>
/// Door, cassette, shutter and tamper switches on GPIO inputs. Each input is debounced on the
/// injected clock and re-read when it has settled; <see cref="FaultSensorStatus"/> raises a change
/// only when a reading really changes. A sensor listed without a pin, or whose pin cannot be
/// opened, reports <see cref="SensorState.NotAvailable"/> — never Normal. A sensor that keeps
/// changing without ever settling (a broken wire, a loose magnet) is reported as
/// <see cref="SensorState.Alert"/> and logged until it settles.
/// </summary>
public sealed class GpioFaultSensors : IFaultSensors, IDisposable
{
    private readonly GpioController _gpio;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Wired[] _wired;
    private readonly SettleFilter _filter;
    private readonly TimeSpan _flappingAfter;
    private readonly Lock _gate = new();
    private bool _disposed;

    /// <summary>Opens the configured inputs on <paramref name="gpio"/> (the controller stays the caller's) and takes a first reading.</summary>
    /// <exception cref="ConfigurationException">A setting is invalid.</exception>
    public GpioFaultSensors(GpioController gpio, GpioFaultSensorsOptions options, TimeProvider? time = null, ILogger<GpioFaultSensors>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(gpio);
        ArgumentNullException.ThrowIfNull(options);
        new GpioFaultSensorsOptionsValidator(nameof(GpioFaultSensorsOptions)).ThrowIfInvalid(options);
        _gpio = gpio;
        _time = time ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _flappingAfter = TimeSpan.FromMilliseconds(options.FlappingAfterMilliseconds);
        Status = new FaultSensorStatus("GPIO fault sensors");

        var wired = new List<Wired>();
        foreach (var sensor in options.Sensors)
        {
            Status.Update(new SensorReading(sensor.Id, sensor.Kind, SensorState.NotAvailable, sensor.Position));
            if (sensor.Pin is { } pin)
            {
                wired.Add(new Wired(sensor, pin, wired.Count));
            }
        }

        _wired = [.. wired];
        _filter = new SettleFilter(_time, TimeSpan.FromMilliseconds(options.DebounceMilliseconds), _wired.Length, OnSettled, ReadLevel);

        var failed = 0;
        foreach (var w in _wired)
        {
            try
            {
                _gpio.OpenPin(w.Pin, w.Options.Pull switch
                {
                    InputPull.Up => PinMode.InputPullUp,
                    InputPull.Down => PinMode.InputPullDown,
                    _ => PinMode.Input,
                });
                w.Opened = true;
                _gpio.RegisterCallbackForPinValueChangedEvent(w.Pin, PinEventTypes.Rising | PinEventTypes.Falling, w.OnEdge = (_, e) => OnEdge(w, e));
                var high = _gpio.Read(w.Pin) == PinValue.High;
                w.LastEdgeHigh = high;
                _filter.Seed(w.Channel, high);
                Report(w, high);
            }
            catch (Exception ex) when (ex is IOException or InvalidOperationException or UnauthorizedAccessException or NotSupportedException or PlatformNotSupportedException or ArgumentException)
            {
                failed++;
                _logger.LogError(ex, "Sensor {Id}: GPIO {Pin} could not be opened; it reports NotAvailable", w.Options.Id, w.Pin);
            }
        }

        Status.Device = failed == 0 ? DeviceState.Online : DeviceState.HardwareError;
    }

    /// <inheritdoc />
    public FaultSensorStatus Status { get; }

    /// <summary>Releases the inputs.</summary>
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

        _filter.Dispose();
        foreach (var w in _wired.Where(w => w.Opened))
        {
            if (w.OnEdge is not null)
            {
                _gpio.UnregisterCallbackForPinValueChangedEvent(w.Pin, w.OnEdge);
            }

            _gpio.ClosePin(w.Pin);
        }

        Status.Device = DeviceState.Offline;
    }

    private bool ReadLevel(int channel)
    {
        var w = _wired[channel];
        try
        {
            return _gpio.Read(w.Pin) == PinValue.High;
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or UnauthorizedAccessException)
        {
            // This runs on a timer thread; fall back to the last edge rather than let the exception end the process.
            _logger.LogError(ex, "Sensor {Id}: reading GPIO {Pin} failed; using the level of its last edge", w.Options.Id, w.Pin);
            return w.LastEdgeHigh;
        }
    }

    private void OnEdge(Wired w, PinValueChangedEventArgs e)
    {
        var high = e.ChangeType == PinEventTypes.Rising;
        w.LastEdgeHigh = high;
        _filter.Raw(w.Channel, high);
        var now = _time.GetTimestamp();
        bool reportFlapping;
        lock (_gate)
        {
            w.EdgesSinceSettled++;
            w.UnsettledSince ??= now;
            reportFlapping = !w.Flapping && _time.GetElapsedTime(w.UnsettledSince.Value, now) >= _flappingAfter;
            if (reportFlapping)
            {
                w.Flapping = true;
            }
        }

        if (reportFlapping)
        {
            _logger.LogWarning(
                "Sensor {Id} (GPIO {Pin}) is flapping: {Edges} changes in {Window} ms without holding a level; reported as Alert until it settles",
                w.Options.Id, w.Pin, w.EdgesSinceSettled, _flappingAfter.TotalMilliseconds);
            Status.Update(new SensorReading(w.Options.Id, w.Options.Kind, SensorState.Alert, w.Options.Position));
        }
    }

    private void OnSettled(int channel, bool high, bool changed)
    {
        var w = _wired[channel];
        bool wasFlapping;
        lock (_gate)
        {
            wasFlapping = w.Flapping;
            w.Flapping = false;
            w.UnsettledSince = null;
            w.EdgesSinceSettled = 0;
        }

        if (wasFlapping)
        {
            _logger.LogInformation("Sensor {Id} (GPIO {Pin}) has settled at {Level}", w.Options.Id, w.Pin, high ? "High" : "Low");
        }

        if (changed || wasFlapping)
        {
            Report(w, high);
        }
    }

    private void Report(Wired w, bool high)
    {
        var alert = high == (w.Options.AlertLevel == SignalLevel.High);
        Status.Update(new SensorReading(w.Options.Id, w.Options.Kind, alert ? SensorState.Alert : SensorState.Normal, w.Options.Position));
    }

    private sealed class Wired(GpioSensorOptions options, int pin, int channel)
    {
        public GpioSensorOptions Options { get; } = options;

        public int Pin { get; } = pin;

        public int Channel { get; } = channel;

        public bool Opened { get; set; }

        public PinChangeEventHandler? OnEdge { get; set; }

        public bool Flapping { get; set; }

        public long? UnsettledSince { get; set; }

        public int EdgesSinceSettled { get; set; }

        public bool LastEdgeHigh { get; set; }
    }
}
