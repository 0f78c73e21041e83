using CardlessAtm.Devices.Keypad;

namespace CardlessAtm.Devices.RaspberryPi.Keypad;

/// <summary>Key names as written in configuration: <c>0</c>–<c>9</c>, <c>Enter</c>, <c>Cancel</c>, <c>Clear</c>, <c>F1</c>–<c>F4</c>.</summary>
public static class KeyNames
{
    /// <summary>The allowed names, for messages.</summary>
    public const string Allowed = "0-9, Enter, Cancel, Clear, F1-F4";

    /// <summary>Parses a key name (case-insensitive; <c>D5</c> is accepted for <c>5</c>).</summary>
    public static bool TryParse(string? text, out AtmKey key)
    {
        key = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        text = text.Trim();
        if (text.Length == 1 && text[0] is >= '0' and <= '9')
        {
            key = AtmKey.D0 + (text[0] - '0');
            return true;
        }

        return !int.TryParse(text, out _) && Enum.TryParse(text, ignoreCase: true, out key) && Enum.IsDefined(key);
    }
}
