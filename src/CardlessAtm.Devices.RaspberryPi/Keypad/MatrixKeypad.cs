using System.Device.Gpio;
using CardlessAtm.Devices.Keypad;
using CardlessAtm.Devices.RaspberryPi.Input;
using CardlessAtm.Devices.Status;
using Iot.Device.KeyMatrix;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Devices.RaspberryPi.Keypad;

/// <summary>
/// A matrix keypad scanned by Iot.Device.Bindings' <see cref="KeyMatrix"/>, made fit for an ATM:
/// every key is debounced on the injected clock (KeyMatrix reports each raw bounce), one physical
/// press gives exactly one <see cref="KeyPress"/> however long it is held (no auto-repeat), and
/// while one key is held others are ignored — two-key lockout, which also hides the phantom keys
/// a diode-less matrix shows when three keys are held.
/// </summary>
public sealed class MatrixKeypad : IKeypad, IDisposable
{
    private readonly KeyMatrix _matrix;
    private readonly SettleFilter _filter;
    private readonly KeyPressQueue _queue = new();
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly AtmKey?[,] _map;
    private readonly int _columns;
    private readonly TimeSpan _scanInterval;
    private readonly Lock _gate = new();
    private int? _heldKey;
    private int _disposed;

    /// <summary>Starts scanning the keypad on <paramref name="gpio"/> (the controller stays the caller's).</summary>
    /// <exception cref="ConfigurationException">A setting is invalid.</exception>
    public MatrixKeypad(GpioController gpio, MatrixKeypadOptions options, TimeProvider? time = null, ILogger<MatrixKeypad>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(gpio);
        ArgumentNullException.ThrowIfNull(options);
        new MatrixKeypadOptionsValidator(nameof(MatrixKeypadOptions)).ThrowIfInvalid(options);
        _map = MatrixKeyMap.Build(options);
        _time = time ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _columns = options.ColumnPins.Length;
        _scanInterval = TimeSpan.FromMilliseconds(options.ScanIntervalMilliseconds);
        _filter = new SettleFilter(_time, TimeSpan.FromMilliseconds(options.DebounceMilliseconds), options.RowPins.Length * _columns, OnSettled);
        Status = new KeypadStatus($"Matrix keypad {options.RowPins.Length}x{_columns}");
        _matrix = new KeyMatrix(options.RowPins, options.ColumnPins, _scanInterval, options.InternalPullDown ? PinMode.InputPullDown : PinMode.Input, gpio, shouldDispose: false);
        _matrix.KeyEvent += OnRawEvent;
        _matrix.StartListeningKeyEvent();
        Status.Device = DeviceState.Online;
    }

    /// <inheritdoc />
    public KeypadStatus Status { get; }

    /// <inheritdoc />
    public ValueTask<KeyPress> ReadKeyAsync(CancellationToken cancellationToken) => _queue.ReadAsync(cancellationToken);

    /// <inheritdoc />
    public void DiscardPending()
    {
        var discarded = _queue.DiscardPending();
        if (discarded > 0)
        {
            _logger.LogDebug("Keypad: discarded {Count} press(es) made before the current screen", discarded);
        }
    }

    /// <summary>Stops the scan and releases the keypad's pins.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _matrix.KeyEvent -= OnRawEvent;
        _matrix.StopListeningKeyEvent();

        // KeyMatrix's scan thread finishes the row it is on after StopListening; give it that long
        // before its pins close, or it would write to a closed pin on its own thread.
        Thread.Sleep((_scanInterval * 2) + TimeSpan.FromMilliseconds(10));
        _matrix.Dispose();
        _filter.Dispose();
        Status.Device = DeviceState.Offline;
    }

    private void OnRawEvent(object sender, KeyMatrixEvent e)
    {
        try
        {
            _filter.Raw((e.Output * _columns) + e.Input, e.EventType == PinEventTypes.Rising);
        }
        catch (Exception ex)
        {
            // This runs on KeyMatrix's own thread, where an exception would end the process.
            _logger.LogError(ex, "Keypad: failed to handle a scan event for row {Row} column {Column}", e.Output, e.Input);
        }
    }

    private void OnSettled(int channel, bool down, bool changed)
    {
        if (!changed)
        {
            return;
        }

        var row = channel / _columns;
        var column = channel % _columns;
        lock (_gate)
        {
            if (!down)
            {
                if (_heldKey == channel)
                {
                    _heldKey = null;
                }

                return;
            }

            // Two keys down together: the second is a slip of the finger. But a key whose lift is still settling is up
            // already; the next key, pressed as it was lifted, counts.
            if (_heldKey is { } held && held != channel && _filter.RawLevel(held))
            {
                _logger.LogDebug("Keypad: row {Row} column {Column} ignored while another key is held", row, column);
                return;
            }

            _heldKey = channel;
        }

        if (_map[row, column] is not { } key)
        {
            _logger.LogWarning("Keypad: row {Row} column {Column} was pressed but has no key in the key map", row + 1, column + 1);
            return;
        }

        _queue.Add(new KeyPress(key, _time.GetUtcNow()));
    }
}
