using System.Collections.Frozen;

namespace CardlessAtm;

/// <summary>An ISO 4217 currency: alphabetic code, numeric code and the number of minor-unit digits.</summary>
public sealed record Currency
{
    private static readonly FrozenDictionary<string, Currency> ByAlphabetic = new[]
    {
        new Currency("EUR", 978, 2),
        new Currency("USD", 840, 2),
        new Currency("GBP", 826, 2),
        new Currency("CHF", 756, 2),
        new Currency("CNY", 156, 2),
        new Currency("JPY", 392, 0),
        new Currency("INR", 356, 2),
        new Currency("SEK", 752, 2),
        new Currency("NOK", 578, 2),
        new Currency("DKK", 208, 2),
        new Currency("PLN", 985, 2),
        new Currency("CZK", 203, 2),
        new Currency("HUF", 348, 2),
        new Currency("CAD", 124, 2),
        new Currency("AUD", 36, 2),
        new Currency("KES", 404, 2),
        new Currency("NGN", 566, 2),
        new Currency("ZAR", 710, 2),
        new Currency("BRL", 986, 2),
        new Currency("MXN", 484, 2),
    }.ToFrozenDictionary(c => c.Code, StringComparer.Ordinal);

    private static readonly FrozenDictionary<int, Currency> ByNumeric =
        ByAlphabetic.Values.ToFrozenDictionary(c => c.NumericCode);

    private Currency(string code, int numericCode, int minorDigits)
    {
        Code = code;
        NumericCode = numericCode;
        MinorDigits = minorDigits;
    }

    /// <summary>Alphabetic code, e.g. <c>EUR</c>.</summary>
    public string Code { get; }

    /// <summary>Numeric code, e.g. 978 (ISO 8583 field 49).</summary>
    public int NumericCode { get; }

    /// <summary>Digits after the decimal point in the major unit (2 for EUR, 0 for JPY).</summary>
    public int MinorDigits { get; }

    /// <summary>Every currency this stack knows.</summary>
    public static IEnumerable<Currency> All => ByAlphabetic.Values;

    /// <summary>Looks up a currency by alphabetic code (case-insensitive).</summary>
    /// <exception cref="UnknownCurrencyException">The code is not a currency this stack knows.</exception>
    public static Currency FromCode(string code)
    {
        ArgumentNullException.ThrowIfNull(code);
        return ByAlphabetic.TryGetValue(code.Trim().ToUpperInvariant(), out var currency)
            ? currency
            : throw new UnknownCurrencyException(code);
    }

    /// <summary>Looks up a currency by ISO 4217 numeric code.</summary>
    /// <exception cref="UnknownCurrencyException">The code is not a currency this stack knows.</exception>
    public static Currency FromNumericCode(int numericCode) =>
        ByNumeric.TryGetValue(numericCode, out var currency)
            ? currency
            : throw new UnknownCurrencyException(numericCode.ToString("D3"));

    /// <summary>Tries to look up a currency by alphabetic code.</summary>
    public static bool TryFromCode(string? code, out Currency? currency)
    {
        currency = null;
        return code is not null && ByAlphabetic.TryGetValue(code.Trim().ToUpperInvariant(), out currency);
    }

    /// <inheritdoc />
    public override string ToString() => Code;
}

/// <summary>A currency code that is not ISO 4217 or not known to this stack.</summary>
public sealed class UnknownCurrencyException(string code)
    : ArgumentException($"'{code}' is not a known ISO 4217 currency code (known: {string.Join(", ", Currency.All.Select(c => c.Code))}).")
{
    /// <summary>The code that was given.</summary>
    public string GivenCode { get; } = code;
}
