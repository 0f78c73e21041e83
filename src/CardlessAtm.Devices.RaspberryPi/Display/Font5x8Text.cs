using Iot.Device.Graphics;

namespace CardlessAtm.Devices.RaspberryPi.Display;

/// <summary>Draws text into an RGB565 frame with Iot.Device.Bindings' 5×8 font, scaled by whole pixels (a 6×8 cell per character at scale 1).</summary>
internal static class Font5x8Text
{
    private static readonly Font5x8 Font = new();

    /// <summary>Width of one character cell at <paramref name="scale"/>.</summary>
    public static int CellWidth(int scale) => 6 * scale;

    /// <summary>Height of one character cell at <paramref name="scale"/>.</summary>
    public static int CellHeight(int scale) => 8 * scale;

    /// <summary>How many characters fit in <paramref name="widthPixels"/>.</summary>
    public static int Fit(int widthPixels, int scale) => Math.Max(0, widthPixels / CellWidth(scale));

    /// <summary>
    /// Draws <paramref name="text"/> from (x, y) into a <paramref name="frameWidth"/>-wide frame, clipped to
    /// <paramref name="clip"/>; characters the font lacks show as '?'.
    /// </summary>
    public static void Draw(Span<ushort> frame, int frameWidth, string text, int x, int y, int scale, ushort color, FrameRect clip)
    {
        foreach (var ch in text)
        {
            var c = ch is >= ' ' and <= '~' ? ch : '?';
            Font.GetCharData(c, out ReadOnlySpan<ushort> rows);
            for (var row = 0; row < rows.Length; row++)
            {
                for (var col = 0; col < 5; col++)
                {
                    if ((rows[row] & (1 << (4 - col))) == 0)
                    {
                        continue;
                    }

                    for (var dy = 0; dy < scale; dy++)
                    {
                        var py = y + (row * scale) + dy;
                        for (var dx = 0; dx < scale; dx++)
                        {
                            var px = x + (col * scale) + dx;
                            if (clip.Contains(px, py))
                            {
                                frame[(py * frameWidth) + px] = color;
                            }
                        }
                    }
                }
            }

            x += CellWidth(scale);
        }
    }
}

/// <summary>A rectangle in a frame (left, top, width, height) with the few operations the renderer needs.</summary>
internal readonly record struct FrameRect(int X, int Y, int Width, int Height)
{
    public int Right => X + Width;

    public int Bottom => Y + Height;

    public bool Contains(int x, int y) => x >= X && x < Right && y >= Y && y < Bottom;

    public void Fill(Span<ushort> frame, int frameWidth, ushort color)
    {
        for (var y = Y; y < Bottom; y++)
        {
            frame.Slice((y * frameWidth) + X, Width).Fill(color);
        }
    }
}
