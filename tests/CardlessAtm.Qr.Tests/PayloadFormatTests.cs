using System.Text;
using CardlessAtm.Qr.Payload;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace CardlessAtm.Qr.Tests;

public class PayloadFormatTests
{
    private const string QrAlphanumeric = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

    [Fact]
    public void A_payload_is_71_QR_alphanumeric_characters_in_the_documented_layout()
    {
        var nonce = SessionNonce.FromBytes([0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0x01, 0x23]);
        var payload = Fixtures.Payload(minorUnits: 12345, currency: "GBP", nonce: nonce);

        Assert.Equal(QrPayloadFormat.Length, payload.Text.Length);
        Assert.All(payload.Text, c => Assert.Contains(c, QrAlphanumeric));
        // Nonce text checked against an independent RFC 4648 encoder (Python base64.b32encode).
        var parts = payload.Text.Split('.');
        Assert.Equal(["CQ1", "ATM00001", "AERUKZ4JVPG66AJD", "000000012345", "826", Fixtures.Start.AddMinutes(2).ToUnixTimeSeconds().ToString("D10")], parts[..6]);
        Assert.Equal(13, parts[6].Length);
        Assert.Equal(Encoding.ASCII.GetBytes(payload.Text[..57]), payload.CanonicalForm());
    }

    [Fact]
    public void The_MAC_covers_exactly_the_canonical_form()
    {
        var payload = Fixtures.Payload();
        var mac = new HmacSha256TruncatedMac(Fixtures.TestKey);
        Span<byte> tag = stackalloc byte[8];
        mac.Compute(Encoding.ASCII.GetBytes(payload.Text[..57]), tag);
        Assert.True(tag.SequenceEqual(payload.Mac));
    }

    [Property(MaxTest = 200)]
    public Property Every_valid_payload_parses_back_to_its_fields()
    {
        var fields =
            from atm in Gen.Elements("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".ToCharArray()).ArrayOf(8)
            from nonce in Gen.Choose(0, 255).Select(b => (byte)b).ArrayOf(10)
            from amount in Gen.Choose(1, int.MaxValue).Select(a => (long)a * 397 % QrPayloadFormat.MaxAmountMinorUnits + 1)
            from currency in Gen.Elements(Currency.All.ToArray())
            from expiry in Gen.Choose(0, int.MaxValue).Select(s => DateTimeOffset.FromUnixTimeSeconds(s * 4L))
            select new QrSessionFields(AtmId.Parse(new string(atm)), SessionNonce.FromBytes(nonce), new Money(amount, currency), expiry);

        return Prop.ForAll(fields.ToArbitrary(), f =>
        {
            var payload = QrPayloadFormat.Create(f, new HmacSha256TruncatedMac(Fixtures.TestKey));
            var parsed = QrPayloadFormat.Parse(payload.Text);
            return parsed.IsAccepted && parsed.Payload.Fields == f && parsed.Payload.Mac.SequenceEqual(payload.Mac)
                && payload.Text.Length == QrPayloadFormat.Length && payload.Text.All(c => QrAlphanumeric.Contains(c));
        });
    }

    [Property(MaxTest = 500)]
    public bool Any_text_gets_a_typed_answer_and_never_an_exception(string? text) =>
        text is null || QrPayloadFormat.Parse(text) is { } result && (result.IsAccepted || Enum.IsDefined(result.Rejection.Reason));

    [Property(MaxTest = 300)]
    public Property A_payload_with_a_character_inserted_or_deleted_is_refused()
    {
        var text = Fixtures.Payload().Text;
        var edits =
            from index in Gen.Choose(0, text.Length - 1)
            from insert in Gen.Elements(true, false)
            from c in Gen.Elements(QrAlphanumeric.ToCharArray())
            select insert ? text.Insert(index, c.ToString()) : text.Remove(index, 1);
        return Prop.ForAll(edits.ToArbitrary(), edited => !QrPayloadFormat.Parse(edited).IsAccepted);
    }

    [Fact]
    public void Every_truncation_is_refused_as_truncated()
    {
        var text = Fixtures.Payload().Text;
        for (var length = 0; length < text.Length; length++)
        {
            var result = QrPayloadFormat.Parse(text[..length]);
            Assert.False(result.IsAccepted);
            Assert.Equal(QrPayloadRejectionReason.Truncated, result.Rejection.Reason);
        }
    }

    [Theory]
    [InlineData(" ")]
    [InlineData("\n")]
    [InlineData("0")]
    [InlineData(".AAAA")]
    public void Anything_appended_is_refused_as_padded(string tail)
    {
        var result = QrPayloadFormat.Parse(Fixtures.Payload().Text + tail);
        Assert.False(result.IsAccepted);
        Assert.Equal(QrPayloadRejectionReason.Padded, result.Rejection.Reason);
        Assert.Equal(71, result.Rejection.Position);
    }

    [Theory]
    [InlineData("https://example.org/")]
    [InlineData("XQ1.ATM00001")]
    [InlineData("cq1")]
    public void Other_codes_are_refused_as_not_a_session_code(string text)
    {
        var result = QrPayloadFormat.Parse(text);
        Assert.Equal(QrPayloadRejectionReason.NotASessionCode, result.Rejection!.Reason);
    }

    [Theory]
    [InlineData('2')]
    [InlineData('0')]
    [InlineData('A')]
    public void Another_format_version_is_refused_as_unknown(char version)
    {
        var text = Fixtures.Payload().Text;
        var result = QrPayloadFormat.Parse(text[..2] + version + text[3..]);
        Assert.Equal(QrPayloadRejectionReason.UnknownVersion, result.Rejection!.Reason);
        Assert.Equal(2, result.Rejection.Position);
    }

    [Theory]
    [InlineData(3, '-', "separator")]
    [InlineData(5, 'a', "atm-id")]
    [InlineData(11, '.', "atm-id")]
    [InlineData(13, '1', "nonce")]
    [InlineData(20, '8', "nonce")]
    [InlineData(30, 'O', "amount")]
    [InlineData(43, 'E', "currency")]
    [InlineData(50, ' ', "expiry")]
    [InlineData(58, '0', "mac")]
    [InlineData(57, ':', "separator")]
    public void A_character_outside_its_field_is_refused_as_malformed_naming_field_and_position(int index, char replacement, string field)
    {
        var text = Fixtures.Payload().Text;
        var result = QrPayloadFormat.Parse(text[..index] + replacement + text[(index + 1)..]);
        Assert.False(result.IsAccepted);
        Assert.Equal(QrPayloadRejectionReason.Malformed, result.Rejection.Reason);
        Assert.Equal(field, result.Rejection.Field);
        Assert.Equal(index, result.Rejection.Position);
        Assert.Contains(index.ToString(), result.Rejection.Message);
    }

    [Fact]
    public void A_MAC_whose_last_character_carries_a_non_zero_pad_bit_is_malformed_not_a_second_spelling()
    {
        var text = Fixtures.Payload().Text;
        var last = text[^1];
        // Base32 value with the lowest bit flipped: same 64 MAC bits, different text.
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        var flipped = alphabet[alphabet.IndexOf(last) ^ 1];
        var result = QrPayloadFormat.Parse(text[..^1] + flipped);
        Assert.Equal(QrPayloadRejectionReason.Malformed, result.Rejection!.Reason);
        Assert.Equal("mac", result.Rejection.Field);
        Assert.Equal(70, result.Rejection.Position);
    }

    [Fact]
    public void An_unknown_currency_and_a_zero_amount_have_their_own_reasons()
    {
        var text = Fixtures.Payload().Text;
        var unknownCurrency = QrPayloadFormat.Parse(text[..43] + "999" + text[46..]);
        Assert.Equal(QrPayloadRejectionReason.UnknownCurrency, unknownCurrency.Rejection!.Reason);
        var zero = QrPayloadFormat.Parse(text[..30] + "000000000000" + text[42..]);
        Assert.Equal(QrPayloadRejectionReason.ZeroAmount, zero.Rejection!.Reason);
    }

    [Fact]
    public void Fields_that_cannot_be_written_are_refused_when_creating()
    {
        var mac = new HmacSha256TruncatedMac(Fixtures.TestKey);
        var nonce = SessionNonce.CreateRandom();
        Assert.Throws<ArgumentException>(() => QrPayloadFormat.Create(new QrSessionFields(Fixtures.Atm, nonce, Money.Of(0, "EUR"), Fixtures.Start), mac));
        Assert.Throws<ArgumentException>(() => QrPayloadFormat.Create(new QrSessionFields(Fixtures.Atm, nonce, Money.Of(1_000_000_000_000, "EUR"), Fixtures.Start), mac));
        Assert.Throws<ArgumentException>(() => QrPayloadFormat.Create(new QrSessionFields(Fixtures.Atm, nonce, Money.Of(100, "EUR"), Fixtures.Start.AddMilliseconds(1)), mac));
        Assert.Throws<ArgumentException>(() => QrPayloadFormat.Create(new QrSessionFields(default, nonce, Money.Of(100, "EUR"), Fixtures.Start), mac));
        Assert.Equal(0, mac.ComputeCalls);
    }

    [Theory]
    [InlineData("ATM0001")]
    [InlineData("ATM000001")]
    [InlineData("atm00001")]
    [InlineData("ATM-0001")]
    public void An_atm_id_is_8_characters_A_to_Z_and_0_to_9(string text)
    {
        Assert.False(AtmId.TryParse(text, out _));
        Assert.Throws<FormatException>(() => AtmId.Parse(text));
    }

    [Fact]
    public void A_nonce_round_trips_through_its_text_and_bytes()
    {
        var nonce = SessionNonce.CreateRandom();
        Assert.Equal(nonce, SessionNonce.Parse(nonce.ToString()));
        Assert.Equal(nonce, SessionNonce.FromBytes(nonce.ToBytes()));
        Assert.Equal(10, nonce.ToBytes().Length);
    }
}
