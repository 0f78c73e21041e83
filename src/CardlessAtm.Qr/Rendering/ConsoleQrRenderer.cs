using System.Text;


namespace CardlessAtm.Qr.Rendering;

/// <summary>Which terminal colours the console rendering assumes, so that the code appears dark on light.</summary>
public enum ConsoleQrColours
{
    /// <summary>
    /// Light text on a dark background (most terminals): the block characters draw the light modules and the
    /// quiet zone, the background shows through as the dark modules.
    /// </summary>
    LightTextOnDarkBackground,

    /// <summary>Dark text on a light background: the block characters draw the dark modules.</summary>
    DarkTextOnLightBackground,

    /// <summary>
    /// Sets black-on-white with ANSI escape codes on every line and resets at its end, so the code reads the
    /// same whatever the terminal's theme.
    /// </summary>
    AnsiBlackOnWhite,
}

/// <summary>
/// Draws a QR code as text with the Unicode half blocks ▀ ▄ █: one character is one module wide and two
/// modules tall, so a version-4 session code with its 4-module quiet zone is 41 columns × 21 lines.
/// </summary>
public static class ConsoleQrRenderer
{
    /// <summary>The terminal width the rendering must fit by default.</summary>
    public const int DefaultMaxColumns = 80;

    private const char Upper = '▀';
    private const char Lower = '▄';
    private const char Full = '█';
    private const string AnsiBlackOnBrightWhite = "\u001b[30;107m";
    private const string AnsiReset = "\u001b[0m";

    /// <summary>
    /// Renders <paramref name="modules"/> with its quiet zone; lines end with <c>\n</c>.
    /// </summary>
    /// <exception cref="ArgumentException">The code is wider than <paramref name="maxColumns"/>.</exception>
    public static string Render(ModuleMatrix modules, ConsoleQrColours colours = ConsoleQrColours.LightTextOnDarkBackground, int maxColumns = DefaultMaxColumns)
    {
        ArgumentNullException.ThrowIfNull(modules);
        var quiet = QrFrameRenderer.QuietZoneModules;
        var side = modules.Size + (2 * quiet);
        if (side > maxColumns)
        {
            throw new ArgumentException(
                $"A {modules.Size}-module QR code with its quiet zone is {side} columns wide; the console has {maxColumns}.", nameof(modules));
        }

        // The characters draw "ink": dark modules, or light ones on a dark-background terminal.
        var inkIsDark = colours != ConsoleQrColours.LightTextOnDarkBackground;
        var lines = (side + 1) / 2;
        var text = new StringBuilder(lines * (side + 16));
        for (var line = 0; line < lines; line++)
        {
            if (colours == ConsoleQrColours.AnsiBlackOnWhite)
            {
                text.Append(AnsiBlackOnBrightWhite);
            }

            for (var column = 0; column < side; column++)
            {
                var top = IsDark(modules, column - quiet, (2 * line) - quiet) == inkIsDark;
                var bottom = IsDark(modules, column - quiet, (2 * line) + 1 - quiet) == inkIsDark;
                text.Append((top, bottom) switch
                {
                    (true, true) => Full,
                    (true, false) => Upper,
                    (false, true) => Lower,
                    _ => ' ',
                });
            }

            if (colours == ConsoleQrColours.AnsiBlackOnWhite)
            {
                text.Append(AnsiReset);
            }

            text.Append('\n');
        }

        return text.ToString();
    }

    // Outside the matrix lies the quiet zone (and, for an odd side, the half line below it): light.
    private static bool IsDark(ModuleMatrix modules, int x, int y) =>
        x >= 0 && y >= 0 && x < modules.Size && y < modules.Size && modules.IsDark(x, y);
}
