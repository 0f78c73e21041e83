namespace CardlessAtm.Security.Primitives;

/// <summary>Bounds-checked reader whose errors name the structure, the part and the offset.</summary>
internal ref struct SpanReader
{
    private readonly ReadOnlySpan<byte> _data;
    private readonly string _structure;
    private int _offset;

    public SpanReader(ReadOnlySpan<byte> data, string structure)
    {
        _data = data;
        _structure = structure;
        _offset = 0;
    }

    public readonly int Offset => _offset;

    public readonly int Remaining => _data.Length - _offset;

    public byte ReadByte(string part) => ReadBytes(1, part)[0];

    public ushort ReadUInt16(string part)
    {
        var bytes = ReadBytes(2, part);
        return (ushort)(bytes[0] << 8 | bytes[1]);
    }

    public ReadOnlySpan<byte> ReadBytes(int count, string part)
    {
        if (count < 0 || count > Remaining)
        {
            throw new MalformedDataException($"{_structure}: truncated at offset {_offset}: {part} needs {count} bytes, {Remaining} remain.");
        }

        var slice = _data.Slice(_offset, count);
        _offset += count;
        return slice;
    }

    public readonly void ExpectEnd()
    {
        if (Remaining != 0)
        {
            throw new MalformedDataException($"{_structure}: {Remaining} unexpected trailing bytes at offset {_offset}.");
        }
    }
}
