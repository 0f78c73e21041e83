namespace CardlessAtm.Devices.Tests;

public class MoneyTests
{
    [Theory]
    [InlineData("50", 5000)]
    [InlineData("50.5", 5050)]
    [InlineData("50.05", 5005)]
    [InlineData(" 0.01 ", 1)]
    public void ParseMajor_reads_exact_minor_units(string text, long minor) =>
        Assert.Equal(minor, Money.ParseMajor(text, Currency.FromCode("EUR")).MinorUnits);

    [Theory]
    [InlineData("50.001")]
    [InlineData("-5")]
    [InlineData("5,00")]
    [InlineData("1e3")]
    [InlineData("")]
    [InlineData("12.")]
    public void ParseMajor_refuses_anything_but_a_plain_amount(string text)
    {
        var error = Assert.Throws<FormatException>(() => Money.ParseMajor(text, Currency.FromCode("EUR")));
        Assert.Contains("EUR", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Yen_has_no_minor_digits() => Assert.Equal("1000 JPY", Money.ParseMajor("1000", Currency.FromCode("JPY")).ToString());

    [Fact]
    public void Amounts_in_different_currencies_do_not_add() =>
        Assert.Throws<CurrencyMismatchException>(() => Money.FromMajor(1, "EUR") + Money.FromMajor(1, "USD"));

    [Fact]
    public void Unknown_currency_is_a_typed_error_naming_the_code()
    {
        var error = Assert.Throws<UnknownCurrencyException>(() => Currency.FromCode("XXQ"));
        Assert.Equal("XXQ", error.GivenCode);
        Assert.Equal(978, Currency.FromCode("eur").NumericCode);
        Assert.Same(Currency.FromCode("EUR"), Currency.FromNumericCode(978));
    }

    [Fact]
    public void Formats_with_the_currency_minor_digits() => Assert.Equal("-0.05 EUR", Money.Of(-5, "EUR").ToString());
}
