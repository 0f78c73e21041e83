namespace CardlessAtm.Qr.Rendering;

/// <summary>A rectangle of pixels in a frame: left, top, width, height.</summary>
/// <param name="X">Left edge, in pixels from the frame's left.</param>
/// <param name="Y">Top edge, in pixels from the frame's top.</param>
/// <param name="Width">Width in pixels.</param>
/// <param name="Height">Height in pixels.</param>
public readonly record struct PixelRect(int X, int Y, int Width, int Height)
{
    /// <summary>Pixels in the rectangle.</summary>
    public int Area => Width * Height;

    /// <inheritdoc />
    public override string ToString() => $"{Width}x{Height} at ({X},{Y})";
}

/// <summary>Where a QR code lands in a frame.</summary>
/// <param name="PixelsPerModule">The side of one module, in pixels.</param>
/// <param name="Symbol">The symbol including its quiet zone: the square a panel driver sends to show the code.</param>
/// <param name="Modules">The module grid without the quiet zone.</param>
public readonly record struct QrPlacement(int PixelsPerModule, PixelRect Symbol, PixelRect Modules);
