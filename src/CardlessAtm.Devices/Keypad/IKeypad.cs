using CardlessAtm.Devices.Status;

namespace CardlessAtm.Devices.Keypad;

/// <summary>A key on the ATM's keypad or an on-screen button mapped to one.</summary>
public enum AtmKey
{
    /// <summary>Digit 0.</summary>
    D0,

    /// <summary>Digit 1.</summary>
    D1,

    /// <summary>Digit 2.</summary>
    D2,

    /// <summary>Digit 3.</summary>
    D3,

    /// <summary>Digit 4.</summary>
    D4,

    /// <summary>Digit 5.</summary>
    D5,

    /// <summary>Digit 6.</summary>
    D6,

    /// <summary>Digit 7.</summary>
    D7,

    /// <summary>Digit 8.</summary>
    D8,

    /// <summary>Digit 9.</summary>
    D9,

    /// <summary>Confirm.</summary>
    Enter,

    /// <summary>Abort the transaction.</summary>
    Cancel,

    /// <summary>Clear the entry.</summary>
    Clear,

    /// <summary>Function key 1 (e.g. "cardless withdrawal").</summary>
    F1,

    /// <summary>Function key 2.</summary>
    F2,

    /// <summary>Function key 3.</summary>
    F3,

    /// <summary>Function key 4.</summary>
    F4,
}

/// <summary>One debounced key press.</summary>
/// <param name="Key">The key.</param>
/// <param name="At">When it was pressed (from the device's <see cref="TimeProvider"/>).</param>
public readonly record struct KeyPress(AtmKey Key, DateTimeOffset At)
{
    /// <summary>The digit value 0–9, or null for a non-digit key.</summary>
    public int? Digit => Key is >= AtmKey.D0 and <= AtmKey.D9 ? Key - AtmKey.D0 : null;
}

/// <summary>Keypad or touch input: a stream of debounced key presses.</summary>
public interface IKeypad
{
    /// <summary>The keypad's status.</summary>
    KeypadStatus Status { get; }

    /// <summary>Waits for the next key press.</summary>
    /// <exception cref="OperationCanceledException">Cancelled before a key was pressed.</exception>
    ValueTask<KeyPress> ReadKeyAsync(CancellationToken cancellationToken);

    /// <summary>Discards presses queued before now (so a key pressed on an earlier screen is not taken as an answer).</summary>
    void DiscardPending();
}

/// <summary>Status of a keypad.</summary>
public sealed class KeypadStatus(string deviceName) : DeviceStatus(deviceName);
