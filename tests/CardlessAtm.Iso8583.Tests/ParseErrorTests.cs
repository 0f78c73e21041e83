using System.Text;
using CardlessAtm.Iso8583.Spec;
using CardlessAtm.Network;

namespace CardlessAtm.Iso8583.Tests;

/// <summary>Every malformed input gives one typed error naming the field, the byte offset and the reason.</summary>
public class ParseErrorTests
{
    private static Iso8583ParseException Fails(string hex, MessageSpec? spec = null) =>
        Assert.Throws<Iso8583ParseException>(() => IsoMessage.Unpack(Convert.FromHexString(hex), spec ?? NetworkSpec.Messages));

    [Fact]
    public void Empty_input_is_a_truncated_mti()
    {
        var e = Fails(string.Empty);
        Assert.Equal((0, 0, ParseErrorReason.Truncated), (e.FieldNumber, e.Offset, e.Reason));
    }

    [Fact]
    public void A_letter_in_the_mti_is_a_bad_digit_at_its_offset()
    {
        var e = Fails("3032413030" + "00");
        Assert.Equal((0, 2, ParseErrorReason.InvalidDigit), (e.FieldNumber, e.Offset, e.Reason));
    }

    [Fact]
    public void A_short_bitmap_is_truncated_at_the_bitmap()
    {
        var e = Fails("30323030" + "3220");
        Assert.Equal((1, 4, ParseErrorReason.Truncated), (e.FieldNumber, e.Offset, e.Reason));
    }

    [Fact]
    public void A_bitmap_naming_an_undefined_field_names_that_field()
    {
        // bit 2 (PAN) is not in our network's spec
        var e = Fails("30323030" + "4000000000000000" + "023132");
        Assert.Equal((2, 12, ParseErrorReason.UndefinedField), (e.FieldNumber, e.Offset, e.Reason));
        Assert.Contains("field 2", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_letter_in_a_numeric_field_is_a_bad_digit_at_the_letters_offset()
    {
        // field 3 "01X000": X at 12 + 2
        var e = Fails("30323030" + "2000000000000000" + "303158303030");
        Assert.Equal((3, 14, ParseErrorReason.InvalidDigit), (e.FieldNumber, e.Offset, e.Reason));
    }

    [Fact]
    public void A_length_prefix_over_the_maximum_is_refused_before_the_value_is_read()
    {
        // field 127 LLL with prefix 999 but max 999 is fine; use field 48 declared ..999 with a prefix "A00" = bad digit, and 120 with "999" on a small buffer = truncated
        var badDigit = Fails("30323030" + "0000000000010000" + "413030");
        Assert.Equal((48, 12, ParseErrorReason.InvalidDigit), (badDigit.FieldNumber, badDigit.Offset, badDigit.Reason));

        var spec = Samples.KitchenSink(BitmapEncoding.Binary);
        // field 5 is n..11 with a BCD LL prefix: 0x12 = 12 > 11
        var tooLong = Fails("30323030" + "0800000000000000" + "12" + "000000000000", spec);
        Assert.Equal((5, 12, ParseErrorReason.LengthExceedsMaximum), (tooLong.FieldNumber, tooLong.Offset, tooLong.Reason));
    }

    [Fact]
    public void A_value_cut_short_is_truncated_at_its_start()
    {
        var e = Fails("30323030" + "0000000000010000" + "303130" + "41424344");
        Assert.Equal((48, 15, ParseErrorReason.Truncated), (e.FieldNumber, e.Offset, e.Reason));
    }

    [Fact]
    public void Bytes_after_the_last_field_are_trailing_bytes()
    {
        var e = Fails("30323030" + "0000000000800000" + "41544D3030303031" + "FF");
        Assert.Equal((ParseErrorReason.TrailingBytes, 20), (e.Reason, e.Offset));
    }

    [Fact]
    public void A_non_hex_character_in_a_hex_bitmap_is_an_invalid_bitmap()
    {
        var spec = Samples.KitchenSink();
        // "0800", then a bitmap whose 11th character (offset 4 + 10) is G
        var e = Fails(Convert.ToHexString(Encoding.ASCII.GetBytes("08000000000000G00000")), spec);
        Assert.Equal((1, 14, ParseErrorReason.InvalidBitmap), (e.FieldNumber, e.Offset, e.Reason));
    }

    [Fact]
    public void A_control_character_in_an_ans_field_is_an_invalid_character()
    {
        var e = Fails("30323030" + "0000000000800000" + "41544D0730303031");
        Assert.Equal((41, 15, ParseErrorReason.InvalidCharacter), (e.FieldNumber, e.Offset, e.Reason));
    }

    [Fact]
    public void Errors_in_secret_fields_do_not_print_the_byte()
    {
        // field 35 (track, secret) with an invalid 'X'
        var spec = Samples.KitchenSink(BitmapEncoding.Binary);
        var e = Fails("30323030" + "0000000020000000" + "3034" + "34355833", spec);
        Assert.Equal((35, 16, ParseErrorReason.InvalidCharacter), (e.FieldNumber, e.Offset, e.Reason));
        Assert.DoesNotContain("0x58", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("X", e.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_bcd_nibbles_are_bad_digits_at_their_byte()
    {
        var spec = Samples.KitchenSink(BitmapEncoding.Binary);
        var e = Fails("30323030" + "2000000000000000" + "01A345", spec);
        Assert.Equal((3, 13, ParseErrorReason.InvalidDigit), (e.FieldNumber, e.Offset, e.Reason));
    }
}
