using CardlessAtm.Qr.Payload;
using CardlessAtm.Qr.Rendering;
using CardlessAtm.Qr.Symbols;
using SkiaSharp;

namespace CardlessAtm.Qr.Tests;

public class SymbolTests
{
    [Theory]
    [InlineData(1L, "EUR")]
    [InlineData(5000L, "EUR")]
    [InlineData(QrPayloadFormat.MaxAmountMinorUnits, "JPY")]
    public void A_real_session_payload_is_QR_version_4_at_level_M(long minorUnits, string currency)
    {
        var payload = Fixtures.Payload(minorUnits, currency);
        var symbol = QrSymbolEncoder.Encode(payload);

        Assert.Equal(4, symbol.Version);
        Assert.Equal(QrErrorCorrection.M, symbol.ErrorCorrection);
        Assert.Equal(33, symbol.Modules.Size);
    }

    [Fact]
    public void The_matrix_alone_decodes_with_ZXing_to_the_payload()
    {
        var payload = Fixtures.Payload();
        var modules = QrSymbolEncoder.Encode(payload).Modules;
        var (pixels, side) = Pixels.FromModules(modules, pixelsPerModule: 4, quietZone: 4);
        ZxingDecoder.AssertReads(payload.Text, pixels, side, side);
    }

    [Fact]
    public void Text_too_long_for_the_allowed_version_is_refused()
    {
        var error = Assert.Throws<QrTextTooLongException>(() => QrSymbolEncoder.Encode(new string('A', 200), QrErrorCorrection.M, maxVersion: 4));
        Assert.Equal(4, error.MaxVersion);
    }
}

public class FrameRenderingTests
{
    public static TheoryData<int, int> Geometries => new() { { 240, 320 }, { 320, 240 }, { 480, 320 } };

    [Theory]
    [MemberData(nameof(Geometries))]
    public void ZXing_reads_every_frame_format_back_byte_for_byte(int width, int height)
    {
        var payload = Fixtures.Payload();
        var modules = QrSymbolEncoder.Encode(payload).Modules;
        var renderer = QrFrameRenderer.Create($"test {width}x{height}", width, height);

        var rgb = new ushort[width * height];
        renderer.DrawRgb565(modules, rgb);
        ZxingDecoder.AssertReads(payload.Text, Pixels.FromRgb565(rgb), width, height);

        var bigEndian = new byte[width * height * 2];
        renderer.DrawRgb565BigEndian(modules, bigEndian);
        ZxingDecoder.AssertReads(payload.Text, Pixels.FromRgb565BigEndian(bigEndian), width, height);

        foreach (var polarity in Enum.GetValues<MonochromePolarity>())
        {
            var mono = new byte[renderer.MonochromeStride * height];
            renderer.DrawMonochrome(modules, mono, polarity);
            ZxingDecoder.AssertReads(payload.Text, Pixels.FromMonochrome(mono, width, height, polarity), width, height);
        }
    }

    [Theory]
    [InlineData(240, 320, 5)]
    [InlineData(320, 240, 5)]
    [InlineData(480, 320, 7)]
    public void The_symbol_is_centred_with_whole_pixel_modules_and_a_light_quiet_zone(int width, int height, int expectedPixelsPerModule)
    {
        var modules = QrSymbolEncoder.Encode(Fixtures.Payload()).Modules;
        var renderer = QrFrameRenderer.Create("panel", width, height);
        var rgb = new ushort[width * height];
        var placement = renderer.DrawRgb565(modules, rgb);

        Assert.Equal(expectedPixelsPerModule, placement.PixelsPerModule);
        Assert.Equal(41 * expectedPixelsPerModule, placement.Symbol.Width);
        Assert.Equal((width - placement.Symbol.Width) / 2, placement.Symbol.X);
        Assert.Equal((height - placement.Symbol.Height) / 2, placement.Symbol.Y);

        // Every pixel outside the module grid is light; every module's pixels all have the module's colour.
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var mx = x - placement.Modules.X;
                var my = y - placement.Modules.Y;
                var inGrid = mx >= 0 && my >= 0 && mx < placement.Modules.Width && my < placement.Modules.Height;
                var dark = inGrid && modules.IsDark(mx / placement.PixelsPerModule, my / placement.PixelsPerModule);
                Assert.Equal(dark ? QrFrameRenderer.Rgb565Black : QrFrameRenderer.Rgb565White, rgb[(y * width) + x]);
            }
        }
    }

    [Fact]
    public void Only_the_given_area_of_the_frame_changes()
    {
        var payload = Fixtures.Payload();
        var modules = QrSymbolEncoder.Encode(payload).Modules;
        var area = new PixelRect(13, 60, 205, 230);
        var renderer = QrFrameRenderer.Create("ILI9341 240x320", 240, 320, area);
        var rgb = Enumerable.Repeat((ushort)0x1234, 240 * 320).ToArray();
        var mono = Enumerable.Repeat((byte)0xA5, renderer.MonochromeStride * 320).ToArray();
        renderer.DrawRgb565(modules, rgb);
        renderer.DrawMonochrome(modules, mono);

        for (var y = 0; y < 320; y++)
        {
            for (var x = 0; x < 240; x++)
            {
                var inside = x >= area.X && x < area.X + area.Width && y >= area.Y && y < area.Y + area.Height;
                if (!inside)
                {
                    Assert.Equal(0x1234, rgb[(y * 240) + x]);
                    Assert.Equal((0xA5 >> (7 - (x & 7))) & 1, (mono[(y * renderer.MonochromeStride) + (x >> 3)] >> (7 - (x & 7))) & 1);
                }
            }
        }

        var placement = renderer.Place(modules);
        Assert.Equal(5, placement.PixelsPerModule);
        Assert.Equal(new PixelRect(13, 72, 205, 205), placement.Symbol);
        ZxingDecoder.AssertReads(payload.Text, Pixels.FromRgb565(rgb), 240, 320);
    }

    [Fact]
    public void The_symbol_window_holds_the_fewest_bytes_for_the_SPI_bus_and_reads_back()
    {
        var payload = Fixtures.Payload();
        var modules = QrSymbolEncoder.Encode(payload).Modules;
        var renderer = QrFrameRenderer.Create("ILI9341 240x320", 240, 320);
        var bytes = renderer.SymbolSpiBytes(modules);
        Assert.Equal(205 * 205 * 2, bytes);
        var window = new byte[bytes];
        var placement = renderer.DrawSymbolRgb565BigEndian(modules, window);
        Assert.Equal(new PixelRect(17, 57, 205, 205), placement.Symbol);

        // The window is exactly the Symbol square of the full big-endian frame.
        var frame = new byte[240 * 320 * 2];
        renderer.DrawRgb565BigEndian(modules, frame);
        for (var row = 0; row < 205; row++)
        {
            Assert.True(window.AsSpan(row * 410, 410).SequenceEqual(frame.AsSpan((((placement.Symbol.Y + row) * 240) + placement.Symbol.X) * 2, 410)));
        }

        ZxingDecoder.AssertReads(payload.Text, Pixels.FromRgb565BigEndian(window), 205, 205);
    }

    [Fact]
    public void Big_endian_RGB565_puts_the_high_byte_first()
    {
        var modules = QrSymbolEncoder.Encode(Fixtures.Payload()).Modules;
        var renderer = QrFrameRenderer.Create("panel", 240, 320);
        var frame = new byte[240 * 320 * 2];
        const ushort navy = 0x0010;
        const ushort cream = 0xFFDA;
        renderer.DrawRgb565BigEndian(modules, frame, dark: navy, light: cream);
        Assert.Equal(new byte[] { 0xFF, 0xDA }, frame[..2]);
        var p = renderer.Place(modules);
        var firstDark = (((p.Modules.Y * 240) + p.Modules.X) * 2);
        Assert.Equal(new byte[] { 0x00, 0x10 }, frame[firstDark..(firstDark + 2)]);
    }

    [Fact]
    public void Light_on_dark_colours_are_refused()
    {
        var modules = QrSymbolEncoder.Encode(Fixtures.Payload()).Modules;
        var renderer = QrFrameRenderer.Create("panel", 240, 320);
        Assert.Throws<ArgumentException>(() => renderer.DrawRgb565(modules, new ushort[240 * 320], dark: 0xFFFF, light: 0x0000));
    }

    [Fact]
    public void A_short_frame_buffer_is_refused_without_drawing()
    {
        var modules = QrSymbolEncoder.Encode(Fixtures.Payload()).Modules;
        var renderer = QrFrameRenderer.Create("panel", 240, 320);
        var frame = new ushort[240 * 319];
        var error = Assert.Throws<ArgumentException>(() => renderer.DrawRgb565(modules, frame));
        Assert.Contains("76800", error.Message);
        Assert.All(frame, p => Assert.Equal(0, p));
    }

    [Theory]
    [InlineData(128, 64)]
    [InlineData(122, 250)]
    [InlineData(84, 48)]
    public void A_display_too_small_for_3_pixels_per_module_is_refused_at_configuration_naming_it_and_the_size_it_needs(int width, int height)
    {
        var error = Assert.Throws<QrAreaTooSmallException>(() => QrFrameRenderer.Create("SSD1306 OLED", width, height));
        Assert.Equal("SSD1306 OLED", error.DisplayName);
        Assert.Equal(123, error.RequiredSidePixels);
        Assert.Contains("SSD1306 OLED", error.Message);
        Assert.Contains("123x123", error.Message);
    }

    [Fact]
    public void The_smallest_allowed_display_draws_at_3_pixels_per_module_and_reads_back()
    {
        var payload = Fixtures.Payload();
        var modules = QrSymbolEncoder.Encode(payload).Modules;
        var renderer = QrFrameRenderer.Create("tiny", 123, 123);
        var rgb = new ushort[123 * 123];
        Assert.Equal(3, renderer.DrawRgb565(modules, rgb).PixelsPerModule);
        ZxingDecoder.AssertReads(payload.Text, Pixels.FromRgb565(rgb), 123, 123);
    }

    [Fact]
    public void A_panel_too_small_for_the_code_is_refused_by_name()
    {
        Assert.Equal("Nokia 5110", Assert.Throws<QrAreaTooSmallException>(() => QrFrameRenderer.Create("Nokia 5110", 84, 48)).DisplayName);
    }

    [Fact]
    public void An_area_outside_the_frame_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => QrFrameRenderer.Create("panel", 240, 320, new PixelRect(100, 0, 200, 200)));
    }
}

public class ConsoleRenderingTests
{
    [Theory]
    [InlineData(ConsoleQrColours.LightTextOnDarkBackground)]
    [InlineData(ConsoleQrColours.DarkTextOnLightBackground)]
    [InlineData(ConsoleQrColours.AnsiBlackOnWhite)]
    public void The_console_rendering_fits_80_columns_and_ZXing_reads_it_back(ConsoleQrColours colours)
    {
        var payload = Fixtures.Payload();
        var modules = QrSymbolEncoder.Encode(payload).Modules;
        var text = ConsoleQrRenderer.Render(modules, colours);

        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Replace("\u001b[30;107m", string.Empty, StringComparison.Ordinal).Replace("\u001b[0m", string.Empty, StringComparison.Ordinal))
            .ToArray();
        Assert.Equal(21, lines.Length);
        Assert.All(lines, l => Assert.Equal(41, l.Length));
        Assert.All(lines, l => Assert.True(l.Length <= 80));
        Assert.All(lines, l => Assert.All(l, c => Assert.Contains(c, " ▀▄█")));
        if (colours == ConsoleQrColours.AnsiBlackOnWhite)
        {
            Assert.All(text.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => Assert.StartsWith("\u001b[30;107m", l));
        }

        // Back to pixels as the terminal shows them: a character cell is 1 module wide and 2 tall; the block
        // draws in the text colour, the rest shows the background.
        var inkIsDark = colours != ConsoleQrColours.LightTextOnDarkBackground;
        const int scale = 4;
        var width = 41 * scale;
        var height = lines.Length * 2 * scale;
        var pixels = new byte[width * height];
        for (var row = 0; row < lines.Length; row++)
        {
            for (var column = 0; column < 41; column++)
            {
                var c = lines[row][column];
                bool[] inked = [c is '▀' or '█', c is '▄' or '█'];
                for (var half = 0; half < 2; half++)
                {
                    var dark = inked[half] == inkIsDark;
                    for (var dy = 0; dy < scale; dy++)
                    {
                        for (var dx = 0; dx < scale; dx++)
                        {
                            pixels[((((row * 2) + half) * scale) + dy) * width + (column * scale) + dx] = dark ? (byte)0 : (byte)255;
                        }
                    }
                }
            }
        }

        ZxingDecoder.AssertReads(payload.Text, pixels, width, height);
    }

    [Fact]
    public void A_code_wider_than_the_console_is_refused()
    {
        var big = QrSymbolEncoder.Encode(new string('A', 1000), QrErrorCorrection.M).Modules;
        Assert.Throws<ArgumentException>(() => ConsoleQrRenderer.Render(big));
    }
}

public class PngRenderingTests
{
    [Fact]
    public void ZXing_reads_the_PNG_back_byte_for_byte()
    {
        var payload = Fixtures.Payload();
        var modules = QrSymbolEncoder.Encode(payload).Modules;
        var png = PngQrRenderer.Render(modules, pixelsPerModule: 6);

        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        using var bitmap = SKBitmap.Decode(png);
        Assert.Equal(41 * 6, bitmap.Width);
        Assert.Equal(41 * 6, bitmap.Height);
        var pixels = new byte[bitmap.Width * bitmap.Height];
        for (var y = 0; y < bitmap.Height; y++)
        {
            for (var x = 0; x < bitmap.Width; x++)
            {
                var c = bitmap.GetPixel(x, y);
                pixels[(y * bitmap.Width) + x] = (byte)(((299 * c.Red) + (587 * c.Green) + (114 * c.Blue)) / 1000);
            }
        }

        ZxingDecoder.AssertReads(payload.Text, pixels, bitmap.Width, bitmap.Height);

        // The PNG shows exactly our matrix: same modules as the frame renderers draw.
        for (var my = 0; my < modules.Size; my++)
        {
            for (var mx = 0; mx < modules.Size; mx++)
            {
                Assert.Equal(modules.IsDark(mx, my), pixels[((((my + 4) * 6) + 3) * bitmap.Width) + ((mx + 4) * 6) + 3] < 128);
            }
        }
    }

    [Fact]
    public void A_matrix_that_is_not_a_QR_size_is_refused()
    {
        Assert.Throws<ArgumentException>(() => PngQrRenderer.Render(new ModuleMatrix(22, new bool[22 * 22])));
    }
}

internal static class Pixels
{
    public static (byte[] Pixels, int Side) FromModules(ModuleMatrix modules, int pixelsPerModule, int quietZone)
    {
        var side = (modules.Size + (2 * quietZone)) * pixelsPerModule;
        var pixels = new byte[side * side];
        for (var y = 0; y < side; y++)
        {
            for (var x = 0; x < side; x++)
            {
                var mx = (x / pixelsPerModule) - quietZone;
                var my = (y / pixelsPerModule) - quietZone;
                var dark = mx >= 0 && my >= 0 && mx < modules.Size && my < modules.Size && modules.IsDark(mx, my);
                pixels[(y * side) + x] = dark ? (byte)0 : (byte)255;
            }
        }

        return (pixels, side);
    }

    public static byte[] FromRgb565(ReadOnlySpan<ushort> frame)
    {
        var pixels = new byte[frame.Length];
        for (var i = 0; i < frame.Length; i++)
        {
            pixels[i] = Luma(frame[i]);
        }

        return pixels;
    }

    public static byte[] FromRgb565BigEndian(ReadOnlySpan<byte> frame)
    {
        var pixels = new byte[frame.Length / 2];
        for (var i = 0; i < pixels.Length; i++)
        {
            pixels[i] = Luma((ushort)((frame[2 * i] << 8) | frame[(2 * i) + 1]));
        }

        return pixels;
    }

    public static byte[] FromMonochrome(ReadOnlySpan<byte> frame, int width, int height, MonochromePolarity polarity)
    {
        var stride = (width + 7) / 8;
        var pixels = new byte[width * height];
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var set = ((frame[(y * stride) + (x >> 3)] >> (7 - (x & 7))) & 1) == 1;
                var dark = set == (polarity == MonochromePolarity.SetBitIsDark);
                pixels[(y * width) + x] = dark ? (byte)0 : (byte)255;
            }
        }

        return pixels;
    }

    private static byte Luma(ushort rgb565)
    {
        var r = ((rgb565 >> 11) & 0x1F) * 255 / 31;
        var g = ((rgb565 >> 5) & 0x3F) * 255 / 63;
        var b = (rgb565 & 0x1F) * 255 / 31;
        return (byte)(((299 * r) + (587 * g) + (114 * b)) / 1000);
    }
}
