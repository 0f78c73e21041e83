using CardlessAtm.Iso8583.Spec;
using CardlessAtm.Network;

namespace CardlessAtm.Iso8583.Tests;

/// <summary>Messages written out by hand, byte by byte, and the fields they must decode to.</summary>
public class ExampleMessageTests
{
    // 0200 with fields 3, 4, 7, 11, 41, 49.
    // Bitmap: byte0 = bits 3,4,7 = 0x20|0x10|0x02 = 0x32; byte1 = bit 11 = 0x20; byte5 = bit 41 = 0x80; byte6 = bit 49 = 0x80.
    private const string Hand0200 =
        "30323030" + "3220000000808000" +
        "303130303030" + // 3  010000
        "303030303030303130303030" + // 4 000000010000
        "31313235313433303030" + // 7 1125143000
        "303030313233" + // 11 000123
        "41544D3030303031" + // 41 ATM00001
        "393738"; // 49 978

    [Fact]
    public void Hand_written_0200_decodes_to_the_expected_fields()
    {
        var m = NetworkSpec.Unpack(Convert.FromHexString(Hand0200));

        Assert.Equal("0200", m.Mti);
        Assert.Equal([3, 4, 7, 11, 41, 49], m.FieldNumbers);
        Assert.Equal("010000", m.ProcessingCode);
        Assert.Equal(10_000, m.AmountMinor);
        Assert.Equal(new DateTimeOffset(2026, 11, 25, 14, 30, 0, TimeSpan.Zero), m.GetTransmissionDateTime(new DateTimeOffset(2026, 11, 25, 14, 30, 5, TimeSpan.Zero)));
        Assert.Equal(123, m.Stan);
        Assert.Equal("ATM00001", m.TerminalId);
        Assert.Equal(978, m.CurrencyCode);
    }

    [Fact]
    public void Building_the_same_0200_packs_to_the_hand_written_bytes()
    {
        var m = new IsoMessage(NetworkSpec.Messages, "0200") { ProcessingCode = "010000", AmountMinor = 10_000, Stan = 123, TerminalId = "ATM00001", CurrencyCode = 978 };
        m.SetTransmissionDateTime(new DateTimeOffset(2026, 11, 25, 15, 30, 0, TimeSpan.FromHours(1)));

        Assert.Equal(Hand0200, Convert.ToHexString(m.Pack()));
    }

    // 0420 reversal with 11, 41, 90, 95 → secondary bitmap.
    // Primary: bit 1 (secondary) = 0x80 in byte0; bit 11 = 0x20 in byte1; bit 41 = 0x80 in byte5.
    // Secondary (65–128): bit 90 = 26th → byte3 (89–96) bit 2 = 0x40; bit 95 = byte3 bit 7 = 0x02 → byte3 = 0x42.
    private const string Hand0420 =
        "30343230" + "8020000000800000" + "0000004200000000" +
        "303030313234" + // 11 000124
        "41544D3030303031" + // 41
        "303230303030303132333131323531343330303030303030303030303030303030303030303030303030" + // 90
        "303030303030303035303030" + "303030303030303030303030303030303030303030303030303030303030"; // 95

    [Fact]
    public void Hand_written_0420_with_secondary_bitmap_decodes_fields_90_and_95()
    {
        var m = NetworkSpec.Unpack(Convert.FromHexString(Hand0420));

        Assert.Equal("0420", m.Mti);
        Assert.Equal([11, 41, 90, 95], m.FieldNumbers);
        var original = m.OriginalData!;
        Assert.Equal("0200", original.OriginalMti);
        Assert.Equal(123, original.OriginalStan);
        Assert.Equal("1125143000", original.OriginalTransmissionDateTime);
        Assert.Equal(0, original.AcquirerId);
        Assert.Equal(5_000, m.ReplacementAmountMinor);
        Assert.Equal(Hand0420, Convert.ToHexString(m.Pack()));
    }

    [Fact]
    public void LLL_text_and_binary_fields_carry_their_three_digit_length()
    {
        var m = new IsoMessage(NetworkSpec.Messages, "0200") { SessionPayload = "QR", ProtectedData = [0xAB, 0xCD] };

        // MTI, bitmap (48 = byte5 0x01; 127 → secondary: byte0 0x80, secondary byte7 bit 127 = 0x02), "002QR", "002" AB CD
        Assert.Equal("30323030" + "8000000000010000" + "0000000000000002" + "303032" + "5152" + "303032" + "ABCD", Convert.ToHexString(m.Pack()));
    }

    [Fact]
    public void Bcd_ebcdic_hex_and_binary_prefixes_encode_as_specified()
    {
        var spec = Samples.KitchenSink(BitmapEncoding.Binary, FieldEncoding.Bcd);
        var m = new IsoMessage(spec, "0200")
            .Set(3, "12345") // BCD fixed n6, left-padded: 01 23 45
            .Set(4, "42") // EBCDIC n12: F0 x10 F4 F2
            .Set(5, "123") // LL BCD prefix 03, odd digits: 01 23
            .Set(8, "hi") // binary L prefix 02, ASCII
            .Set(9, "ok") // EBCDIC LLL prefix F0 F0 F2, EBCDIC 96 92
            .Set(10, "BEEF"); // ASCII LL "02" + hex "BEEF"

        var packed = Convert.ToHexString(m.Pack());

        Assert.StartsWith("0200", packed);
        // bits 3,4,5,8,9,10: byte0 = 0x20|0x10|0x08|0x01 = 0x39, byte1 = bit9 0x80 | bit10 0x40 = 0xC0
        Assert.Equal("0200" + "39C0000000000000" + "012345" + "F0F0F0F0F0F0F0F0F0F0F4F2" + "03" + "0123" + "02" + "6869" + "F0F0F2" + "9692" + "3032" + "42454546", packed);
        Samples.AssertSameMessage(m, IsoMessage.Unpack(m.Pack(), spec));
        Assert.Equal("000000000042", IsoMessage.Unpack(m.Pack(), spec).GetString(4));
    }

    [Fact]
    public void Hex_bitmaps_and_a_tertiary_bitmap_round_trip()
    {
        var spec = Samples.KitchenSink();
        var m = new IsoMessage(spec, "0800").Set(70, "301").Set(130, "ABC").Set(192, "7");

        var packed = m.Pack();
        var text = System.Text.Encoding.ASCII.GetString(packed);

        // primary: bit 1 only = "8000000000000000"; secondary: bit 65 (tertiary) + bit 70 = 0x84; tertiary: bit 130 (2nd) 0x40 and 192 (last) 0x01
        Assert.StartsWith("0800" + "8000000000000000" + "8400000000000000" + "4000000000000001", text);
        var back = IsoMessage.Unpack(packed, spec);
        Samples.AssertSameMessage(m, back);
        Assert.Equal("0007", back.GetString(192));
    }
}
