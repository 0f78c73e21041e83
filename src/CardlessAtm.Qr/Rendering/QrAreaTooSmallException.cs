namespace CardlessAtm.Qr.Rendering;

/// <summary>
/// A display (or the area of it given to the QR code) cannot draw the largest session QR code with at least
/// <see cref="QrFrameRenderer.MinimumPixelsPerModule"/> pixels per module plus the quiet zone. Raised when the
/// display is configured, never while a customer waits.
/// </summary>
public sealed class QrAreaTooSmallException : ArgumentException
{
    /// <summary>Creates the error.</summary>
    public QrAreaTooSmallException(string displayName, PixelRect area, int version, int requiredSidePixels)
        : base($"Display '{displayName}': the QR area {area.Width}x{area.Height} px is too small for a version-{version} QR code "
            + $"({17 + (4 * version)} modules plus a {QrFrameRenderer.QuietZoneModules}-module quiet zone on each side) at "
            + $"{QrFrameRenderer.MinimumPixelsPerModule} pixels per module; it needs at least {requiredSidePixels}x{requiredSidePixels} px.")
    {
        DisplayName = displayName;
        Area = area;
        Version = version;
        RequiredSidePixels = requiredSidePixels;
    }

    /// <summary>The display's name as configured.</summary>
    public string DisplayName { get; }

    /// <summary>The area that was offered.</summary>
    public PixelRect Area { get; }

    /// <summary>The QR version that must fit.</summary>
    public int Version { get; }

    /// <summary>The side of the smallest square area that would do, in pixels.</summary>
    public int RequiredSidePixels { get; }
}
