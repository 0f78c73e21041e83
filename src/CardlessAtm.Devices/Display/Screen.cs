namespace CardlessAtm.Devices.Display;

/// <summary>How a screen should look: the display decides fonts and layout.</summary>
public enum ScreenTone
{
    /// <summary>Ordinary information or a prompt.</summary>
    Normal,

    /// <summary>A successful outcome.</summary>
    Success,

    /// <summary>A refusal or failure the customer must read.</summary>
    Error,
}

/// <summary>
/// One customer screen: a title, a few text lines, optionally a QR code and a countdown.
/// Immutable; the terminal builds a new one for every change and the display redraws the difference.
/// </summary>
/// <param name="Title">The heading, e.g. "Cardless withdrawal".</param>
/// <param name="Lines">Body lines (prompts, amount being typed, result).</param>
/// <param name="Qr">The QR code to show, or null.</param>
/// <param name="SecondsLeft">A countdown to show (e.g. how long the QR stays valid), or null.</param>
/// <param name="Tone">Normal, success or error styling.</param>
/// <param name="QrText">The text the QR code encodes (a console rig prints it so scripts can hand it to a phone).</param>
public sealed record Screen(string Title, IReadOnlyList<string> Lines, ModuleMatrix? Qr = null, int? SecondsLeft = null, ScreenTone Tone = ScreenTone.Normal, string? QrText = null)
{
    /// <summary>A screen with a title and lines and nothing else.</summary>
    public static Screen Text(string title, params string[] lines) => new(title, lines);

    /// <inheritdoc />
    public bool Equals(Screen? other) =>
        other is not null && Title == other.Title && Lines.SequenceEqual(other.Lines) && ReferenceEquals(Qr, other.Qr)
        && SecondsLeft == other.SecondsLeft && Tone == other.Tone && QrText == other.QrText;

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Title, Lines.Count, SecondsLeft, Tone);
}
