using System.Text;
using CardlessAtm.Iso8583.Codec;

namespace CardlessAtm.Iso8583.Tests;

public class EbcdicTests
{
    [Fact]
    public void The_ebcdic_table_matches_code_page_037_for_every_printable_ascii_character()
    {
        var cp037 = CodePagesEncodingProvider.Instance.GetEncoding(37)!;
        for (var c = 0x20; c <= 0x7E; c++)
        {
            var expected = cp037.GetBytes([(char)c])[0];
            Assert.True(Ebcdic.TryToEbcdic((byte)c, out var actual));
            Assert.True(expected == actual, $"'{(char)c}': expected 0x{expected:X2}, table has 0x{actual:X2}");
            Assert.True(Ebcdic.TryToAscii(actual, out var back));
            Assert.Equal((byte)c, back);
        }
    }

    [Fact]
    public void Non_printable_bytes_have_no_mapping()
    {
        Assert.False(Ebcdic.TryToEbcdic(0x07, out _));
        Assert.False(Ebcdic.TryToAscii(0x00, out _));
        Assert.False(Ebcdic.TryToAscii(0xFF, out _));
    }
}
