using CardlessAtm.Iso8583.Spec;

namespace CardlessAtm.Iso8583.Codec;

/// <summary>
/// Turns a field's logical value (ASCII text, or raw bytes for binary fields) into wire bytes and back.
/// One instance per encoding, shared by every field that uses it: the encoding is one axis of a field's
/// definition, independent of its length prefix and padding.
/// </summary>
internal abstract class ValueCodec
{
    public static readonly ValueCodec Ascii = new IdentityCodec();
    public static readonly ValueCodec Binary = new IdentityCodec();
    public static readonly ValueCodec Ebcdic = new EbcdicCodec();
    public static readonly ValueCodec Bcd = new BcdCodec();
    public static readonly ValueCodec Hex = new HexCodec();

    public static ValueCodec For(FieldEncoding encoding) => encoding switch
    {
        FieldEncoding.Ascii => Ascii,
        FieldEncoding.Binary => Binary,
        FieldEncoding.Ebcdic => Ebcdic,
        FieldEncoding.Bcd => Bcd,
        FieldEncoding.Hex => Hex,
        _ => throw new ArgumentOutOfRangeException(nameof(encoding)),
    };

    /// <summary>True when wire bytes equal logical bytes, so decoding needs no copy.</summary>
    public abstract bool IsIdentity { get; }

    /// <summary>How many wire bytes a logical value of this length takes.</summary>
    public abstract int WireLength(int logicalLength);

    /// <summary>Writes the value; <paramref name="wire"/> is exactly <see cref="WireLength"/> long.</summary>
    public abstract void Encode(ReadOnlySpan<byte> logical, Span<byte> wire);

    /// <summary>Decodes into <paramref name="logical"/>; returns -1, or the wire index of the first byte that cannot be decoded.</summary>
    public abstract int Decode(ReadOnlySpan<byte> wire, Span<byte> logical);

    private sealed class IdentityCodec : ValueCodec
    {
        public override bool IsIdentity => true;

        public override int WireLength(int logicalLength) => logicalLength;

        public override void Encode(ReadOnlySpan<byte> logical, Span<byte> wire) => logical.CopyTo(wire);

        public override int Decode(ReadOnlySpan<byte> wire, Span<byte> logical)
        {
            wire.CopyTo(logical);
            return -1;
        }
    }

    private sealed class EbcdicCodec : ValueCodec
    {
        public override bool IsIdentity => false;

        public override int WireLength(int logicalLength) => logicalLength;

        public override void Encode(ReadOnlySpan<byte> logical, Span<byte> wire)
        {
            for (var i = 0; i < logical.Length; i++)
            {
                // Logical text was validated as printable ASCII when set, so every byte maps.
                _ = CardlessAtm.Iso8583.Codec.Ebcdic.TryToEbcdic(logical[i], out wire[i]);
            }
        }

        public override int Decode(ReadOnlySpan<byte> wire, Span<byte> logical)
        {
            for (var i = 0; i < wire.Length; i++)
            {
                if (!CardlessAtm.Iso8583.Codec.Ebcdic.TryToAscii(wire[i], out logical[i]))
                {
                    return i;
                }
            }

            return -1;
        }
    }

    private sealed class BcdCodec : ValueCodec
    {
        public override bool IsIdentity => false;

        public override int WireLength(int logicalLength) => (logicalLength + 1) / 2;

        public override void Encode(ReadOnlySpan<byte> logical, Span<byte> wire)
        {
            // An odd digit count is right-aligned: the first nibble is a zero pad.
            var odd = logical.Length % 2;
            var digit = 0;
            for (var i = 0; i < wire.Length; i++)
            {
                int high = i == 0 && odd == 1 ? 0 : logical[digit++] - '0';
                int low = logical[digit++] - '0';
                wire[i] = (byte)((high << 4) | low);
            }
        }

        public override int Decode(ReadOnlySpan<byte> wire, Span<byte> logical)
        {
            var odd = logical.Length % 2;
            var digit = 0;
            for (var i = 0; i < wire.Length; i++)
            {
                var high = wire[i] >> 4;
                var low = wire[i] & 0x0F;
                if (low > 9 || high > 9 || (i == 0 && odd == 1 && high != 0))
                {
                    return i;
                }

                if (!(i == 0 && odd == 1))
                {
                    logical[digit++] = (byte)('0' + high);
                }

                logical[digit++] = (byte)('0' + low);
            }

            return -1;
        }
    }

    private sealed class HexCodec : ValueCodec
    {
        public override bool IsIdentity => false;

        public override int WireLength(int logicalLength) => logicalLength * 2;

        public override void Encode(ReadOnlySpan<byte> logical, Span<byte> wire)
        {
            for (var i = 0; i < logical.Length; i++)
            {
                wire[2 * i] = HexDigits.Upper[logical[i] >> 4];
                wire[(2 * i) + 1] = HexDigits.Upper[logical[i] & 0x0F];
            }
        }

        public override int Decode(ReadOnlySpan<byte> wire, Span<byte> logical)
        {
            for (var i = 0; i < logical.Length; i++)
            {
                var high = HexDigits.Value(wire[2 * i]);
                if (high < 0)
                {
                    return 2 * i;
                }

                var low = HexDigits.Value(wire[(2 * i) + 1]);
                if (low < 0)
                {
                    return (2 * i) + 1;
                }

                logical[i] = (byte)((high << 4) | low);
            }

            return -1;
        }
    }
}

/// <summary>Hexadecimal digit helpers.</summary>
internal static class HexDigits
{
    public static ReadOnlySpan<byte> Upper => "0123456789ABCDEF"u8;

    /// <summary>The value of an ASCII hex digit (either case), or -1.</summary>
    public static int Value(byte c) => c switch
    {
        >= (byte)'0' and <= (byte)'9' => c - '0',
        >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
        >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
        _ => -1,
    };
}

/// <summary>Writes and reads length prefixes in any of the prefix encodings.</summary>
internal static class LengthPrefixCodec
{
    public static void Write(LengthPrefix prefix, int length, Span<byte> destination)
    {
        switch (prefix.Encoding)
        {
            case FieldEncoding.Binary:
                if (prefix.ByteCount == 1)
                {
                    destination[0] = (byte)length;
                }
                else
                {
                    destination[0] = (byte)(length >> 8);
                    destination[1] = (byte)length;
                }

                break;
            case FieldEncoding.Bcd:
                {
                    Span<byte> digits = stackalloc byte[prefix.Digits];
                    WriteDigits(length, digits);
                    ValueCodec.Bcd.Encode(digits, destination[..prefix.ByteCount]);
                    break;
                }

            case FieldEncoding.Ebcdic:
                WriteDigits(length, destination[..prefix.Digits]);
                for (var i = 0; i < prefix.Digits; i++)
                {
                    destination[i] = (byte)(destination[i] - '0' + 0xF0);
                }

                break;
            default:
                WriteDigits(length, destination[..prefix.Digits]);
                break;
        }
    }

    /// <summary>Reads a prefix; returns -1 and the length, or the index of the first bad byte.</summary>
    public static int Read(LengthPrefix prefix, ReadOnlySpan<byte> source, out int length)
    {
        length = 0;
        switch (prefix.Encoding)
        {
            case FieldEncoding.Binary:
                length = prefix.ByteCount == 1 ? source[0] : (source[0] << 8) | source[1];
                return -1;
            case FieldEncoding.Bcd:
                for (var i = 0; i < prefix.ByteCount; i++)
                {
                    var high = source[i] >> 4;
                    var low = source[i] & 0x0F;
                    if (high > 9 || low > 9 || (i == 0 && prefix.Digits % 2 == 1 && high != 0))
                    {
                        return i;
                    }

                    length = (length * 100) + (high * 10) + low;
                }

                return -1;
            default:
                var zero = prefix.Encoding == FieldEncoding.Ebcdic ? 0xF0 : '0';
                for (var i = 0; i < prefix.Digits; i++)
                {
                    var d = source[i] - zero;
                    if (d is < 0 or > 9)
                    {
                        return i;
                    }

                    length = (length * 10) + d;
                }

                return -1;
        }
    }

    private static void WriteDigits(int value, Span<byte> digits)
    {
        for (var i = digits.Length - 1; i >= 0; i--)
        {
            digits[i] = (byte)('0' + (value % 10));
            value /= 10;
        }
    }
}
