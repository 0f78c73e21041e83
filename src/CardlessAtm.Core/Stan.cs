using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace CardlessAtm;

/// <summary>
/// A system trace audit number (ISO 8583 field 11, n6): 1–999999, written as six digits.
/// A sender numbers each request with one; a response echoes it.
/// </summary>
public readonly record struct Stan
{
    /// <summary>The largest STAN; the next one after it is <see cref="MinValue"/>.</summary>
    public const int MaxValue = 999_999;

    /// <summary>The smallest STAN (0 is not a trace number).</summary>
    public const int MinValue = 1;

    /// <summary>Creates a STAN from its number.</summary>
    /// <param name="value">1–999999.</param>
    /// <exception cref="ArgumentOutOfRangeException">The number is outside 1–999999.</exception>
    public Stan(int value)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(value, MinValue);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(value, MaxValue);
        Value = value;
    }

    /// <summary>The number, 1–999999.</summary>
    public int Value { get; }

    /// <summary>Parses the six digits of field 11.</summary>
    /// <param name="text">Exactly six digits, not all zero.</param>
    /// <returns>The STAN.</returns>
    /// <exception cref="FormatException">The text is not six digits or is 000000; the message says which.</exception>
    public static Stan Parse(string text) =>
        TryParse(text, out var stan, out var problem) ? stan : throw new FormatException(problem);

    /// <summary>Parses the six digits of field 11 without throwing.</summary>
    /// <param name="text">The text.</param>
    /// <param name="stan">The STAN, or default on failure.</param>
    /// <returns>True when the text is a STAN.</returns>
    public static bool TryParse([NotNullWhen(true)] string? text, out Stan stan) => TryParse(text, out stan, out _);

    /// <summary>The six-digit field 11 text.</summary>
    /// <returns>E.g. <c>000042</c>.</returns>
    public override string ToString() => Value.ToString("D6", CultureInfo.InvariantCulture);

    private static bool TryParse(string? text, out Stan stan, [NotNullWhen(false)] out string? problem)
    {
        stan = default;
        if (text is null || text.Length != 6 || text.AsSpan().ContainsAnyExceptInRange('0', '9'))
        {
            problem = $"A STAN is exactly 6 digits, got {text?.Length ?? 0} character(s){(text is { Length: 6 } ? " that are not all digits" : "")}.";
            return false;
        }

        var value = int.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture);
        if (value < MinValue)
        {
            problem = "A STAN is 000001–999999; 000000 is not a trace number.";
            return false;
        }

        stan = new Stan(value);
        problem = null;
        return true;
    }
}
