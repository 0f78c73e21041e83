using CardlessAtm.Phone.Scanning;

namespace CardlessAtm.Phone.Tests;

public sealed class ScanningTests
{
    [Fact]
    public void A_png_rendered_by_the_qr_module_reads_back_as_the_exact_payload()
    {
        var payload = Fixtures.Payload(12_345);

        var session = ScannedSession.FromImage(Fixtures.Png(payload.Text));

        Assert.Equal(payload.Text, session.Text);
        Assert.Equal(Fixtures.Atm, session.AtmId);
        Assert.Equal(12_345, session.Amount.MinorUnits);
        Assert.Equal("EUR", session.Amount.Currency.Code);
        Assert.Equal(payload.ExpiresAt, session.ExpiresAt);
        Assert.Equal(payload.Nonce.ToString(), session.SessionId);
    }

    [Fact]
    public void A_png_file_path_is_read_as_an_image_and_text_as_a_payload()
    {
        var payload = Fixtures.Payload(2_000, "GBP");
        var path = Path.Combine(Path.GetTempPath(), $"phone-qr-{Guid.NewGuid():N}.png");
        File.WriteAllBytes(path, Fixtures.Png(payload.Text, pixelsPerModule: 4));
        try
        {
            var fromFile = ScannedSession.FromImageFileOrText(path);
            var fromText = ScannedSession.FromImageFileOrText(payload.Text);

            Assert.Equal(payload.Text, fromFile.Text);
            Assert.Equal(payload.Text, fromText.Text);
            Assert.Contains(path, fromFile.Source, StringComparison.Ordinal);
            Assert.Equal(826, fromText.Amount.Currency.NumericCode);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_png_without_a_qr_code_is_refused_as_such()
    {
        var ex = Assert.Throws<PhoneInputException>(() => ScannedSession.FromImage(Fixtures.BlankPng(), "screen.png"));

        Assert.Equal(PhoneInputError.NoQrInImage, ex.Error);
        Assert.Equal("screen.png", ex.Where);
        Assert.Contains("240x160", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bytes_that_are_no_image_are_refused_as_an_invalid_image()
    {
        var ex = Assert.Throws<PhoneInputException>(() => ScannedSession.FromImage("not a png at all"u8, "x.png"));

        Assert.Equal(PhoneInputError.QrImageInvalid, ex.Error);
    }

    [Fact]
    public void A_missing_image_file_is_refused_with_its_path()
    {
        var path = Path.Combine(Path.GetTempPath(), $"absent-{Guid.NewGuid():N}.png");

        var ex = Assert.Throws<PhoneInputException>(() => ScannedSession.FromImageFileOrText(path));

        Assert.Equal(PhoneInputError.QrFileUnreadable, ex.Error);
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_qr_code_holding_something_else_is_not_ours()
    {
        var ex = Assert.Throws<PhoneInputException>(() => ScannedSession.FromImage(Fixtures.Png("https://example.com/pay?x=1")));

        Assert.Equal(PhoneInputError.NotOurQr, ex.Error);
        Assert.Contains("not a cardless ATM session code", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(-1, "cut short")]
    [InlineData(+1, "extra characters")]
    public void A_truncated_or_padded_payload_is_refused_saying_which(int lengthChange, string words)
    {
        var text = Fixtures.Payload().Text;
        text = lengthChange < 0 ? text[..^1] : text + "\n";

        var ex = Assert.Throws<PhoneInputException>(() => ScannedSession.FromText(text));

        Assert.Equal(PhoneInputError.InvalidQrPayload, ex.Error);
        Assert.Contains(words, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_malformed_amount_names_the_field_and_index()
    {
        var text = Fixtures.Payload().Text.ToCharArray();
        text[30] = 'X'; // inside the 12-digit amount
        var ex = Assert.Throws<PhoneInputException>(() => ScannedSession.FromText(new string(text)));

        Assert.Equal(PhoneInputError.InvalidQrPayload, ex.Error);
        Assert.Contains("field amount, index 30", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Expiry_is_checked_against_the_given_time()
    {
        var session = ScannedSession.FromText(Fixtures.Payload(validFor: TimeSpan.FromSeconds(90)).Text);

        session.EnsureNotExpired(Fixtures.Start + TimeSpan.FromSeconds(89));
        var ex = Assert.Throws<PhoneInputException>(() => session.EnsureNotExpired(Fixtures.Start + TimeSpan.FromSeconds(90)));

        Assert.Equal(PhoneInputError.QrExpired, ex.Error);
        Assert.Contains("nothing was sent", ex.Message, StringComparison.Ordinal);
    }
}
