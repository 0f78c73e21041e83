using System.Diagnostics.CodeAnalysis;

namespace CardlessAtm;

/// <summary>
/// An ATM's terminal id: exactly 8 characters <c>A–Z</c> and <c>0–9</c> (e.g. <c>ATM00001</c>).
/// It is ISO 8583 field 41 (ans8), narrowed to the characters the QR alphanumeric mode can carry.
/// </summary>
public readonly record struct AtmId
{
    /// <summary>Characters in an ATM id.</summary>
    public const int Length = 8;

    private readonly string? _value;

    private AtmId(string value) => _value = value;

    /// <summary>The id's text, e.g. <c>ATM00001</c>.</summary>
    public string Value => _value ?? throw new InvalidOperationException("This AtmId was default-initialised and holds no id.");

    /// <summary>Parses an ATM id.</summary>
    /// <exception cref="FormatException">The text is not 8 characters A–Z / 0–9; the message says which character and where.</exception>
    public static AtmId Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Validate(text) is { } problem ? throw new FormatException(problem) : new AtmId(text);
    }

    /// <summary>Tries to parse an ATM id.</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, out AtmId atmId)
    {
        atmId = default;
        if (text is null || Validate(text) is not null)
        {
            return false;
        }

        atmId = new AtmId(text);
        return true;
    }

    /// <summary>Whether the character may appear in an ATM id.</summary>
    public static bool IsAllowed(char c) => c is (>= 'A' and <= 'Z') or (>= '0' and <= '9');

    /// <inheritdoc />
    public override string ToString() => _value ?? string.Empty;

    /// <summary>Throws <see cref="ArgumentException"/> for a default-initialised id (one that was never parsed).</summary>
    /// <param name="atmId">The id to check.</param>
    /// <param name="paramName">The caller's parameter, named in the exception.</param>
    /// <exception cref="ArgumentException"><paramref name="atmId"/> is <c>default</c>.</exception>
    public static void ThrowIfDefault(AtmId atmId, string paramName)
    {
        if (atmId._value is null)
        {
            throw new ArgumentException("No ATM id was given (default AtmId); parse one with AtmId.Parse.", paramName);
        }
    }

    private static string? Validate(ReadOnlySpan<char> text)
    {
        if (text.Length != Length)
        {
            return $"An ATM id is exactly {Length} characters A-Z or 0-9 (ISO 8583 field 41), got {text.Length}.";
        }

        for (var i = 0; i < text.Length; i++)
        {
            if (!IsAllowed(text[i]))
            {
                return $"An ATM id holds only A-Z and 0-9; the character at index {i} (U+{(int)text[i]:X4}) is not one.";
            }
        }

        return null;
    }
}
