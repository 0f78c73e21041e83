using CardlessAtm.Devices.Display;
using CardlessAtm.Devices.Simulated;
using CardlessAtm.Qr.Symbols;
using CardlessAtm.Terminal.Display;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Terminal.Tests.Display;

public sealed class QrImageFileDisplayTests : IDisposable
{
    private static readonly byte[] PngSignature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("cardless-qr-image-");

    private string PngPath => Path.Combine(_directory.FullName, "atm-qr.png");

    public void Dispose() => _directory.Delete(recursive: true);

    private static Screen QrScreen(string text, int secondsLeft) =>
        new("Withdrawal", ["Scan with your banking app"], QrSymbolEncoder.Encode(text, QrErrorCorrection.M).Modules, secondsLeft, QrText: text);

    [Fact]
    public async Task The_qr_is_written_as_a_png_rewritten_only_when_it_changes_and_removed_with_the_qr_screen()
    {
        var inner = new SimulatedDisplay();
        var display = new QrImageFileDisplay(inner, PngPath, NullLogger<QrImageFileDisplay>.Instance);

        await display.ShowAsync(QrScreen("CATM1:FIRST", 60), CancellationToken.None);
        var first = await File.ReadAllBytesAsync(PngPath);
        Assert.Equal(PngSignature, first[..8]);
        Assert.Equal(PngQrRenderedFor("CATM1:FIRST"), first);

        // A countdown tick is the same QR: the file is not rewritten (a phone reading it never races a rewrite).
        File.SetLastWriteTimeUtc(PngPath, new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc));
        await display.ShowAsync(QrScreen("CATM1:FIRST", 59), CancellationToken.None);
        Assert.Equal(new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc), File.GetLastWriteTimeUtc(PngPath));

        await display.ShowAsync(QrScreen("CATM1:SECOND", 60), CancellationToken.None);
        Assert.Equal(PngQrRenderedFor("CATM1:SECOND"), await File.ReadAllBytesAsync(PngPath));

        await display.ShowAsync(Screen.Text("Authorising", "Please wait"), CancellationToken.None);
        Assert.False(File.Exists(PngPath));
        Assert.Empty(Directory.GetFiles(_directory.FullName)); // no temporary file left behind

        // Every screen still reaches the real display, in order.
        Assert.Equal(["Withdrawal", "Withdrawal", "Withdrawal", "Authorising"], inner.History.Select(s => s.Title));
        Assert.Equal(inner.Capabilities, display.Capabilities);
        Assert.Same(inner.Status, display.Status);
    }

    [Fact]
    public async Task The_file_is_there_before_the_screen_shows_the_qr_and_gone_before_the_next_screen()
    {
        var inner = new SimulatedDisplay();
        var seen = new List<(string Title, bool FileExists)>();
        inner.Shown += (_, screen) => seen.Add((screen.Title, File.Exists(PngPath)));
        var display = new QrImageFileDisplay(inner, PngPath, NullLogger<QrImageFileDisplay>.Instance);

        await display.ShowAsync(QrScreen("CATM1:FIRST", 60), CancellationToken.None);
        await display.ShowAsync(Screen.Text("Authorising", "Please wait"), CancellationToken.None);

        // A phone (or a test) that reacts to the QR on the screen finds its PNG already written.
        Assert.Equal([("Withdrawal", true), ("Authorising", false)], seen);
    }

    [Fact]
    public async Task A_file_that_cannot_be_written_never_stops_the_screen()
    {
        var inner = new SimulatedDisplay();
        var missing = Path.Combine(_directory.FullName, "gone", "atm-qr.png");
        var display = new QrImageFileDisplay(inner, missing, NullLogger<QrImageFileDisplay>.Instance);

        await display.ShowAsync(QrScreen("CATM1:FIRST", 60), CancellationToken.None);

        Assert.Equal("CATM1:FIRST", inner.Current!.QrText);
        Assert.False(File.Exists(missing));
    }

    [Theory]
    [InlineData("relative/atm-qr.png", "must be a full path of a .png file")]
    [InlineData("/tmp/atm-qr.txt", "must be a full path of a .png file")]
    [InlineData("/nonexistent-cardless-dir/atm-qr.png", "the directory /nonexistent-cardless-dir does not exist")]
    public void A_bad_qr_image_path_is_refused_naming_the_setting(string path, string problem)
    {
        var options = new TerminalOptions
        {
            AtmId = "ATM00001",
            DataDirectory = _directory.FullName,
            KeyStore = _directory.FullName,
            Host = new EndpointOptions { Port = 9, Insecure = true },
            Proxy = new EndpointOptions { Port = 9, Insecure = true },
        };
        TerminalOptionsValidator.ThrowIfInvalid(options); // valid without the setting
        options.Display.QrImagePath = path;

        var error = Assert.Throws<ConfigurationException>(() => TerminalOptionsValidator.ThrowIfInvalid(options));
        Assert.Equal("Terminal:Display:QrImagePath", error.Setting);

        Assert.Contains("Terminal:Display:QrImagePath", error.Message, StringComparison.Ordinal);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }

    private static byte[] PngQrRenderedFor(string text) =>
        Qr.Rendering.PngQrRenderer.Render(QrSymbolEncoder.Encode(text, QrErrorCorrection.M).Modules);
}
