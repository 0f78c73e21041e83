using System.Drawing;
using CardlessAtm.Devices.Display;
using CardlessAtm.Devices.RaspberryPi.Display;
using CardlessAtm.Devices.RaspberryPi.Imaging;
using CardlessAtm.Devices.Status;
using CardlessAtm.FirmwareSim.Gpio;
using CardlessAtm.Qr.Symbols;
using Xunit.Abstractions;

namespace CardlessAtm.Devices.RaspberryPi.Tests;

/// <summary>The real Ili9341/Ili9342 binding drawing on the emulated panel: what the driver meant is what the glass shows.</summary>
public class Ili934xDisplayTests(ITestOutputHelper output)
{
    // Same alphabet and length as the session payload (71 alphanumeric characters, QR 4-M).
    private const string Payload = "CQ1.ATM00001.KZ3M7Q2W9X4T8R6P.000000012000.978.1764097200.9F3A1C7E5B2D4A60";

    // MISO wired, so the driver reads the id back and reports Online (without it, Unverified: see RegistrationTests).
    private static readonly Ili934xDisplayOptions Portrait = new() { Model = Ili934xModel.Ili9341, DataCommandPin = 25, ResetPin = 24, BacklightPin = 18, MisoWired = true };
    private static readonly Ili934xDisplayOptions Landscape = new() { Model = Ili934xModel.Ili9342, DataCommandPin = 25, ResetPin = 24, BacklightPin = -1, MisoWired = true };

    private static ModuleMatrix Qr => QrSymbolEncoder.Encode(Payload, QrErrorCorrection.M, 4).Modules;

    [Fact]
    public async Task A_customer_screen_reaches_the_glass_exactly_as_composed()
    {
        using var rig = new Rig();
        var (display, panel) = Open(rig, Portrait);
        using (display)
        {
            await display.ShowAsync(Screen.Text("Cardless withdrawal", "Enter amount:", "EUR 120.00", "Press Enter"), default);

            Assert.Equal(DeviceState.Online, display.Status.Device);
            AssertGlassMatches(display, panel);
            Assert.Equal(Color.FromArgb(0, 0x30, 0x98).ToArgb() & 0xF8FCF8, panel.ColorAt(120, 2).ToArgb() & 0xF8FCF8);
            Assert.Equal(Color.White.ToArgb(), panel.ColorAt(239, 200).ToArgb());
            Assert.Contains(InkIn(panel, new Rectangle(0, 36, 240, 24)), c => c == 0x0000);
            Assert.Empty(panel.ProtocolErrors);
        }
    }

    [Fact]
    public async Task The_tone_colours_the_title_bar()
    {
        using var rig = new Rig();
        var (display, panel) = Open(rig, Portrait);
        using (display)
        {
            await display.ShowAsync(new Screen("Transaction terminated", ["Safe door open"], Tone: ScreenTone.Error), default);
            var error = panel.ColorAt(200, 2);
            await display.ShowAsync(new Screen("Take your cash", ["EUR 120.00"], Tone: ScreenTone.Success), default);
            var success = panel.ColorAt(200, 2);
            Assert.True(error.R > 0xB0 && error.G < 0x20, $"error title is {error}");
            Assert.True(success.G > 0x70 && success.R < 0x10, $"success title is {success}");
            AssertGlassMatches(display, panel);
        }
    }

    [Theory]
    [InlineData(Ili934xModel.Ili9341)]
    [InlineData(Ili934xModel.Ili9342)]
    public async Task The_QR_drawn_through_the_binding_decodes_from_the_glass_to_the_payload(Ili934xModel model)
    {
        using var rig = new Rig();
        var (display, panel) = Open(rig, model == Ili934xModel.Ili9341 ? Portrait : Landscape);
        using (display)
        {
            await display.ShowAsync(new Screen("Scan to withdraw", ["EUR 120.00", "Scan with your bank app"], Qr, SecondsLeft: 60), default);

            AssertGlassMatches(display, panel);
            Assert.Equal(Payload, GlassDecoder.DecodeQr(panel));
        }
    }

    [Fact]
    public async Task A_countdown_tick_sends_only_the_changed_digits()
    {
        using var rig = new Rig();
        var (display, panel) = Open(rig, Portrait);
        using (display)
        {
            await display.ShowAsync(Screen.Text("Cardless withdrawal", "Enter amount:", "EUR 120.00", "Press Enter"), default);
            panel.ResetCounters();
            await display.ShowAsync(new Screen("Scan to withdraw", ["EUR 120.00", "Scan with your bank app"], Qr, SecondsLeft: 60), default);
            var fullScreenBytes = panel.BytesWritten;
            Assert.Equal(display.LastUpdateBytes, fullScreenBytes);
            var fullScreenRectangles = display.LastUpdateRectangles.Count;

            panel.ResetCounters();
            await display.ShowAsync(new Screen("Scan to withdraw", ["EUR 120.00", "Scan with your bank app"], Qr, SecondsLeft: 59), default);
            var tickBytes = panel.BytesWritten;
            Assert.Equal(display.LastUpdateBytes, tickBytes);

            var tick = Assert.Single(display.LastUpdateRectangles);
            Assert.True(tick.Top >= 320 - 28, $"the tick redrew {tick}, outside the countdown bar");
            Assert.True(tickBytes < 1_000, $"a countdown tick sent {tickBytes} bytes");
            Assert.True(fullScreenBytes > 60_000, $"the first QR screen sent only {fullScreenBytes} bytes");
            AssertGlassMatches(display, panel);
            Assert.Equal(Payload, GlassDecoder.DecodeQr(panel));
            output.WriteLine($"ILI9341 SPI bytes: amount screen -> full QR screen {fullScreenBytes} in {fullScreenRectangles} rectangle(s); whole frame would be {11 + (240 * 320 * 2)}");
            output.WriteLine($"ILI9341 SPI bytes: countdown update {tickBytes} ({tick.Width}x{tick.Height} px)");

            panel.ResetCounters();
            await display.ShowAsync(new Screen("Scan to withdraw", ["EUR 120.00", "Scan with your bank app"], Qr, SecondsLeft: 59), default);
            Assert.Equal(0, panel.BytesWritten);
        }
    }

    [Fact]
    public async Task Two_separate_changes_are_sent_as_two_rectangles()
    {
        using var rig = new Rig();
        var (display, panel) = Open(rig, Portrait);
        using (display)
        {
            await display.ShowAsync(new Screen("Enter amount", ["EUR 1"], SecondsLeft: 30), default);
            panel.ResetCounters();
            await display.ShowAsync(new Screen("Enter amount", ["EUR 12"], SecondsLeft: 29), default);
            Assert.Equal(2, display.LastUpdateRectangles.Count);
            Assert.True(panel.BytesWritten < 2_000, $"{panel.BytesWritten} bytes for a digit and a tick");
            AssertGlassMatches(display, panel);
        }
    }

    [Fact]
    public async Task An_SPI_failure_marks_the_display_in_error_and_the_next_screen_is_sent_whole()
    {
        using var rig = new Rig();
        var panel = new Ili934xPanelEmulator(rig.Board, Portrait.DataCommandPin, Portrait.ResetPin) { MisoWired = true };
        var spi = new FlakySpi(panel);
        using var display = new Ili934xDisplay(spi, rig.Gpio, Portrait);
        await display.ShowAsync(Screen.Text("Welcome", "Press F1"), default);

        spi.Fail = true;
        await display.ShowAsync(Screen.Text("Welcome", "Press F2"), default);
        Assert.Equal(DeviceState.HardwareError, display.Status.Device);

        spi.Fail = false;
        panel.ResetCounters();
        await display.ShowAsync(Screen.Text("Welcome", "Press F2"), default);
        Assert.Equal(DeviceState.Online, display.Status.Device);
        Assert.Equal(11 + (240 * 320 * 2), panel.BytesWritten);
        AssertGlassMatches(display, panel);
    }

    [Theory]
    [InlineData("Scan with your bank app", 19, new[] { "Scan with your bank", "app" })]
    [InlineData("Withdrawal approved", 19, new[] { "Withdrawal approved" })]
    [InlineData("ATM00001-SESSION-0123456789", 10, new[] { "ATM00001-S", "ESSION-012", "3456789" })]
    [InlineData("", 10, new[] { "" })]
    public void Long_lines_wrap_at_spaces(string line, int columns, string[] rows)
    {
        Assert.Equal(rows, Ili934xDisplay.Wrap([line], columns));
    }

    [Fact]
    public async Task A_wrapped_line_is_drawn_on_the_next_row()
    {
        using var rig = new Rig();
        var (display, panel) = Open(rig, Portrait);
        using (display)
        {
            await display.ShowAsync(Screen.Text("Cardless withdrawal", "Scan the code with your bank app"), default);
            AssertGlassMatches(display, panel);

            // Row 2 of the body (y 60..79) carries the wrapped words.
            Assert.Contains(InkIn(panel, new Rectangle(0, 60, 240, 20)), c => c == 0x0000);
        }
    }

    [Fact]
    public void Options_name_the_bad_setting()
    {
        var error = Assert.Throws<ConfigurationException>(() => Validator().ThrowIfInvalid(new Ili934xDisplayOptions { DataCommandPin = 40 }));
        Assert.Equal("Devices:Display:Ili934x:DataCommandPin", error.Setting);
        error = Assert.Throws<ConfigurationException>(() => Validator().ThrowIfInvalid(new Ili934xDisplayOptions { ResetPin = 25, DataCommandPin = 25 }));
        Assert.Equal("Devices:Display:Ili934x:ResetPin", error.Setting);
        var result = Validator().Validate(null, new Ili934xDisplayOptions { DataCommandPin = 40 });
        Assert.StartsWith("Devices:Display:Ili934x:DataCommandPin: 40 is not a GPIO line", Assert.Single(result.Failures!), StringComparison.Ordinal);
    }

    private static Ili934xDisplayOptionsValidator Validator(int spidevBufferLimit = 4096) => new("Devices:Display:Ili934x", spidevBufferLimit);

    [Fact]
    public void A_spi_buffer_larger_than_spidevs_is_refused_naming_the_kernel_limit()
    {
        // spidev refuses a transfer larger than its bufsiz (4096 unless the kernel command line raises it): a larger
        // buffer would fail every frame on the Pi, while the emulator took it (issue 14's hardware review).
        var error = Assert.Throws<ConfigurationException>(() => Validator(4096).ThrowIfInvalid(new Ili934xDisplayOptions { SpiBufferSize = 8192 }));

        Assert.Equal("Devices:Display:Ili934x:SpiBufferSize", error.Setting);
        Assert.Contains("8192 bytes is more than spidev's buffer (4096 bytes", error.Message, StringComparison.Ordinal);
        Assert.Contains("spidev.bufsiz=8192", error.Message, StringComparison.Ordinal);
        Validator(65_536).ThrowIfInvalid(new Ili934xDisplayOptions { SpiBufferSize = 8192 }); // raised by the kernel command line
        Validator(4096).ThrowIfInvalid(new Ili934xDisplayOptions { SpiBufferSize = 4096 });
    }

    [Fact]
    public void The_spidev_buffer_limit_is_read_from_the_module_parameter_and_is_4096_without_it()
    {
        var directory = Directory.CreateTempSubdirectory("cardless-spidev-");
        try
        {
            var parameter = Path.Combine(directory.FullName, "bufsiz");
            Assert.Equal(4096, SpidevBuffer.ReadLimit(parameter));
            File.WriteAllText(parameter, "65536\n");
            Assert.Equal(65_536, SpidevBuffer.ReadLimit(parameter));
            File.WriteAllText(parameter, "garbage");
            Assert.Equal(4096, SpidevBuffer.ReadLimit(parameter));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task The_emulated_glass_saves_as_a_PNG_through_the_managed_image_factory()
    {
        ManagedImageFactory.Register();
        using var rig = new Rig();
        var (display, panel) = Open(rig, Portrait);
        using (display)
        {
            await display.ShowAsync(Screen.Text("Welcome"), default);
            var path = Path.Combine(Path.GetTempPath(), $"cardless-atm-panel-{Guid.NewGuid():N}.png");
            try
            {
                panel.SaveAsPng(path);
                var (width, height, rgba) = ReadPng(File.ReadAllBytes(path));
                Assert.Equal((240, 320), (width, height));
                var glass = panel.Snapshot().Pixels;
                for (var i = 0; i < glass.Length; i++)
                {
                    var expected = Ili934xPanelEmulator.ToColor(glass[i]);
                    var at = i * 4;
                    Assert.Equal((expected.R, expected.G, expected.B, (byte)255), (rgba[at], rgba[at + 1], rgba[at + 2], rgba[at + 3]));
                }
            }
            finally
            {
                File.Delete(path);
            }
        }
    }

    /// <summary>Reads an 8-bit RGBA, filter-0 PNG as written by the managed factory, checking every chunk's CRC.</summary>
    private static (int Width, int Height, byte[] Rgba) ReadPng(byte[] png)
    {
        Assert.Equal([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], png[..8]);
        var offset = 8;
        int width = 0, height = 0;
        using var idat = new MemoryStream();
        while (offset < png.Length)
        {
            var length = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(offset));
            var type = System.Text.Encoding.ASCII.GetString(png, offset + 4, 4);
            var data = png.AsSpan(offset + 8, length);
            var crc = System.IO.Hashing.Crc32.HashToUInt32(png.AsSpan(offset + 4, length + 4));
            Assert.Equal(crc, System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(offset + 8 + length)));
            if (type == "IHDR")
            {
                width = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(data);
                height = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(data[4..]);
                Assert.Equal([8, 6, 0, 0, 0], data[8..13].ToArray());
            }
            else if (type == "IDAT")
            {
                idat.Write(data);
            }

            offset += 12 + length;
        }

        idat.Position = 0;
        using var inflated = new MemoryStream();
        using (var zlib = new System.IO.Compression.ZLibStream(idat, System.IO.Compression.CompressionMode.Decompress))
        {
            zlib.CopyTo(inflated);
        }

        var raw = inflated.ToArray();
        Assert.Equal(height * (1 + (width * 4)), raw.Length);
        var rgba = new byte[width * height * 4];
        for (var y = 0; y < height; y++)
        {
            Assert.Equal(0, raw[y * (1 + (width * 4))]);
            Array.Copy(raw, (y * (1 + (width * 4))) + 1, rgba, y * width * 4, width * 4);
        }

        return (width, height, rgba);
    }

    internal static (Ili934xDisplay Display, Ili934xPanelEmulator Panel) Open(Rig rig, Ili934xDisplayOptions options)
    {
        var panel = new Ili934xPanelEmulator(
            rig.Board,
            options.DataCommandPin,
            options.ResetPin,
            options.Model == Ili934xModel.Ili9341 ? Ili934xPanelModel.Ili9341 : Ili934xPanelModel.Ili9342)
        {
            MisoWired = options.MisoWired,
        };
        return (new Ili934xDisplay(panel, rig.Gpio, options), panel);
    }

    private static void AssertGlassMatches(Ili934xDisplay display, Ili934xPanelEmulator panel)
    {
        var (width, height, glass) = panel.Snapshot();
        Assert.Equal(display.Capabilities.WidthPixels, width);
        Assert.Equal(display.Capabilities.HeightPixels, height);
        var expected = display.ShownFrame.ToArray();
        var firstDifference = Array.FindIndex(expected, 0, i => glass[i] != expected[i]);
        Assert.True(firstDifference < 0, firstDifference < 0 ? null : $"glass differs at ({firstDifference % width},{firstDifference / width}): 0x{glass[firstDifference]:X4} vs 0x{expected[firstDifference]:X4}");
    }

    private static IEnumerable<ushort> InkIn(Ili934xPanelEmulator panel, Rectangle area)
    {
        var (width, _, pixels) = panel.Snapshot();
        for (var y = area.Top; y < area.Bottom; y++)
        {
            for (var x = area.Left; x < area.Right; x++)
            {
                yield return pixels[(y * width) + x];
            }
        }
    }
}
