using System.Device.Gpio;
using Microsoft.Extensions.Time.Testing;

namespace CardlessAtm.FirmwareSim.Gpio;

/// <summary>
/// A simulated Raspberry Pi GPIO header with the ATM's parts wired to it: switches (door reed
/// contacts, cassette presence, shutter, tamper), a key matrix, and any output a driver drives
/// (e.g. the ILI9341's D/C pin). Drivers reach it through <see cref="CreateController"/>, a real
/// <see cref="GpioController"/> over a <see cref="GpioDriver"/> of ours — so the code under test is
/// the code that runs on the Pi.
/// </summary>
/// <remarks>
/// Scripts (<see cref="SimulatedSwitch.Bounce"/>, <see cref="Advance"/>) move the board's clock.
/// When the clock is a <see cref="FakeTimeProvider"/> it is advanced, so drivers that share it see
/// their timers fire at exact simulated instants; any other clock is waited on in real time.
/// Pin-change callbacks run synchronously on the thread that changed the level.
/// </remarks>
public sealed class VirtualGpioBoard
{
    private readonly Lock _gate = new();
    private readonly PinState[] _pins;
    private readonly List<SimulatedSwitch> _switches = [];
    private readonly List<SimulatedKeyMatrix> _matrices = [];

    /// <summary>Creates a board with <paramref name="pinCount"/> GPIO lines (BCM 0 … pinCount-1).</summary>
    /// <param name="clock">The board's clock; pass a <see cref="FakeTimeProvider"/> for deterministic tests.</param>
    /// <param name="pinCount">Number of GPIO lines (the Pi 4/5 header exposes BCM 0–27).</param>
    public VirtualGpioBoard(TimeProvider clock, int pinCount = 28)
    {
        ArgumentNullException.ThrowIfNull(clock);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pinCount);
        Clock = clock;
        _pins = new PinState[pinCount];
        for (var i = 0; i < pinCount; i++)
        {
            _pins[i] = new PinState();
        }
    }

    /// <summary>The board's clock (shared with the drivers under test).</summary>
    public TimeProvider Clock { get; }

    /// <summary>Number of GPIO lines.</summary>
    public int PinCount => _pins.Length;

    /// <summary>A new <see cref="GpioDriver"/> over this board's lines.</summary>
    public GpioDriver CreateDriver() => new VirtualGpioDriver(this);

    /// <summary>A new controller over this board (disposing it closes the pins it opened; the board stays).</summary>
    public GpioController CreateController() => new(CreateDriver());

    /// <summary>Wires a switch between <paramref name="pin"/> and a supply rail.</summary>
    /// <param name="name">A name for scripts and messages, e.g. <c>SafeDoor</c>.</param>
    /// <param name="pin">BCM pin number.</param>
    /// <param name="closedLevel">The level the pin is pulled to while the contact is closed (Low for a switch to GND).</param>
    /// <param name="closed">Whether the contact starts closed.</param>
    public SimulatedSwitch AddSwitch(string name, int pin, PinValue closedLevel, bool closed)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        CheckPin(pin);
        var sw = new SimulatedSwitch(this, name, pin, closedLevel, closed);
        lock (_gate)
        {
            if (_pins[pin].Wired is { } other)
            {
                throw new InvalidOperationException($"Pin {pin} is already wired to '{other}'; cannot wire '{name}' to it.");
            }

            _pins[pin].Wired = name;
            _switches.Add(sw);
        }

        Propagate();
        return sw;
    }

    /// <summary>
    /// Wires a key matrix: each key connects a row line (driven by the scanner) to a column line
    /// (read by the scanner). <paramref name="rowPins"/> are the scanner's outputs.
    /// </summary>
    public SimulatedKeyMatrix AddKeyMatrix(string name, IReadOnlyList<int> rowPins, IReadOnlyList<int> columnPins)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(rowPins);
        ArgumentNullException.ThrowIfNull(columnPins);
        var matrix = new SimulatedKeyMatrix(this, name, [.. rowPins], [.. columnPins]);
        lock (_gate)
        {
            foreach (var pin in matrix.RowPins.Concat(matrix.ColumnPins))
            {
                CheckPin(pin);
                if (_pins[pin].Wired is { } other)
                {
                    throw new InvalidOperationException($"Pin {pin} is already wired to '{other}'; cannot wire '{name}' to it.");
                }
            }

            foreach (var pin in matrix.RowPins.Concat(matrix.ColumnPins))
            {
                _pins[pin].Wired = name;
            }

            _matrices.Add(matrix);
        }

        Propagate();
        return matrix;
    }

    /// <summary>Moves the board's clock forward (advances a fake clock; sleeps on a real one).</summary>
    public void Advance(TimeSpan by)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(by, TimeSpan.Zero);
        if (Clock is FakeTimeProvider fake)
        {
            fake.Advance(by);
        }
        else if (by > TimeSpan.Zero)
        {
            Thread.Sleep(by);
        }
    }

    /// <summary>The level a reader of <paramref name="pin"/> sees now.</summary>
    public PinValue LevelOf(int pin)
    {
        CheckPin(pin);
        lock (_gate)
        {
            return _pins[pin].Level;
        }
    }

    /// <summary>Whether a driver currently has <paramref name="pin"/> open, and in which mode.</summary>
    public PinMode? ModeOf(int pin)
    {
        CheckPin(pin);
        lock (_gate)
        {
            return _pins[pin].IsOpen ? _pins[pin].Mode : null;
        }
    }

    /// <summary>How many times the pin has been read since the board was made.</summary>
    public long ReadCount(int pin)
    {
        CheckPin(pin);
        return Interlocked.Read(ref _pins[pin].Reads);
    }

    /// <summary>How many times a driver has driven the pin High (used to follow a scanner).</summary>
    public long HighWriteCount(int pin)
    {
        CheckPin(pin);
        return Interlocked.Read(ref _pins[pin].HighWrites);
    }

    /// <summary>Raised after a driver wrote an output (pin, level) — the panel emulator follows D/C and RESET with it.</summary>
    public event EventHandler<PinWrittenEventArgs>? OutputWritten;

    internal void CheckPin(int pin)
    {
        if ((uint)pin >= (uint)_pins.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(pin), pin, $"The virtual board has GPIO 0–{_pins.Length - 1}; pin {pin} does not exist.");
        }
    }

    internal void Open(int pin)
    {
        CheckPin(pin);
        lock (_gate)
        {
            var state = _pins[pin];
            state.IsOpen = true;
            state.Mode = PinMode.Input;
        }

        Propagate();
    }

    internal void Close(int pin)
    {
        CheckPin(pin);
        lock (_gate)
        {
            var state = _pins[pin];
            state.IsOpen = false;
            state.Callbacks.Clear();
        }

        Propagate();
    }

    internal void SetMode(int pin, PinMode mode, PinValue? initial)
    {
        lock (_gate)
        {
            var state = _pins[pin];
            state.Mode = mode;
            if (initial is { } value)
            {
                state.OutputLatch = value;
            }
        }

        Propagate();
    }

    internal PinMode GetMode(int pin)
    {
        lock (_gate)
        {
            return _pins[pin].Mode;
        }
    }

    internal PinValue Read(int pin)
    {
        Interlocked.Increment(ref _pins[pin].Reads);
        lock (_gate)
        {
            return _pins[pin].Level;
        }
    }

    internal void Write(int pin, PinValue value)
    {
        lock (_gate)
        {
            var state = _pins[pin];
            if (state.Mode != PinMode.Output)
            {
                // A real line ignores the latch until it is an output; keep it for SetPinMode(Output).
                state.OutputLatch = value;
                return;
            }

            state.OutputLatch = value;
        }

        if (value == PinValue.High)
        {
            Interlocked.Increment(ref _pins[pin].HighWrites);
        }

        Propagate();
        OutputWritten?.Invoke(this, new PinWrittenEventArgs(pin, value));
    }

    internal void AddCallback(int pin, PinEventTypes types, PinChangeEventHandler callback)
    {
        lock (_gate)
        {
            _pins[pin].Callbacks.Add((types, callback));
        }
    }

    internal void RemoveCallback(int pin, PinChangeEventHandler callback)
    {
        lock (_gate)
        {
            _pins[pin].Callbacks.RemoveAll(c => c.Callback == callback);
        }
    }

    /// <summary>Recomputes every line's level from outputs, switches, matrix keys and pulls, then raises edge callbacks.</summary>
    internal void Propagate()
    {
        List<(PinChangeEventHandler Callback, PinValueChangedEventArgs Args)> edges = [];
        lock (_gate)
        {
            for (var pin = 0; pin < _pins.Length; pin++)
            {
                var state = _pins[pin];
                var level = ComputeLevel(pin, state);
                if (level == state.Level)
                {
                    continue;
                }

                state.Level = level;
                var type = level == PinValue.High ? PinEventTypes.Rising : PinEventTypes.Falling;
                foreach (var (types, callback) in state.Callbacks)
                {
                    if ((types & type) != 0)
                    {
                        edges.Add((callback, new PinValueChangedEventArgs(type, pin)));
                    }
                }
            }
        }

        foreach (var (callback, args) in edges)
        {
            callback(this, args);
        }
    }

    private PinValue ComputeLevel(int pin, PinState state)
    {
        if (state.IsOpen && state.Mode == PinMode.Output)
        {
            return state.OutputLatch;
        }

        foreach (var sw in _switches)
        {
            if (sw.Pin == pin && sw.IsClosed)
            {
                return sw.ClosedLevel;
            }
        }

        foreach (var matrix in _matrices)
        {
            var driven = matrix.DrivenLevel(pin, rowPin => _pins[rowPin].IsOpen && _pins[rowPin].Mode == PinMode.Output ? _pins[rowPin].OutputLatch : null);
            if (driven is { } level)
            {
                return level;
            }
        }

        // An undriven line floats; a pull resistor decides it. A floating line without a pull reads Low here.
        return state.IsOpen && state.Mode == PinMode.InputPullUp ? PinValue.High : PinValue.Low;
    }

    private sealed class PinState
    {
        public bool IsOpen;
        public PinMode Mode = PinMode.Input;
        public PinValue OutputLatch = PinValue.Low;
        public PinValue Level = PinValue.Low;
        public string? Wired;
        public long Reads;
        public long HighWrites;
        public readonly List<(PinEventTypes Types, PinChangeEventHandler Callback)> Callbacks = [];
    }
}

/// <summary>A driver wrote an output line.</summary>
/// <param name="Pin">BCM pin number.</param>
/// <param name="Value">The level written.</param>
public sealed class PinWrittenEventArgs(int Pin, PinValue Value) : EventArgs
{
    /// <summary>BCM pin number.</summary>
    public int Pin { get; } = Pin;

    /// <summary>The level written.</summary>
    public PinValue Value { get; } = Value;
}
