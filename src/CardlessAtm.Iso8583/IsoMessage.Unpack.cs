using System.Buffers.Binary;
using System.Globalization;
using CardlessAtm.Iso8583.Codec;
using CardlessAtm.Iso8583.Spec;

namespace CardlessAtm.Iso8583;

public sealed partial class IsoMessage
{
    /// <summary>Unpacks into this (empty) message; returns the error instead of throwing, so hostile traffic costs no exception.</summary>
    private Iso8583ParseException? UnpackCore(ReadOnlySpan<byte> input)
    {
        var spec = Spec;

        // Keep the frame: identity-coded values are read in place, and MAC verification uses the exact bytes.
        input.CopyTo(_data);
        _used = input.Length;

        var mtiLength = spec.MtiLength;
        if (input.Length < mtiLength)
        {
            return Error(0, "MTI", input.Length, ParseErrorReason.Truncated, $"the MTI needs {mtiLength} bytes, {input.Length} present.");
        }

        Span<byte> mtiDigits = stackalloc byte[4];
        var badMti = ValueCodec.For(spec.MtiEncoding).Decode(input[..mtiLength], mtiDigits);
        if (badMti < 0)
        {
            badMti = ((ReadOnlySpan<byte>)mtiDigits).IndexOfAnyExceptInRange((byte)'0', (byte)'9');
            if (badMti >= 0 && spec.MtiEncoding == FieldEncoding.Bcd)
            {
                badMti /= 2;
            }
        }

        if (badMti >= 0)
        {
            return Error(0, "MTI", badMti, ParseErrorReason.InvalidDigit, $"byte 0x{input[badMti]:X2} is not a decimal digit.");
        }

        _mti = ((mtiDigits[0] - '0') * 1000) + ((mtiDigits[1] - '0') * 100) + ((mtiDigits[2] - '0') * 10) + (mtiDigits[3] - '0');
        _mtiText = null;
        var offset = mtiLength;

        Span<ulong> bits = [0UL, 0UL, 0UL];
        var bitmapError = ReadBitmap(input, ref offset, out bits[0]);
        if (bitmapError is not null)
        {
            return bitmapError;
        }

        var bitmaps = 1;
        if ((bits[0] & (1UL << 63)) != 0)
        {
            bitmapError = ReadBitmap(input, ref offset, out bits[1]);
            if (bitmapError is not null)
            {
                return bitmapError;
            }

            bitmaps = 2;
            if (spec.TertiaryBitmap && (bits[1] & (1UL << 63)) != 0)
            {
                bitmapError = ReadBitmap(input, ref offset, out bits[2]);
                if (bitmapError is not null)
                {
                    return bitmapError;
                }

                bitmaps = 3;
            }
        }

        for (var b = 0; b < bitmaps; b++)
        {
            var word = bits[b];
            if (b == 0 || (b == 1 && spec.TertiaryBitmap))
            {
                word &= ~(1UL << 63); // the bitmap-present bit is not a data element
            }

            while (word != 0)
            {
                var bit = System.Numerics.BitOperations.LeadingZeroCount(word);
                word &= ~(1UL << (63 - bit));
                var field = (b * 64) + bit + 1;
                var fieldError = ReadField(input, field, ref offset);
                if (fieldError is not null)
                {
                    return fieldError;
                }
            }
        }

        if (offset != input.Length)
        {
            return Error(1, "bitmap", offset, ParseErrorReason.TrailingBytes, string.Create(CultureInfo.InvariantCulture, $"{input.Length - offset} bytes follow the last field the bitmaps name."));
        }

        _frameLength = input.Length;
        return null;
    }

    private Iso8583ParseException? ReadBitmap(ReadOnlySpan<byte> input, ref int offset, out ulong value)
    {
        value = 0;
        var length = Spec.BitmapLength;
        if (input.Length - offset < length)
        {
            return Error(1, "bitmap", offset, ParseErrorReason.Truncated, string.Create(CultureInfo.InvariantCulture, $"a bitmap needs {length} bytes, {input.Length - offset} remain."));
        }

        if (Spec.BitmapEncoding == BitmapEncoding.Binary)
        {
            value = BinaryPrimitives.ReadUInt64BigEndian(input[offset..]);
        }
        else
        {
            for (var i = 0; i < 16; i++)
            {
                var nibble = HexDigits.Value(input[offset + i]);
                if (nibble < 0)
                {
                    return Error(1, "bitmap", offset + i, ParseErrorReason.InvalidBitmap, $"byte 0x{input[offset + i]:X2} is not a hexadecimal digit.");
                }

                value = (value << 4) | (uint)nibble;
            }
        }

        offset += length;
        return null;
    }

    private Iso8583ParseException? ReadField(ReadOnlySpan<byte> input, int field, ref int offset)
    {
        var def = Spec.Find(field);
        if (def is null)
        {
            return Error(field, "undefined", offset, ParseErrorReason.UndefinedField, $"the bitmap names field {field}, which spec '{Spec.Name}' does not define.");
        }

        if (field is 64 or 128)
        {
            if (field == 64)
            {
                _frameMac64Offset = offset;
            }
            else
            {
                _frameMac128Offset = offset;
            }
        }

        int length;
        if (def.IsFixed)
        {
            length = def.MaxLength;
        }
        else
        {
            var prefixBytes = def.Prefix.ByteCount;
            if (input.Length - offset < prefixBytes)
            {
                return Error(field, def.Name, offset, ParseErrorReason.Truncated, string.Create(CultureInfo.InvariantCulture, $"the length prefix needs {prefixBytes} bytes, {input.Length - offset} remain."));
            }

            var bad = LengthPrefixCodec.Read(def.Prefix, input.Slice(offset, prefixBytes), out length);
            if (bad >= 0)
            {
                return Error(field, def.Name, offset + bad, ParseErrorReason.InvalidDigit, $"length prefix byte 0x{input[offset + bad]:X2} is not a digit.");
            }

            if (length > def.MaxLength)
            {
                return Error(field, def.Name, offset, ParseErrorReason.LengthExceedsMaximum, string.Create(CultureInfo.InvariantCulture, $"the prefix states {length}, the maximum is {def.MaxLength}."));
            }

            offset += prefixBytes;
        }

        var wireLength = def.Codec.WireLength(length);
        if (input.Length - offset < wireLength)
        {
            return Error(field, def.Name, offset, ParseErrorReason.Truncated, string.Create(CultureInfo.InvariantCulture, $"the value needs {wireLength} bytes, {input.Length - offset} remain."));
        }

        int valueOffset;
        if (def.Codec.IsIdentity)
        {
            valueOffset = offset;
        }
        else
        {
            valueOffset = Reserve(length);
            var badWire = def.Codec.Decode(input.Slice(offset, wireLength), _data.AsSpan(valueOffset, length));
            if (badWire >= 0)
            {
                var reason = def.Encoding == FieldEncoding.Bcd ? ParseErrorReason.InvalidDigit : ParseErrorReason.InvalidCharacter;
                return Error(field, def.Name, offset + badWire, reason, $"{ByteText(def, input[offset + badWire])} cannot be decoded as {def.Encoding}.");
            }

            _used = valueOffset + length;
        }

        var badChar = ContentRules.IndexOfInvalid(def.Content, _data.AsSpan(valueOffset, length));
        if (badChar >= 0)
        {
            var wireIndex = def.Encoding == FieldEncoding.Bcd ? (badChar + (length % 2)) / 2 : badChar;
            var reason = def.Content == FieldContent.Numeric ? ParseErrorReason.InvalidDigit : ParseErrorReason.InvalidCharacter;
            return Error(field, def.Name, offset + wireIndex, reason, $"{ByteText(def, _data[valueOffset + badChar])} is not allowed in '{ContentRules.ShortName(def.Content)}'.");
        }

        if (_count == _entries.Length)
        {
            Array.Resize(ref _entries, _entries.Length * 2);
        }

        _entries[_count++] = new Entry(field, valueOffset, length);
        offset += wireLength;
        return null;
    }

    private static string ByteText(FieldDefinition def, byte value) =>
        def.Sensitivity == FieldSensitivity.None ? $"byte 0x{value:X2}" : "a byte";

    private static Iso8583ParseException Error(int field, string name, int offset, ParseErrorReason reason, string detail) =>
        new(field, name, offset, reason, detail);
}
