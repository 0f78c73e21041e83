using System.Globalization;

namespace CardlessAtm;

/// <summary>An amount of money: integer minor units (cents) in one currency. Never a floating-point value.</summary>
public readonly record struct Money
{
    /// <summary>Creates an amount.</summary>
    /// <exception cref="ArgumentNullException">No currency.</exception>
    public Money(long minorUnits, Currency currency)
    {
        ArgumentNullException.ThrowIfNull(currency);
        MinorUnits = minorUnits;
        Currency = currency;
    }

    /// <summary>The amount in minor units (cents for EUR).</summary>
    public long MinorUnits { get; }

    /// <summary>The currency.</summary>
    public Currency Currency { get; }

    /// <summary>Whether the amount is greater than zero.</summary>
    public bool IsPositive => MinorUnits > 0;

    /// <summary>An amount given in minor units of the currency with the given code.</summary>
    public static Money Of(long minorUnits, string currencyCode) => new(minorUnits, Currency.FromCode(currencyCode));

    /// <summary>An amount given in whole major units (e.g. 50 EUR = 5000 minor units).</summary>
    public static Money FromMajor(long majorUnits, string currencyCode)
    {
        var currency = Currency.FromCode(currencyCode);
        return new Money(checked(majorUnits * Pow10(currency.MinorDigits)), currency);
    }

    /// <summary>
    /// Parses "50", "50.00" or "50.5" as a major-unit amount in the given currency, exactly (no rounding).
    /// </summary>
    /// <exception cref="FormatException">The text is not a plain decimal amount with at most the currency's minor digits.</exception>
    public static Money ParseMajor(string text, Currency currency)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(currency);
        var trimmed = text.Trim();
        var parts = trimmed.Split('.');
        if (parts.Length > 2 || parts[0].Length == 0 || !parts[0].All(char.IsAsciiDigit)
            || (parts.Length == 2 && (parts[1].Length == 0 || parts[1].Length > currency.MinorDigits || !parts[1].All(char.IsAsciiDigit))))
        {
            throw new FormatException(
                $"'{text}' is not an amount in {currency.Code}: use digits with at most {currency.MinorDigits} decimal places, e.g. 50 or 50.00.");
        }

        if (parts[0].Length > 15)
        {
            throw new FormatException($"'{text}' is too large an amount.");
        }

        var major = long.Parse(parts[0], CultureInfo.InvariantCulture);
        var fraction = parts.Length == 2 ? parts[1].PadRight(currency.MinorDigits, '0') : string.Empty;
        var minor = fraction.Length == 0 ? 0 : long.Parse(fraction, CultureInfo.InvariantCulture);
        return new Money((major * Pow10(currency.MinorDigits)) + minor, currency);
    }

    /// <summary>Adds two amounts of the same currency.</summary>
    /// <exception cref="CurrencyMismatchException">The currencies differ.</exception>
    public static Money operator +(Money left, Money right)
    {
        CurrencyMismatchException.ThrowIfDifferent(left.Currency, right.Currency);
        return new Money(checked(left.MinorUnits + right.MinorUnits), left.Currency);
    }

    /// <summary>Subtracts two amounts of the same currency.</summary>
    /// <exception cref="CurrencyMismatchException">The currencies differ.</exception>
    public static Money operator -(Money left, Money right)
    {
        CurrencyMismatchException.ThrowIfDifferent(left.Currency, right.Currency);
        return new Money(checked(left.MinorUnits - right.MinorUnits), left.Currency);
    }

    /// <summary>Multiplies an amount by a whole number (e.g. a note value by a note count).</summary>
    public static Money operator *(Money amount, int count) => new(checked(amount.MinorUnits * count), amount.Currency);

    /// <summary>Formats as "50.00 EUR".</summary>
    public override string ToString()
    {
        var digits = Currency.MinorDigits;
        if (digits == 0)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{MinorUnits} {Currency.Code}");
        }

        var scale = Pow10(digits);
        var sign = MinorUnits < 0 ? "-" : string.Empty;
        var absolute = Math.Abs(MinorUnits);
        return string.Create(CultureInfo.InvariantCulture, $"{sign}{absolute / scale}.{(absolute % scale).ToString(new string('0', digits), CultureInfo.InvariantCulture)} {Currency.Code}");
    }

    private static long Pow10(int digits)
    {
        long result = 1;
        for (var i = 0; i < digits; i++)
        {
            result *= 10;
        }

        return result;
    }
}

/// <summary>Two amounts in different currencies were combined.</summary>
public sealed class CurrencyMismatchException(Currency expected, Currency actual)
    : InvalidOperationException($"Currency mismatch: expected {expected.Code}, got {actual.Code}.")
{
    /// <summary>Throws when the two currencies differ.</summary>
    public static void ThrowIfDifferent(Currency expected, Currency actual)
    {
        if (!ReferenceEquals(expected, actual))
        {
            throw new CurrencyMismatchException(expected, actual);
        }
    }
}
