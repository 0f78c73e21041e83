namespace CardlessAtm.Iso8583.Codec;

/// <summary>EBCDIC code page 037 for the printable ASCII range (0x20–0x7E), the only characters ISO 8583 text uses.</summary>
internal static class Ebcdic
{
    private static readonly byte[] ToEbcdicTable = BuildToEbcdic();
    private static readonly short[] ToAsciiTable = BuildToAscii();

    /// <summary>Maps an ASCII byte to EBCDIC; returns false for bytes outside 0x20–0x7E.</summary>
    public static bool TryToEbcdic(byte ascii, out byte ebcdic)
    {
        ebcdic = ascii < 0x80 ? ToEbcdicTable[ascii] : (byte)0;
        return ascii is >= 0x20 and <= 0x7E;
    }

    /// <summary>Maps an EBCDIC byte to ASCII; returns false when the byte is not a printable character.</summary>
    public static bool TryToAscii(byte ebcdic, out byte ascii)
    {
        var value = ToAsciiTable[ebcdic];
        ascii = (byte)(value < 0 ? 0 : value);
        return value >= 0;
    }

    private static byte[] BuildToEbcdic()
    {
        var table = new byte[128];
        // Punctuation and symbols of code page 037, in ASCII order from 0x20.
        ReadOnlySpan<byte> punctuation =
        [
            0x40, 0x5A, 0x7F, 0x7B, 0x5B, 0x6C, 0x50, 0x7D, 0x4D, 0x5D, 0x5C, 0x4E, 0x6B, 0x60, 0x4B, 0x61, // space ! " # $ % & ' ( ) * + , - . /
        ];
        for (var i = 0; i < punctuation.Length; i++)
        {
            table[0x20 + i] = punctuation[i];
        }

        for (var d = 0; d < 10; d++)
        {
            table['0' + d] = (byte)(0xF0 + d);
        }

        ReadOnlySpan<byte> afterDigits = [0x7A, 0x5E, 0x4C, 0x7E, 0x6E, 0x6F, 0x7C]; // : ; < = > ? @
        for (var i = 0; i < afterDigits.Length; i++)
        {
            table[':' + i] = afterDigits[i];
        }

        for (var i = 0; i < 26; i++)
        {
            table['A' + i] = (byte)(i < 9 ? 0xC1 + i : i < 18 ? 0xD1 + (i - 9) : 0xE2 + (i - 18));
            table['a' + i] = (byte)(i < 9 ? 0x81 + i : i < 18 ? 0x91 + (i - 9) : 0xA2 + (i - 18));
        }

        ReadOnlySpan<byte> brackets = [0xBA, 0xE0, 0xBB, 0xB0, 0x6D, 0x79]; // [ \ ] ^ _ `
        for (var i = 0; i < brackets.Length; i++)
        {
            table['[' + i] = brackets[i];
        }

        ReadOnlySpan<byte> braces = [0xC0, 0x4F, 0xD0, 0xA1]; // { | } ~
        for (var i = 0; i < braces.Length; i++)
        {
            table['{' + i] = braces[i];
        }

        return table;
    }

    private static short[] BuildToAscii()
    {
        var table = new short[256];
        Array.Fill(table, (short)-1);
        for (var a = 0x20; a <= 0x7E; a++)
        {
            table[ToEbcdicTable[a]] = (short)a;
        }

        return table;
    }
}
