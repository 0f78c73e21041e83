using CardlessAtm.Devices.Display;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Devices.RaspberryPi.Display;

/// <summary>
/// The customer display (which shows the QR) with a text display beside it — e.g. the TFT plus a
/// 20×4 character LCD on the service side. Every screen goes to both; the second gets it without
/// the QR. Capabilities and status are the customer display's: a fault of the second display is
/// logged and shown on its own status, and never stops a withdrawal.
/// </summary>
public sealed class MirroredDisplay : IDisplay, IDisposable
{
    private readonly IDisplay _customer;
    private readonly IDisplay _secondary;
    private readonly ILogger _logger;

    /// <summary>Pairs a QR-capable customer display with a secondary text display.</summary>
    /// <exception cref="ArgumentException"><paramref name="customer"/> cannot show a QR code.</exception>
    public MirroredDisplay(IDisplay customer, IDisplay secondary, ILogger<MirroredDisplay>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(customer);
        ArgumentNullException.ThrowIfNull(secondary);
        if (!customer.Capabilities.CanShowQr)
        {
            throw new ArgumentException($"The customer display '{customer.Capabilities.Name}' cannot show a QR code; a graphic display is needed for the QR.", nameof(customer));
        }

        _customer = customer;
        _secondary = secondary;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <inheritdoc />
    public DisplayCapabilities Capabilities => _customer.Capabilities;

    /// <inheritdoc />
    public DisplayStatus Status => _customer.Status;

    /// <summary>The secondary display's status.</summary>
    public DisplayStatus SecondaryStatus => _secondary.Status;

    /// <inheritdoc />
    public async Task ShowAsync(Screen screen, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(screen);
        await _customer.ShowAsync(screen, cancellationToken);
        try
        {
            await _secondary.ShowAsync(screen.Qr is null ? screen : screen with { Qr = null }, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            _logger.LogError(ex, "Secondary display {Display} failed to show '{Title}'; the customer display is unaffected", _secondary.Capabilities.Name, screen.Title);
        }
    }

    /// <summary>Disposes both displays.</summary>
    public void Dispose()
    {
        (_customer as IDisposable)?.Dispose();
        (_secondary as IDisposable)?.Dispose();
    }
}
