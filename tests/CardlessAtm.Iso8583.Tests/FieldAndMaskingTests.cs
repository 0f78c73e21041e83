using CardlessAtm.Iso8583.Spec;
using CardlessAtm.Network;

namespace CardlessAtm.Iso8583.Tests;

public class FieldAndMaskingTests
{
    [Fact]
    public void A_refused_value_leaves_the_message_unchanged()
    {
        var m = new IsoMessage(NetworkSpec.Messages, "0200") { TerminalId = "ATM00001" };
        var before = m.Pack();

        var tooLong = Assert.Throws<Iso8583FieldException>(() => m.Set(41, "ATM000012"));
        var notDigits = Assert.Throws<Iso8583FieldException>(() => m.Set(4, "12a"));
        var undefined = Assert.Throws<Iso8583FieldException>(() => m.Set(2, "4111111111111111"));
        var badMti = Assert.Throws<Iso8583FieldException>(() => m.Mti = "02A0");

        Assert.Equal((41, FieldErrorReason.TooLong), (tooLong.FieldNumber, tooLong.Reason));
        Assert.Equal((4, FieldErrorReason.InvalidCharacter), (notDigits.FieldNumber, notDigits.Reason));
        Assert.Equal((2, FieldErrorReason.UndefinedField), (undefined.FieldNumber, undefined.Reason));
        Assert.Equal(0, badMti.FieldNumber);
        Assert.Equal(before, m.Pack());
        Assert.Equal("0200", m.Mti);
    }

    [Fact]
    public void Fixed_fields_pad_as_the_spec_says()
    {
        var m = new IsoMessage(NetworkSpec.Messages, "0210").Set(4, "5").Set(38, "AB1");
        Assert.Equal("000000000005", m.GetString(4));
        Assert.Equal("AB1   ", m.GetString(38));
    }

    [Fact]
    public void Unpadded_fixed_fields_refuse_short_values()
    {
        var e = Assert.Throws<Iso8583FieldException>(() => new IsoMessage(NetworkSpec.Messages, "0200").SetBytes(64, [1, 2, 3]));
        Assert.Equal(FieldErrorReason.TooShort, e.Reason);
    }

    [Fact]
    public void Dumps_mask_secrets_and_pans_but_show_ordinary_fields()
    {
        var spec = Samples.KitchenSink(BitmapEncoding.Binary);
        var m = new IsoMessage(spec, "0200")
            .Set(2, "4111111111111111")
            .Set(35, "4111111111111111=2512101")
            .SetBytes(52, [0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0])
            .Set(41, "ATM00001");

        var dump = m.Dump();
        var line = m.ToString();

        foreach (var text in new[] { dump, line })
        {
            Assert.Contains("411111******1111", text, StringComparison.Ordinal);
            Assert.DoesNotContain("4111111111111111", text, StringComparison.Ordinal);
            Assert.DoesNotContain("2512101", text, StringComparison.Ordinal);
            Assert.DoesNotContain("123456789ABCDEF0", text, StringComparison.Ordinal);
            Assert.Contains("[masked, 8 bytes]", text, StringComparison.Ordinal);
            Assert.Contains("ATM00001", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Network_spec_masks_protected_data_key_data_and_macs()
    {
        var m = Samples.Withdrawal();
        m.KeyChangeData = [0xDE, 0xAD, 0xBE, 0xEF];

        var dump = m.Dump();

        Assert.DoesNotContain(Convert.ToHexString(Samples.ProtectedData), dump, StringComparison.Ordinal);
        Assert.DoesNotContain("DEADBEEF", dump, StringComparison.Ordinal);
        Assert.DoesNotContain("0102030405060708", dump, StringComparison.Ordinal);
        Assert.Contains("[masked, 32 bytes]", dump, StringComparison.Ordinal);
        Assert.Contains("010000", dump, StringComparison.Ordinal);
    }

    [Fact]
    public void Field_errors_never_echo_a_secret_value()
    {
        var spec = Samples.KitchenSink(BitmapEncoding.Binary);
        var e = Assert.Throws<Iso8583FieldException>(() => new IsoMessage(spec, "0200").Set(35, "4111111111111111X"));
        Assert.DoesNotContain("4111", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("'X'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Typed_accessors_round_trip_and_reject_out_of_range_values()
    {
        var m = new IsoMessage(NetworkSpec.Messages, "0200") { AmountMinor = 999_999_999_999, Stan = 999_999, CurrencyCode = 840 };
        Assert.Equal(999_999_999_999, m.AmountMinor);
        Assert.Equal(999_999, m.Stan);
        Assert.Equal(840, m.CurrencyCode);
        Assert.Throws<Iso8583FieldException>(() => m.AmountMinor = 1_000_000_000_000);
        Assert.Throws<Iso8583FieldException>(() => m.Stan = -1);
        m.Stan = null;
        Assert.False(m.Has(11));
        Assert.Null(m.Stan);
    }

    [Fact]
    public void Transmission_date_resolves_the_year_across_new_year()
    {
        var m = new IsoMessage(NetworkSpec.Messages, "0200").Set(7, "1231235959");
        var justAfterNewYear = new DateTimeOffset(2027, 1, 1, 0, 0, 3, TimeSpan.Zero);
        Assert.Equal(new DateTimeOffset(2026, 12, 31, 23, 59, 59, TimeSpan.Zero), m.GetTransmissionDateTime(justAfterNewYear));

        m.Set(7, "1331000000");
        Assert.Throws<Iso8583FieldException>(() => m.GetTransmissionDateTime(justAfterNewYear));
    }

    [Fact]
    public void Local_date_and_time_are_typed()
    {
        var m = new IsoMessage(NetworkSpec.Messages, "0200").SetLocalDateTime(new DateTime(2026, 2, 28, 9, 5, 7));
        Assert.Equal(new TimeOnly(9, 5, 7), m.LocalTime);
        Assert.Equal(new DateOnly(2026, 2, 28), m.GetLocalDate(new DateTime(2026, 3, 1)));
    }

    [Theory]
    [InlineData("0200", "0210")]
    [InlineData("0420", "0430")]
    [InlineData("0421", "0430")]
    [InlineData("0800", "0810")]
    public void Response_mti_follows_the_function_and_clears_the_repeat(string request, string response) =>
        Assert.Equal(response, Mti.ToResponse(request));

    [Fact]
    public void Responses_echo_the_identifying_fields_but_not_the_protected_data()
    {
        var request = Samples.Withdrawal();
        var response = request.CreateResponse(ResponseCodes.Approved);

        Assert.Equal("0210", response.Mti);
        Assert.Equal([3, 4, 7, 11, 12, 13, 37, 39, 41, 49], response.FieldNumbers);
        Assert.Equal("00", response.ResponseCode);
        Assert.Throws<Iso8583FieldException>(() => response.CreateResponse());
    }

    [Fact]
    public void Original_data_elements_build_from_the_original_request()
    {
        var original = Samples.Withdrawal();
        var reversal = new IsoMessage(NetworkSpec.Messages, Mti.ReversalAdvice) { OriginalData = OriginalDataElements.From(original), ReplacementAmountMinor = 4_000 };

        Assert.Equal("020000012311251430000000000000000000000000", reversal.GetString(90));
        Assert.Equal("000000004000" + new string('0', 30), reversal.GetString(95));
        Assert.Equal(4_000, reversal.ReplacementAmountMinor);
    }

    [Fact]
    public void Stan_generator_wraps_to_one_and_never_gives_zero()
    {
        var stan = new StanGenerator(999_998);
        Assert.Equal([999_999, 1, 2], new[] { stan.Next(), stan.Next(), stan.Next() });
    }

    [Fact]
    public void Binary_fields_read_and_write_as_hex_text()
    {
        var m = new IsoMessage(NetworkSpec.Messages, "0200").Set(127, "00ff10");
        Assert.Equal("00FF10", m.GetString(127));
        Assert.Equal(new byte[] { 0, 255, 16 }, m.ProtectedData);
        Assert.Throws<Iso8583FieldException>(() => m.Set(127, "0G"));
    }
}
