using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using CardlessAtm.Iso8583.Codec;
using CardlessAtm.Iso8583.Spec;

namespace CardlessAtm.Iso8583;

/// <summary>
/// One ISO 8583 message: an MTI and a set of data elements defined by a <see cref="MessageSpec"/>.
/// Values are validated when set (a refused value leaves the message unchanged) and read back as strings
/// (binary fields as hexadecimal) or bytes; typed accessors cover the fields our network uses.
/// <see cref="ToString"/> and <see cref="Dump"/> mask sensitive fields. A message is not thread-safe; its spec is.
/// </summary>
public sealed partial class IsoMessage
{
    private const int NoFrame = -1;

    private byte[] _data;
    private int _used;
    private Entry[] _entries;
    private int _count;
    private int _mti;
    private string? _mtiText;

    // The exact bytes this message was unpacked from live in _data[0.._frameLength) until it is changed;
    // MAC verification uses them so that a peer's encoding choices (e.g. hex case) never break a MAC.
    private int _frameLength = NoFrame;
    private int _frameMac64Offset = NoFrame;
    private int _frameMac128Offset = NoFrame;

    /// <summary>Creates an empty message of the given spec.</summary>
    /// <param name="spec">The spec that defines the fields.</param>
    /// <param name="mti">The four-digit message type indicator.</param>
    /// <exception cref="Iso8583FieldException">The MTI is not four digits.</exception>
    public IsoMessage(MessageSpec spec, string mti)
        : this(spec, 256)
    {
        Mti = mti;
    }

    private IsoMessage(MessageSpec spec, int capacity)
    {
        ArgumentNullException.ThrowIfNull(spec);
        Spec = spec;
        _data = new byte[capacity];
        _entries = new Entry[16];
    }

    /// <summary>The spec that defines this message's fields.</summary>
    public MessageSpec Spec { get; }

    /// <summary>The four-digit message type indicator, e.g. <c>"0200"</c>.</summary>
    /// <exception cref="Iso8583FieldException">Set to something that is not four digits.</exception>
    public string Mti
    {
        get => _mtiText ??= _mti.ToString("D4", CultureInfo.InvariantCulture);
        set
        {
            _mti = Iso8583.Mti.Parse(value);
            _mtiText = value;
            _frameLength = NoFrame;
        }
    }

    /// <summary>How many data elements are present.</summary>
    public int Count => _count;

    /// <summary>The numbers of the present data elements, in ascending order.</summary>
    public IReadOnlyList<int> FieldNumbers
    {
        get
        {
            var numbers = new int[_count];
            for (var i = 0; i < _count; i++)
            {
                numbers[i] = _entries[i].Field;
            }

            return numbers;
        }
    }

    /// <summary>True when the field is present.</summary>
    /// <param name="field">The field number.</param>
    /// <returns>Whether it is present.</returns>
    public bool Has(int field) => IndexOf(field) >= 0;

    /// <summary>
    /// Sets a field from text. Text fields take ASCII characters (fixed-length fields are padded as the spec says);
    /// binary fields take hexadecimal. The message is unchanged if the value is refused.
    /// </summary>
    /// <param name="field">The field number.</param>
    /// <param name="value">The value.</param>
    /// <returns>This message, for chaining.</returns>
    /// <exception cref="Iso8583FieldException">The field is undefined or the value does not fit it.</exception>
    public IsoMessage Set(int field, string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var def = Spec.Get(field);
        if (def.IsBinary)
        {
            if (value.Length % 2 != 0 || value.AsSpan().ContainsAnyExcept(HexChars))
            {
                throw new Iso8583FieldException(field, FieldErrorReason.InvalidCharacter, "a binary field is set from text as an even number of hexadecimal digits.");
            }

            var bytes = value.Length <= 512 ? stackalloc byte[value.Length / 2] : new byte[value.Length / 2];
            Convert.FromHexString(value, bytes, out _, out _);
            return SetBytes(field, bytes);
        }

        var firstNonAscii = value.AsSpan().IndexOfAnyExceptInRange((char)0, (char)0x7F);
        if (firstNonAscii >= 0)
        {
            throw new Iso8583FieldException(field, FieldErrorReason.InvalidCharacter, Describe(def, $"the character at position {firstNonAscii} is not ASCII."));
        }

        var length = CheckLength(def, value.Length);
        var start = Reserve(length);
        var target = _data.AsSpan(start, length);
        var valueStart = Pad(def, target, value.Length);
        Encoding.ASCII.GetBytes(value, target.Slice(valueStart, value.Length));
        Commit(def, start, length);
        return this;
    }

    /// <summary>
    /// Sets a field from bytes: raw bytes for binary fields, ASCII bytes for text fields (padded as the spec says).
    /// The message is unchanged if the value is refused.
    /// </summary>
    /// <param name="field">The field number.</param>
    /// <param name="value">The value.</param>
    /// <returns>This message, for chaining.</returns>
    /// <exception cref="Iso8583FieldException">The field is undefined or the value does not fit it.</exception>
    public IsoMessage SetBytes(int field, ReadOnlySpan<byte> value)
    {
        var def = Spec.Get(field);
        var length = CheckLength(def, value.Length);
        var start = Reserve(length);
        var target = _data.AsSpan(start, length);
        var valueStart = Pad(def, target, value.Length);
        value.CopyTo(target[valueStart..]);
        Commit(def, start, length);
        return this;
    }

    /// <summary>Removes a field.</summary>
    /// <param name="field">The field number.</param>
    /// <returns>True if it was present.</returns>
    public bool Remove(int field)
    {
        var index = IndexOf(field);
        if (index < 0)
        {
            return false;
        }

        Array.Copy(_entries, index + 1, _entries, index, _count - index - 1);
        _count--;
        _frameLength = NoFrame;
        return true;
    }

    /// <summary>A field's value as text (binary fields as upper-case hexadecimal), or null when absent.</summary>
    /// <param name="field">The field number.</param>
    /// <returns>The value, or null.</returns>
    public string? GetString(int field)
    {
        var index = IndexOf(field);
        if (index < 0)
        {
            return null;
        }

        var value = Value(index);
        return Spec.Find(field)!.IsBinary ? Convert.ToHexString(value) : Encoding.ASCII.GetString(value);
    }

    /// <summary>A copy of a field's value as bytes (ASCII for text fields), or null when absent.</summary>
    /// <param name="field">The field number.</param>
    /// <returns>The bytes, or null.</returns>
    public byte[]? GetBytes(int field)
    {
        var index = IndexOf(field);
        return index < 0 ? null : Value(index).ToArray();
    }

    /// <summary>Reads a field's value without copying; the span is valid until the message is next changed.</summary>
    /// <param name="field">The field number.</param>
    /// <param name="value">The value (ASCII for text fields).</param>
    /// <returns>True when the field is present.</returns>
    public bool TryGetValue(int field, out ReadOnlySpan<byte> value)
    {
        var index = IndexOf(field);
        value = index < 0 ? default : Value(index);
        return index >= 0;
    }

    /// <summary>A deep copy of this message.</summary>
    /// <returns>The copy.</returns>
    public IsoMessage Clone()
    {
        var copy = new IsoMessage(Spec, _data.Length)
        {
            _mti = _mti,
            _mtiText = _mtiText,
            _used = _used,
            _count = _count,
            _entries = (Entry[])_entries.Clone(),
            _frameLength = _frameLength,
            _frameMac64Offset = _frameMac64Offset,
            _frameMac128Offset = _frameMac128Offset,
        };
        _data.AsSpan(0, _used).CopyTo(copy._data);
        return copy;
    }

    /// <summary>The number of bytes <see cref="Pack(Span{byte})"/> writes.</summary>
    public int PackedLength
    {
        get
        {
            var length = Spec.MtiLength + (BitmapCount() * Spec.BitmapLength);
            for (var i = 0; i < _count; i++)
            {
                length += Spec.Find(_entries[i].Field)!.WireLength(_entries[i].Length);
            }

            return length;
        }
    }

    /// <summary>Packs the message (MTI, bitmaps, fields; no framing) into a new array.</summary>
    /// <returns>The packed bytes.</returns>
    public byte[] Pack()
    {
        var result = new byte[PackedLength];
        PackCore(result, 0, out _);
        return result;
    }

    /// <summary>Packs the message into <paramref name="destination"/>.</summary>
    /// <param name="destination">At least <see cref="PackedLength"/> bytes.</param>
    /// <returns>The number of bytes written.</returns>
    /// <exception cref="ArgumentException">The destination is too small.</exception>
    public int Pack(Span<byte> destination)
    {
        var length = PackedLength;
        if (destination.Length < length)
        {
            throw new ArgumentException($"the destination needs {length} bytes but has {destination.Length}.", nameof(destination));
        }

        return PackCore(destination, 0, out _);
    }

    /// <summary>Packs the message into a buffer writer (e.g. a <c>PipeWriter</c>).</summary>
    /// <param name="writer">The writer.</param>
    /// <returns>The number of bytes written.</returns>
    public int Pack(IBufferWriter<byte> writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var length = PackedLength;
        var span = writer.GetSpan(length);
        PackCore(span, 0, out _);
        writer.Advance(length);
        return length;
    }

    /// <summary>Unpacks one message of the given spec.</summary>
    /// <param name="packed">Exactly one packed message.</param>
    /// <param name="spec">The spec.</param>
    /// <returns>The message.</returns>
    /// <exception cref="Iso8583ParseException">The bytes are not a valid message; names the field, offset and reason.</exception>
    public static IsoMessage Unpack(ReadOnlySpan<byte> packed, MessageSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var message = new IsoMessage(spec, spec.IsWireIdentity ? packed.Length : (packed.Length * 3) + 16);
        var error = message.UnpackCore(packed);
        return error is null ? message : throw error;
    }

    /// <summary>Unpacks one message without throwing: on failure <paramref name="error"/> says which field, where and why.</summary>
    /// <param name="packed">Exactly one packed message.</param>
    /// <param name="spec">The spec.</param>
    /// <param name="message">The message, or null on failure.</param>
    /// <param name="error">The typed error, or null on success.</param>
    /// <returns>True when the bytes are a valid message.</returns>
    public static bool TryUnpack(ReadOnlySpan<byte> packed, MessageSpec spec, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IsoMessage? message, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out Iso8583ParseException? error)
    {
        var ok = TryUnpackPartial(packed, spec, out var partial, out error);
        message = ok ? partial : null;
        return ok;
    }

    /// <summary>Unpacks as far as possible; on failure <paramref name="partial"/> holds what was read before the error.</summary>
    internal static bool TryUnpackPartial(ReadOnlySpan<byte> packed, MessageSpec spec, out IsoMessage partial, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out Iso8583ParseException? error)
    {
        ArgumentNullException.ThrowIfNull(spec);
        partial = new IsoMessage(spec, spec.IsWireIdentity ? packed.Length : (packed.Length * 3) + 16) { _mti = -1 };
        error = partial.UnpackCore(packed);
        if (error is not null)
        {
            partial._frameLength = NoFrame;
        }

        return error is null;
    }

    /// <summary>The received bytes before the MAC field, when this message is exactly as unpacked.</summary>
    internal bool TryGetReceivedMacInput(int macField, out ReadOnlySpan<byte> input)
    {
        var offset = macField == 64 ? _frameMac64Offset : _frameMac128Offset;
        input = _frameLength != NoFrame && offset >= 0 ? _data.AsSpan(0, offset) : default;
        return _frameLength != NoFrame && offset >= 0;
    }

    /// <summary>True when the MTI was read (only false for a partial message whose MTI could not be parsed).</summary>
    internal bool HasMti => _mti >= 0;

    /// <summary>A one-line summary with sensitive fields masked.</summary>
    /// <returns>The summary.</returns>
    public override string ToString() => Dump(multiline: false);

    /// <summary>A dump of every field with sensitive fields masked (PAN 6+4, secrets by length only).</summary>
    /// <param name="multiline">One field per line (true) or one line (false).</param>
    /// <returns>The dump.</returns>
    public string Dump(bool multiline = true)
    {
        var text = new StringBuilder();
        text.Append("MTI ").Append(HasMti ? Mti : "????");
        for (var i = 0; i < _count; i++)
        {
            var def = Spec.Find(_entries[i].Field)!;
            if (multiline)
            {
                text.AppendLine().Append(CultureInfo.InvariantCulture, $"  {def.Number,3} {def.Name}: ");
            }
            else
            {
                text.Append(CultureInfo.InvariantCulture, $" | {def.Number}=");
            }

            Masking.Append(text, def, Value(i));
        }

        return text.ToString();
    }

    private static ReadOnlySpan<char> HexChars => "0123456789ABCDEFabcdef";

    private ReadOnlySpan<byte> Value(int index) => _data.AsSpan(_entries[index].Offset, _entries[index].Length);

    private int IndexOf(int field)
    {
        var entries = _entries;
        for (var i = 0; i < _count; i++)
        {
            if (entries[i].Field == field)
            {
                return i;
            }

            if (entries[i].Field > field)
            {
                break;
            }
        }

        return -1;
    }

    private static int CheckLength(FieldDefinition def, int length)
    {
        if (length > def.MaxLength)
        {
            throw new Iso8583FieldException(def.Number, FieldErrorReason.TooLong, Describe(def, $"{length} {Unit(def)} given, at most {def.MaxLength}."));
        }

        if (def.IsFixed && length < def.MaxLength)
        {
            if (def.Padding.Side == PaddingSide.None)
            {
                throw new Iso8583FieldException(def.Number, FieldErrorReason.TooShort, Describe(def, $"{length} {Unit(def)} given, exactly {def.MaxLength} needed."));
            }

            return def.MaxLength;
        }

        return length;
    }

    private static string Unit(FieldDefinition def) => def.IsBinary ? "bytes" : "characters";

    private static string Describe(FieldDefinition def, string detail) => $"{def.Name} ({def.Format}): {detail}";

    private int Reserve(int length)
    {
        if (_used + length > _data.Length)
        {
            Array.Resize(ref _data, Math.Max(_data.Length * 2, _used + length + 64));
        }

        return _used;
    }

    private static int Pad(FieldDefinition def, Span<byte> target, int valueLength)
    {
        var padCount = target.Length - valueLength;
        if (padCount == 0)
        {
            return 0;
        }

        if (def.Padding.Side == PaddingSide.Left)
        {
            target[..padCount].Fill((byte)def.Padding.Character);
            return padCount;
        }

        target[valueLength..].Fill((byte)def.Padding.Character);
        return 0;
    }

    private void Commit(FieldDefinition def, int start, int length)
    {
        var bad = ContentRules.IndexOfInvalid(def.Content, _data.AsSpan(start, length));
        if (bad >= 0)
        {
            var what = def.Sensitivity == FieldSensitivity.None && _data[start + bad] is >= 0x20 and < 0x7F
                ? $"'{(char)_data[start + bad]}' at position {bad} is not allowed in '{ContentRules.ShortName(def.Content)}'."
                : $"the character at position {bad} is not allowed in '{ContentRules.ShortName(def.Content)}'.";
            throw new Iso8583FieldException(def.Number, FieldErrorReason.InvalidCharacter, Describe(def, what));
        }

        _used = start + length;
        _frameLength = NoFrame;
        var index = 0;
        while (index < _count && _entries[index].Field < def.Number)
        {
            index++;
        }

        if (index < _count && _entries[index].Field == def.Number)
        {
            _entries[index] = new Entry(def.Number, start, length);
            return;
        }

        if (_count == _entries.Length)
        {
            Array.Resize(ref _entries, _entries.Length * 2);
        }

        Array.Copy(_entries, index, _entries, index + 1, _count - index);
        _entries[index] = new Entry(def.Number, start, length);
        _count++;
    }

    private int BitmapCount()
    {
        if (_count == 0)
        {
            return 1;
        }

        var highest = _entries[_count - 1].Field;
        return highest > 128 ? 3 : highest > 64 ? 2 : 1;
    }

    /// <summary>Packs into <paramref name="destination"/>; reports where <paramref name="locateField"/> starts (or -1).</summary>
    internal int PackCore(Span<byte> destination, int locateField, out int locatedOffset)
    {
        locatedOffset = -1;
        var spec = Spec;
        var offset = WriteMti(spec.MtiEncoding, _mti, destination);
        var bitmaps = BitmapCount();
        Span<ulong> bits = [0UL, 0UL, 0UL];
        if (bitmaps > 1)
        {
            bits[0] |= 1UL << 63;
        }

        if (bitmaps > 2)
        {
            bits[1] |= 1UL << 63;
        }

        for (var i = 0; i < _count; i++)
        {
            var f = _entries[i].Field - 1;
            bits[f >> 6] |= 1UL << (63 - (f & 63));
        }

        for (var b = 0; b < bitmaps; b++)
        {
            if (spec.BitmapEncoding == BitmapEncoding.Binary)
            {
                BinaryPrimitives.WriteUInt64BigEndian(destination[offset..], bits[b]);
                offset += 8;
            }
            else
            {
                for (var nibble = 15; nibble >= 0; nibble--)
                {
                    destination[offset++] = HexDigits.Upper[(int)((bits[b] >> (nibble * 4)) & 0xF)];
                }
            }
        }

        for (var i = 0; i < _count; i++)
        {
            var entry = _entries[i];
            var def = spec.Find(entry.Field)!;
            if (entry.Field == locateField)
            {
                locatedOffset = offset;
            }

            if (!def.IsFixed)
            {
                LengthPrefixCodec.Write(def.Prefix, entry.Length, destination[offset..]);
                offset += def.Prefix.ByteCount;
            }

            var wire = def.Codec.WireLength(entry.Length);
            def.Codec.Encode(_data.AsSpan(entry.Offset, entry.Length), destination.Slice(offset, wire));
            offset += wire;
        }

        return offset;
    }

    private static int WriteMti(FieldEncoding encoding, int mti, Span<byte> destination)
    {
        Span<byte> digits = [(byte)('0' + (mti / 1000)), (byte)('0' + (mti / 100 % 10)), (byte)('0' + (mti / 10 % 10)), (byte)('0' + (mti % 10))];
        var codec = ValueCodec.For(encoding);
        var length = codec.WireLength(4);
        codec.Encode(digits, destination[..length]);
        return length;
    }

    private readonly record struct Entry(int Field, int Offset, int Length);
}
