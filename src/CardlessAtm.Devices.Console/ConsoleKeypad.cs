using System.Threading.Channels;
using CardlessAtm.Devices.Keypad;
using CardlessAtm.Devices.Status;

namespace CardlessAtm.Devices.Console;

/// <summary>
/// The keyboard (or any text stream, e.g. a script piped to standard input) as the ATM keypad: digits are
/// digits, Enter or <c>E</c> confirms, <c>C</c> or Escape cancels, <c>X</c> or Backspace clears,
/// <c>1</c>–<c>4</c> after <c>F</c> are function keys. Other characters are ignored. When the input ends
/// the keypad goes offline.
/// </summary>
public sealed class ConsoleKeypad : IKeypad, IDisposable
{
    private readonly Channel<KeyPress> _keys = Channel.CreateUnbounded<KeyPress>();
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();

    /// <summary>Starts reading keys from <paramref name="input"/> in the background.</summary>
    public ConsoleKeypad(TextReader input, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(input);
        _time = time;
        Status.Device = DeviceState.Online;
        _ = Task.Run(() => ReadAsync(input, _stop.Token));
    }

    /// <inheritdoc />
    public KeypadStatus Status { get; } = new("Keypad");

    /// <summary>Maps one character to a key, or null for a character that is not a key.</summary>
    public static AtmKey? Map(char c, bool afterF) => c switch
    {
        >= '1' and <= '4' when afterF => AtmKey.F1 + (c - '1'),
        >= '0' and <= '9' => AtmKey.D0 + (c - '0'),
        '\n' or '\r' or 'e' or 'E' => AtmKey.Enter,
        'c' or 'C' or '\u001b' => AtmKey.Cancel,
        'x' or 'X' or '\b' or '\u007f' => AtmKey.Clear,
        _ => null,
    };

    /// <inheritdoc />
    public ValueTask<KeyPress> ReadKeyAsync(CancellationToken cancellationToken) => _keys.Reader.ReadAsync(cancellationToken);

    /// <inheritdoc />
    public void DiscardPending()
    {
        while (_keys.Reader.TryRead(out _))
        {
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _stop.Cancel();
        _stop.Dispose();
    }

    private async Task ReadAsync(TextReader input, CancellationToken cancellationToken)
    {
        var buffer = new char[1];
        var afterF = false;
        try
        {
            while (!cancellationToken.IsCancellationRequested && await input.ReadAsync(buffer, cancellationToken) == 1)
            {
                var c = buffer[0];
                if (c is 'f' or 'F')
                {
                    afterF = true;
                    continue;
                }

                if (Map(c, afterF) is { } key)
                {
                    _keys.Writer.TryWrite(new KeyPress(key, _time.GetUtcNow()));
                }

                afterF = false;
            }
        }
        catch (OperationCanceledException)
        {
            return;
        }

        Status.Device = DeviceState.Offline;
    }
}
