namespace CardlessAtm.Qr.Rendering;

/// <summary>Writes horizontal runs of one colour into some pixel buffer.</summary>
internal interface IPixelRunSink
{
    void Fill(int y, int x, int count, bool isDark);
}

/// <summary>
/// The one drawing routine every pixel format shares: clears an area to light, then fills each dark run of
/// modules row by row. Generic over the sink so that the JIT specialises it per format (no per-pixel calls).
/// </summary>
internal static class QrRasterizer
{
    public static void Draw<TSink>(ref TSink sink, ModuleMatrix modules, PixelRect clear, QrPlacement placement)
        where TSink : IPixelRunSink, allows ref struct
    {
        for (var y = clear.Y; y < clear.Y + clear.Height; y++)
        {
            sink.Fill(y, clear.X, clear.Width, isDark: false);
        }

        var size = modules.Size;
        var px = placement.PixelsPerModule;
        for (var my = 0; my < size; my++)
        {
            var top = placement.Modules.Y + (my * px);
            var mx = 0;
            while (mx < size)
            {
                if (!modules.IsDark(mx, my))
                {
                    mx++;
                    continue;
                }

                var start = mx;
                while (mx < size && modules.IsDark(mx, my))
                {
                    mx++;
                }

                var x = placement.Modules.X + (start * px);
                var width = (mx - start) * px;
                for (var row = 0; row < px; row++)
                {
                    sink.Fill(top + row, x, width, isDark: true);
                }
            }
        }
    }
}
