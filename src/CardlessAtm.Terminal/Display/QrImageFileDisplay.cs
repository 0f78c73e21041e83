using CardlessAtm.Devices.Display;
using CardlessAtm.Qr.Rendering;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Terminal.Display;

/// <summary>
/// The customer display, plus a PNG file of the QR code it shows (<c>Terminal:Display:QrImagePath</c>), so that a
/// phone without a camera (<c>cardless-atm phone withdraw --qr FILE</c>) can "scan" it. The file appears when a QR
/// screen is shown (written to a temporary name and renamed, so a reader never sees half a PNG), is rewritten only
/// when the QR changes (not at each countdown tick), and is removed when a screen without a QR follows. The QR is
/// public (it is on the screen), so the file is not secret. The file is written before the screen is shown, so it is
/// there by the time anyone sees the QR. A file that cannot be written is logged and never stops
/// the withdrawal: the screen is what the customer scans.
/// </summary>
public sealed class QrImageFileDisplay : IDisplay
{
    private readonly IDisplay _inner;
    private readonly string _path;
    private readonly ILogger _logger;
    private string? _written;

    public QrImageFileDisplay(IDisplay inner, string path, ILogger<QrImageFileDisplay> logger)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(logger);
        _inner = inner;
        _path = path;
        _logger = logger;
    }

    /// <inheritdoc />
    public DisplayCapabilities Capabilities => _inner.Capabilities;

    /// <inheritdoc />
    public DisplayStatus Status => _inner.Status;

    /// <inheritdoc />
    public async Task ShowAsync(Screen screen, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(screen);

        // The file first, then the screen: whoever sees the QR on the screen finds its file already there.
        UpdateFile(screen);
        await _inner.ShowAsync(screen, cancellationToken);
    }

    private void UpdateFile(Screen screen)
    {
        try
        {
            if (screen.Qr is { } qr)
            {
                var text = screen.QrText ?? string.Empty;
                if (!string.Equals(text, _written, StringComparison.Ordinal) || !File.Exists(_path))
                {
                    Write(PngQrRenderer.Render(qr));
                    _written = text;
                }
            }
            else if (_written is not null)
            {
                File.Delete(_path);
                _written = null;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _written = null;
            _logger.LogWarning("The QR image {Path} could not be written or removed ({Error}); the screen shows the QR as before.", _path, e.Message);
        }
    }

    private void Write(byte[] png)
    {
        var temporary = _path + ".tmp";
        File.WriteAllBytes(temporary, png);
        File.Move(temporary, _path, overwrite: true);
    }
}
