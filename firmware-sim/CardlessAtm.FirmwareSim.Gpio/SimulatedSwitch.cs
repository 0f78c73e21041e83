using System.Device.Gpio;

namespace CardlessAtm.FirmwareSim.Gpio;

/// <summary>A contact on the virtual board between one GPIO line and a supply rail (a reed switch, micro switch, tamper switch…).</summary>
public sealed class SimulatedSwitch
{
    private readonly VirtualGpioBoard _board;
    private volatile bool _closed;

    internal SimulatedSwitch(VirtualGpioBoard board, string name, int pin, PinValue closedLevel, bool closed)
    {
        _board = board;
        Name = name;
        Pin = pin;
        ClosedLevel = closedLevel;
        _closed = closed;
    }

    /// <summary>The name it was wired with.</summary>
    public string Name { get; }

    /// <summary>BCM pin number.</summary>
    public int Pin { get; }

    /// <summary>The level the line is pulled to while the contact is closed.</summary>
    public PinValue ClosedLevel { get; }

    /// <summary>Whether the contact is closed now.</summary>
    public bool IsClosed => _closed;

    /// <summary>Closes or opens the contact at once (a clean edge).</summary>
    public void Set(bool closed)
    {
        _closed = closed;
        _board.Propagate();
    }

    /// <summary>
    /// Makes the contact chatter: <paramref name="toggles"/> changes spread evenly over
    /// <paramref name="duration"/> of board time, then it rests <paramref name="finallyClosed"/>.
    /// E.g. <c>Bounce(20, 5 ms, true)</c> is a switch that bounces 20 times in 5 ms while closing.
    /// </summary>
    public void Bounce(int toggles, TimeSpan duration, bool finallyClosed)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(toggles);
        ArgumentOutOfRangeException.ThrowIfLessThan(duration, TimeSpan.Zero);
        var step = duration / toggles;
        for (var i = 0; i < toggles; i++)
        {
            Set(!_closed);
            _board.Advance(step);
        }

        Set(finallyClosed);
    }
}
