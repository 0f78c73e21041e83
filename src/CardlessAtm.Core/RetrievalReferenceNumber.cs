using System.Diagnostics.CodeAnalysis;

namespace CardlessAtm;

/// <summary>
/// A retrieval reference number (ISO 8583 field 37, an12): exactly twelve letters or digits, set by the
/// acquirer and kept unchanged through every later message about the same transaction (response, reversal).
/// </summary>
public readonly record struct RetrievalReferenceNumber
{
    /// <summary>The number of characters.</summary>
    public const int Length = 12;

    private readonly string? _value;

    private RetrievalReferenceNumber(string value) => _value = value;

    /// <summary>The twelve characters.</summary>
    public string Value => _value ?? new string('0', Length);

    /// <summary>Parses field 37.</summary>
    /// <param name="text">Exactly twelve ASCII letters or digits.</param>
    /// <returns>The reference.</returns>
    /// <exception cref="FormatException">The text is not twelve letters or digits; the message says which.</exception>
    public static RetrievalReferenceNumber Parse(string text) =>
        TryParse(text, out var reference, out var problem) ? reference : throw new FormatException(problem);

    /// <summary>Parses field 37 without throwing.</summary>
    /// <param name="text">The text.</param>
    /// <param name="reference">The reference, or default on failure.</param>
    /// <returns>True when the text is a retrieval reference number.</returns>
    public static bool TryParse([NotNullWhen(true)] string? text, out RetrievalReferenceNumber reference) => TryParse(text, out reference, out _);

    /// <summary>The twelve characters.</summary>
    /// <returns>The field 37 text.</returns>
    public override string ToString() => Value;

    private static bool TryParse(string? text, out RetrievalReferenceNumber reference, [NotNullWhen(false)] out string? problem)
    {
        reference = default;
        if (text is null || text.Length != Length)
        {
            problem = $"A retrieval reference number is exactly {Length} characters, got {text?.Length ?? 0}.";
            return false;
        }

        for (var i = 0; i < text.Length; i++)
        {
            if (!char.IsAsciiLetterOrDigit(text[i]))
            {
                problem = $"A retrieval reference number is letters and digits only; the character at position {i} is not.";
                return false;
            }
        }

        reference = new RetrievalReferenceNumber(text);
        problem = null;
        return true;
    }
}
