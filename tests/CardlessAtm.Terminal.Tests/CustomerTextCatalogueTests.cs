using CardlessAtm.Devices.Display;
using CardlessAtm.Devices.FaultCheck;
using CardlessAtm.Iso8583;
using CardlessAtm.Terminal.Flow;
using CardlessAtm.Terminal.Texts;

namespace CardlessAtm.Terminal.Tests;

/// <summary>
/// The one catalogue of customer texts: every language complete and with English's placeholders, English
/// unchanged, every fault and response code rendered, and an unknown <c>Terminal:Language</c> refused at start-up.
/// This is also the sample for adding a language: add its table and it is checked here.
/// </summary>
public class CustomerTextCatalogueTests
{
    public static TheoryData<string> Languages => [.. CustomerTextCatalogue.Languages];

    [Theory]
    [MemberData(nameof(Languages))]
    public void Every_language_has_every_text_with_the_placeholders_of_English(string language)
    {
        var catalogue = CustomerTextCatalogue.For(language);
        Assert.All(Enum.GetValues<CustomerTextId>(), id =>
        {
            var template = catalogue.Template(id);
            Assert.False(string.IsNullOrWhiteSpace(template), $"{language} {id} is empty");
            Assert.Equal(
                CustomerTextCatalogue.PlaceholdersOf(CustomerTextCatalogue.English.Template(id)).Order(),
                CustomerTextCatalogue.PlaceholdersOf(template).Order());
        });
    }

    [Fact]
    public void English_and_German_are_the_languages_and_English_is_the_default()
    {
        Assert.Equal(["de", "en"], CustomerTextCatalogue.Languages);
        Assert.Equal("en", new TerminalOptions().Language);
        Assert.Same(CustomerTexts.English, CustomerTexts.For("en"));
    }

    [Theory]
    [MemberData(nameof(Languages))]
    public void Every_fault_code_and_response_code_has_customer_words(string language)
    {
        var texts = CustomerTexts.For(language);
        Assert.All(Enum.GetValues<FaultCode>(), code => Assert.False(string.IsNullOrWhiteSpace(texts.ForFault(code, Currency.FromCode("EUR")))));
        Assert.Contains("GBP", texts.ForFault(FaultCode.CurrencyNotHeld, Currency.FromCode("GBP")), StringComparison.Ordinal);
        Assert.All(
            new[] { ResponseCodes.InsufficientFunds, ResponseCodes.IncorrectPin, ResponseCodes.PinTriesExceeded, ResponseCodes.ExceedsAmountLimit, ResponseCodes.ExceedsFrequencyLimit, ResponseCodes.InvalidAmount, ResponseCodes.InvalidTransaction, ResponseCodes.IssuerUnavailable, "05", null },
            code => Assert.False(string.IsNullOrWhiteSpace(texts.ForResponseCode(code))));
    }

    [Fact]
    public void The_English_screens_are_the_texts_the_terminal_always_showed()
    {
        var texts = CustomerTexts.English;
        Assert.Equal(Screen.Text("Cardless withdrawal", "Press ENTER to withdraw cash", "with your phone — no card needed."), texts.Welcome());
        Assert.Equal(["Amount (EUR): _", "Up to 500 EUR.", "ENTER confirm · CLEAR · CANCEL"], texts.AmountEntry(string.Empty, "EUR", 500).Lines);
        Assert.Equal(["Only 30.00 EUR of 80.00 EUR could be paid.", "The rest will not be charged to your account.", "Please take your cash."], texts.Partial("30.00 EUR", "80.00 EUR").Lines);
        Assert.Equal(["Authorising 80.00 EUR…", "Please wait."], texts.Authorising("80.00 EUR").Lines);
        Assert.Equal("This ATM does not dispense GBP.", texts.ForFault(FaultCode.CurrencyNotHeld, Currency.FromCode("GBP")));
        Assert.Equal("This ATM cannot dispense cash right now. Your transaction has been terminated.", texts.ForFault(FaultCode.SafeDoorOpen, Currency.FromCode("EUR")));
        Assert.Equal("This QR code is no longer valid.", texts.ForResponseCode(ResponseCodes.DuplicateTransmission));
        Assert.Equal(("Cancelled.", "The QR code has expired."), (texts.CancelledByCustomer, texts.QrExpired));
    }

    [Fact]
    public void A_German_terminal_shows_German_screens()
    {
        var texts = CustomerTexts.For("de");
        Assert.Equal("Bargeld ohne Karte", texts.Welcome().Title);
        Assert.Equal(["Betrag (EUR): 80", "Bis zu 500 EUR.", "ENTER bestätigen · CLEAR löschen · CANCEL abbrechen"], texts.AmountEntry("80", "EUR", 500).Lines);
        Assert.Equal("Dieser Geldautomat zahlt keine GBP aus.", texts.ForFault(FaultCode.CurrencyNotHeld, Currency.FromCode("GBP")));
    }

    [Fact]
    public async Task A_terminal_set_to_German_greets_in_German()
    {
        await using var lab = await Lab.StartAsync(configure: options => options.Language = "de");
        await lab.WaitForStateAsync(TerminalState.Idle);

        var display = Assert.IsType<Devices.Simulated.SimulatedDisplay>(lab.Terminal.Devices.Display);
        Assert.Equal(CustomerTexts.For("de").Welcome(), display.Current);
    }

    [Theory]
    [InlineData("fr")]
    [InlineData("EN")]
    [InlineData("")]
    public void An_unknown_language_is_refused_at_start_up_naming_the_setting(string language)
    {
        var options = new TerminalOptions { AtmId = "ATM00001", Language = language };

        var error = Assert.Throws<ConfigurationException>(() => TerminalOptionsValidator.ThrowIfInvalid(options));

        Assert.Equal("Terminal:Language", error.Setting);
        Assert.Contains($"Configuration error in Terminal:Language: '{language}'", error.Message, StringComparison.Ordinal);
        Assert.Contains("de, en", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_template_filled_with_a_missing_or_extra_value_is_a_programming_error_named_by_its_id()
    {
        var english = CustomerTextCatalogue.English;
        Assert.Contains("ScanQr", Assert.Throws<ArgumentException>(() => english.Format(CustomerTextId.ScanQr)).Message, StringComparison.Ordinal);
        Assert.Contains("Title", Assert.Throws<ArgumentException>(() => english.Format(CustomerTextId.Title, ("amount", "1"))).Message, StringComparison.Ordinal);
        Assert.Contains("'fr'", Assert.Throws<ArgumentException>(() => CustomerTextCatalogue.For("fr")).Message, StringComparison.Ordinal);
    }

}
