using System.Text;
using CardlessAtm.Devices.Display;
using CardlessAtm.Devices.Status;
using CardlessAtm.Qr.Rendering;

namespace CardlessAtm.Devices.Console;

/// <summary>
/// The customer display of a PC rig: screens as text on a console, the QR code as Unicode half blocks
/// (41 columns for a session code), readable by a phone camera from the screen. On an interactive terminal
/// each screen replaces the last; when the output is redirected (a log, a test) a screen is printed only
/// when more than its countdown changed, and the QR payload text is printed under the code so that scripts
/// can hand it to a phone.
/// </summary>
public sealed class ConsoleDisplay : IDisplay
{
    private readonly TextWriter _output;
    private readonly bool _interactive;
    private readonly ConsoleQrColours _colours;
    private readonly Lock _gate = new();
    private Screen? _last;

    /// <summary>Creates a display writing to <paramref name="output"/>.</summary>
    /// <param name="output">Where screens go (standard output for a rig).</param>
    /// <param name="interactive">Whether the output is a terminal that can be cleared.</param>
    /// <param name="colours">How the terminal shows the QR's dark modules.</param>
    public ConsoleDisplay(TextWriter output, bool interactive, ConsoleQrColours colours = ConsoleQrColours.LightTextOnDarkBackground)
    {
        ArgumentNullException.ThrowIfNull(output);
        _output = output;
        _interactive = interactive;
        _colours = colours;
        Status = new DisplayStatus("Display") { Device = DeviceState.Online };
    }

    /// <inheritdoc />
    public DisplayCapabilities Capabilities { get; } = new("Console", 0, 0, 80, 24, CanShowQr: true);

    /// <inheritdoc />
    public DisplayStatus Status { get; }

    /// <inheritdoc />
    public Task ShowAsync(Screen screen, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(screen);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var onlyCountdownChanged = _last is not null && Equals(_last with { SecondsLeft = screen.SecondsLeft }, screen);
            _last = screen;
            if (onlyCountdownChanged && !_interactive)
            {
                return Task.CompletedTask;
            }

            _output.Write(Render(screen));
            _output.Flush();
        }

        return Task.CompletedTask;
    }

    private string Render(Screen screen)
    {
        var text = new StringBuilder();
        if (_interactive)
        {
            text.Append("\u001b[2J\u001b[H");
        }

        text.AppendLine(new string('═', 60));
        text.AppendLine(screen.Tone switch
        {
            ScreenTone.Error => $"  {screen.Title} — !",
            ScreenTone.Success => $"  {screen.Title} — ✓",
            _ => $"  {screen.Title}",
        });
        text.AppendLine(new string('─', 60));
        foreach (var line in screen.Lines)
        {
            text.AppendLine($"  {line}");
        }

        if (screen.Qr is not null)
        {
            text.Append(ConsoleQrRenderer.Render(screen.Qr, _colours));
            if (screen.QrText is not null)
            {
                text.AppendLine($"  QR: {screen.QrText}");
            }
        }

        if (screen.SecondsLeft is { } seconds)
        {
            text.AppendLine($"  {seconds} s left");
        }

        text.AppendLine(new string('═', 60));
        return text.ToString();
    }
}
