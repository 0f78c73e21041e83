using CardlessAtm.Devices.Display;
using CardlessAtm.Devices.Status;

namespace CardlessAtm.Devices.Simulated;

/// <summary>An in-memory display: keeps the last screen and a bounded history for tests and the demo.</summary>
public sealed class SimulatedDisplay : IDisplay
{
    private const int HistoryLimit = 256;
    private readonly Lock _gate = new();
    private readonly Queue<Screen> _history = new();

    /// <summary>Creates a display with the given capabilities (default: a 240×320 graphic panel).</summary>
    public SimulatedDisplay(DisplayCapabilities? capabilities = null)
    {
        Capabilities = capabilities ?? new DisplayCapabilities("Simulated 240x320", 240, 320, 20, 12, CanShowQr: true);
        Status = new DisplayStatus("Display") { Device = DeviceState.Online };
    }

    /// <inheritdoc />
    public DisplayCapabilities Capabilities { get; }

    /// <inheritdoc />
    public DisplayStatus Status { get; }

    /// <summary>Raised after a screen is shown.</summary>
    public event EventHandler<Screen>? Shown;

    /// <summary>The screen shown last, or null.</summary>
    public Screen? Current { get; private set; }

    /// <summary>Screens shown, oldest first (the last 256).</summary>
    public IReadOnlyList<Screen> History
    {
        get
        {
            lock (_gate)
            {
                return [.. _history];
            }
        }
    }

    /// <inheritdoc />
    public Task ShowAsync(Screen screen, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(screen);
        cancellationToken.ThrowIfCancellationRequested();
        if (screen.Qr is not null && !Capabilities.CanShowQr)
        {
            throw new QrNotSupportedException(Capabilities.Name);
        }

        lock (_gate)
        {
            if (Equals(Current, screen))
            {
                return Task.CompletedTask;
            }

            Current = screen;
            _history.Enqueue(screen);
            while (_history.Count > HistoryLimit)
            {
                _history.Dequeue();
            }
        }

        Shown?.Invoke(this, screen);
        return Task.CompletedTask;
    }
}
