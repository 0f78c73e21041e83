using System.Threading.Channels;
using CardlessAtm.Devices.Keypad;

namespace CardlessAtm.Devices.RaspberryPi.Keypad;

/// <summary>The queue of debounced presses behind <see cref="IKeypad.ReadKeyAsync"/> (shared by the matrix keypad and the touch keypad).</summary>
internal sealed class KeyPressQueue
{
    private readonly Channel<KeyPress> _presses = Channel.CreateUnbounded<KeyPress>(new UnboundedChannelOptions { SingleReader = false, SingleWriter = false });

    public void Add(KeyPress press) => _presses.Writer.TryWrite(press);

    public ValueTask<KeyPress> ReadAsync(CancellationToken cancellationToken) => _presses.Reader.ReadAsync(cancellationToken);

    public int DiscardPending()
    {
        var discarded = 0;
        while (_presses.Reader.TryRead(out _))
        {
            discarded++;
        }

        return discarded;
    }
}
