namespace CardlessAtm.Terminal.Tests;

public sealed class TerminalCurrencySettingTests
{
    [Theory]
    [InlineData("XXQ")]
    [InlineData("eur1")]
    [InlineData("")]
    public void An_unknown_currency_is_refused_at_start_up_naming_the_setting(string currency)
    {
        var options = new TerminalOptions { AtmId = "ATM00001", Currency = currency };

        var error = Assert.Throws<ConfigurationException>(() => TerminalOptionsValidator.ThrowIfInvalid(options));

        Assert.Equal("Terminal:Currency", error.Setting);
        Assert.Equal($"Configuration error in Terminal:Currency: '{currency}' is not a known ISO 4217 code.", error.Message);
    }
}
