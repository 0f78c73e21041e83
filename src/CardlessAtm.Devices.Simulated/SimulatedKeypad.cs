using System.Threading.Channels;
using CardlessAtm.Devices.Keypad;
using CardlessAtm.Devices.Status;

namespace CardlessAtm.Devices.Simulated;

/// <summary>A keypad fed by a script: tests and the demo "press" keys.</summary>
public sealed class SimulatedKeypad(TimeProvider timeProvider) : IKeypad
{
    private readonly Channel<KeyPress> _keys = Channel.CreateUnbounded<KeyPress>();

    /// <inheritdoc />
    public KeypadStatus Status { get; } = new KeypadStatus("Keypad") { Device = DeviceState.Online };

    /// <summary>Presses keys in order.</summary>
    public void Press(params AtmKey[] keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        foreach (var key in keys)
        {
            _keys.Writer.TryWrite(new KeyPress(key, timeProvider.GetUtcNow()));
        }
    }

    /// <summary>Types digits, e.g. "50" presses 5 then 0.</summary>
    /// <exception cref="ArgumentException">The text holds something other than digits.</exception>
    public void Type(string digits)
    {
        ArgumentNullException.ThrowIfNull(digits);
        var bad = digits.FirstOrDefault(c => !char.IsAsciiDigit(c));
        if (bad != default)
        {
            throw new ArgumentException($"The keypad has no key '{bad}'; type digits only.", nameof(digits));
        }

        Press([.. digits.Select(c => AtmKey.D0 + (c - '0'))]);
    }

    /// <inheritdoc />
    public ValueTask<KeyPress> ReadKeyAsync(CancellationToken cancellationToken) => _keys.Reader.ReadAsync(cancellationToken);

    /// <inheritdoc />
    public void DiscardPending()
    {
        while (_keys.Reader.TryRead(out _))
        {
        }
    }
}
