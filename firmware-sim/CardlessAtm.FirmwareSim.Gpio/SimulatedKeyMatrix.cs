using System.Device.Gpio;

namespace CardlessAtm.FirmwareSim.Gpio;

/// <summary>
/// A membrane key matrix on the virtual board: key (row, column) connects the row line to the
/// column line while it is held. A scanner (e.g. <c>Iot.Device.KeyMatrix</c>) drives one row High
/// at a time and reads the columns.
/// </summary>
public sealed class SimulatedKeyMatrix
{
    private readonly VirtualGpioBoard _board;
    private readonly bool[,] _held;
    private readonly Lock _gate = new();

    internal SimulatedKeyMatrix(VirtualGpioBoard board, string name, int[] rowPins, int[] columnPins)
    {
        if (rowPins.Length == 0 || columnPins.Length == 0)
        {
            throw new ArgumentException($"Key matrix '{name}' needs at least one row pin and one column pin.");
        }

        _board = board;
        Name = name;
        RowPins = rowPins;
        ColumnPins = columnPins;
        _held = new bool[rowPins.Length, columnPins.Length];
    }

    /// <summary>The name it was wired with.</summary>
    public string Name { get; }

    /// <summary>Row lines (the scanner's outputs), top row first.</summary>
    public IReadOnlyList<int> RowPins { get; }

    /// <summary>Column lines (the scanner's inputs), left column first.</summary>
    public IReadOnlyList<int> ColumnPins { get; }

    /// <summary>Whether key (row, column) is held now.</summary>
    public bool IsHeld(int row, int column)
    {
        CheckKey(row, column);
        lock (_gate)
        {
            return _held[row, column];
        }
    }

    /// <summary>Presses (true) or releases (false) key (row, column) with a clean edge.</summary>
    public void Set(int row, int column, bool held)
    {
        CheckKey(row, column);
        lock (_gate)
        {
            _held[row, column] = held;
        }

        _board.Propagate();
    }

    /// <summary>
    /// A clean key press: holds key (row, column) until the scanner has seen it, keeps it held for
    /// <paramref name="hold"/> of board time, releases it and waits for the scanner again.
    /// </summary>
    public void Tap(int row, int column, TimeSpan hold, TimeSpan scanTimeout)
    {
        Set(row, column, held: true);
        WaitForScan(scanTimeout);
        _board.Advance(hold);
        Set(row, column, held: false);
        WaitForScan(scanTimeout);
    }

    /// <summary>
    /// Waits (in real time, because a matrix scanner runs on its own thread) until every row has
    /// been driven High <paramref name="rowActivations"/> more times — i.e. the scanner has read
    /// the matrix as it is now. Two activations guarantee one complete read after this call.
    /// </summary>
    /// <exception cref="TimeoutException">The scanner did not scan within <paramref name="timeout"/> (is it running?).</exception>
    public void WaitForScan(TimeSpan timeout, int rowActivations = 2)
    {
        var start = RowPins.Select(p => _board.HighWriteCount(p)).ToArray();
        var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (true)
        {
            var done = true;
            for (var i = 0; i < RowPins.Count; i++)
            {
                if (_board.HighWriteCount(RowPins[i]) < start[i] + rowActivations)
                {
                    done = false;
                    break;
                }
            }

            if (done)
            {
                return;
            }

            if (Environment.TickCount64 > deadline)
            {
                throw new TimeoutException($"Key matrix '{Name}' was not scanned within {timeout.TotalMilliseconds} ms; is the scanner running?");
            }

            Thread.Sleep(1);
        }
    }

    /// <summary>
    /// Makes key (row, column) chatter: <paramref name="toggles"/> changes spread over
    /// <paramref name="duration"/> of board time, waiting after each change until the scanner has
    /// seen it (so every bounce reaches the driver), then it rests <paramref name="finallyHeld"/>.
    /// </summary>
    public void Bounce(int row, int column, int toggles, TimeSpan duration, bool finallyHeld, TimeSpan scanTimeout)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(toggles);
        var step = duration / toggles;
        for (var i = 0; i < toggles; i++)
        {
            Set(row, column, !IsHeld(row, column));
            WaitForScan(scanTimeout);
            _board.Advance(step);
        }

        Set(row, column, finallyHeld);
        WaitForScan(scanTimeout);
    }

    /// <summary>The level a held key forces onto <paramref name="pin"/> if it is a column line, else null.</summary>
    internal PinValue? DrivenLevel(int pin, Func<int, PinValue?> rowOutput)
    {
        var column = Array.IndexOf((int[])ColumnPins, pin);
        if (column < 0)
        {
            return null;
        }

        PinValue? level = null;
        lock (_gate)
        {
            for (var row = 0; row < RowPins.Count; row++)
            {
                if (!_held[row, column] || rowOutput(RowPins[row]) is not { } driven)
                {
                    continue;
                }

                if (driven == PinValue.High)
                {
                    return PinValue.High;
                }

                level = PinValue.Low;
            }
        }

        return level;
    }

    private void CheckKey(int row, int column)
    {
        if ((uint)row >= (uint)RowPins.Count || (uint)column >= (uint)ColumnPins.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(row), $"Key ({row},{column}) is outside the {RowPins.Count}×{ColumnPins.Count} matrix '{Name}'.");
        }
    }
}
