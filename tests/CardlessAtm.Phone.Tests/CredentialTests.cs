using CardlessAtm.Phone.Credentials;

namespace CardlessAtm.Phone.Tests;

public sealed class CredentialTests
{
    [Theory]
    [InlineData("", "no PIN")]
    [InlineData("123", "too short")]
    [InlineData("1234567890123", "too long")]
    [InlineData("12a4", "not a digit")]
    [InlineData("１２３４", "not a digit")] // full-width digits are not ASCII digits
    [InlineData(" 1234", "not a digit")]
    public void Bad_pins_are_refused_without_repeating_them(string pin, string words)
    {
        using var entry = PinEntry.FromChars(pin);

        var ex = Assert.Throws<PhoneInputException>(() => entry.Validate());

        Assert.Equal(PhoneInputError.InvalidPin, ex.Error);
        Assert.Contains(words, ex.Message, StringComparison.Ordinal);
        if (pin.Length > 0)
        {
            Assert.DoesNotContain(pin, ex.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("1234")]
    [InlineData("123456789012")]
    public void Pins_of_4_to_12_digits_are_accepted(string pin)
    {
        using var entry = PinEntry.FromChars(pin);
        entry.Validate();
        Assert.Equal(pin, new string(entry.Chars));
        Assert.DoesNotContain(pin, entry.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_disposed_pin_is_gone()
    {
        var entry = PinEntry.FromChars("4321");
        entry.Dispose();
        Assert.Throws<ObjectDisposedException>(() => entry.Chars.Length);
    }

    [Theory]
    [InlineData("4000123456789010", "************9010")]
    [InlineData("12345", "*2345")]
    [InlineData("1234", "****")]
    [InlineData("7", "*")]
    public void Account_ids_are_masked_but_the_last_four(string id, string masked) =>
        Assert.Equal(masked, AccountIds.Mask(id));

    [Theory]
    [InlineData("", "empty")]
    [InlineData("40001234567890101234", "20 characters")]
    [InlineData("4000-1234", "position 5")]
    public void Bad_account_ids_are_refused_without_repeating_them(string id, string words)
    {
        var ex = Assert.Throws<PhoneInputException>(() => AccountIds.Validate(id));

        Assert.Equal(PhoneInputError.InvalidAccountId, ex.Error);
        Assert.Contains(words, ex.Message, StringComparison.Ordinal);
        if (id.Length > 0)
        {
            Assert.DoesNotContain(id, ex.Message, StringComparison.Ordinal);
        }
    }
}
