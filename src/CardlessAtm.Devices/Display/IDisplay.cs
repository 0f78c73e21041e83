using CardlessAtm.Devices.Status;

namespace CardlessAtm.Devices.Display;

/// <summary>The customer display: shows one <see cref="Screen"/> at a time.</summary>
public interface IDisplay
{
    /// <summary>What the display can show (size, whether it can draw a QR code).</summary>
    DisplayCapabilities Capabilities { get; }

    /// <summary>The display's status.</summary>
    DisplayStatus Status { get; }

    /// <summary>
    /// Shows the screen. Implementations redraw only what changed since the last screen.
    /// A device fault is reported through <see cref="Status"/>, not thrown.
    /// </summary>
    /// <exception cref="QrNotSupportedException">The screen carries a QR code and this display cannot show one.</exception>
    Task ShowAsync(Screen screen, CancellationToken cancellationToken);
}

/// <summary>What a display can show.</summary>
/// <param name="Name">Model or kind, e.g. <c>ILI9341 240x320</c>, used in messages.</param>
/// <param name="WidthPixels">Width in pixels (0 for a character display).</param>
/// <param name="HeightPixels">Height in pixels (0 for a character display).</param>
/// <param name="TextColumns">Characters per text line.</param>
/// <param name="TextRows">Text lines.</param>
/// <param name="CanShowQr">Whether a QR code can be drawn (a graphic display, or a console with half-block characters).</param>
public sealed record DisplayCapabilities(string Name, int WidthPixels, int HeightPixels, int TextColumns, int TextRows, bool CanShowQr);

/// <summary>Status of a display.</summary>
public sealed class DisplayStatus(string deviceName) : DeviceStatus(deviceName);

/// <summary>A screen was sent with a QR code to a display that cannot draw one.</summary>
public sealed class QrNotSupportedException(string displayName)
    : InvalidOperationException($"The display '{displayName}' cannot show a QR code; a graphic display (e.g. ILI9341) or the console display is needed for the QR.");
