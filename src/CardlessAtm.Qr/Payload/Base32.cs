namespace CardlessAtm.Qr.Payload;

/// <summary>
/// RFC 4648 base32 (alphabet <c>A–Z 2–7</c>, no padding): every character is in the QR alphanumeric set
/// and carries 5 bits. Decoding is strict: unused trailing bits must be zero, so each byte string has
/// exactly one text form and no character can change without changing the bytes.
/// </summary>
internal static class Base32
{
    private const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

    /// <summary>Characters needed for <paramref name="byteCount"/> bytes.</summary>
    public static int EncodedLength(int byteCount) => ((byteCount * 8) + 4) / 5;

    public static void Encode(ReadOnlySpan<byte> bytes, Span<char> destination)
    {
        var buffer = 0;
        var bits = 0;
        var written = 0;
        foreach (var b in bytes)
        {
            buffer = (buffer << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                bits -= 5;
                destination[written++] = Alphabet[(buffer >> bits) & 31];
            }
        }

        if (bits > 0)
        {
            destination[written] = Alphabet[(buffer << (5 - bits)) & 31];
        }
    }

    /// <summary>
    /// Decodes exactly <paramref name="destination"/>.Length bytes. Returns the index of the first offending
    /// character, or -1 when the text is valid and canonical.
    /// </summary>
    public static int TryDecode(ReadOnlySpan<char> text, Span<byte> destination)
    {
        var buffer = 0;
        var bits = 0;
        var written = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var value = ValueOf(text[i]);
            if (value < 0)
            {
                return i;
            }

            buffer = ((buffer << 5) | value) & 0xFFF;
            bits += 5;
            if (bits >= 8)
            {
                bits -= 8;
                destination[written++] = (byte)(buffer >> bits);
            }
        }

        // Leftover bits only pad the last character; a non-zero pad would give a second spelling of the same bytes.
        return bits > 0 && (buffer & ((1 << bits) - 1)) != 0 ? text.Length - 1 : -1;
    }

    private static int ValueOf(char c) => c switch
    {
        >= 'A' and <= 'Z' => c - 'A',
        >= '2' and <= '7' => c - '2' + 26,
        _ => -1,
    };
}
