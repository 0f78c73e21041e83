using System.Globalization;
using CardlessAtm.Iso8583.Codec;

namespace CardlessAtm.Iso8583.Spec;

/// <summary>
/// One data element of a message spec: a composition of content type, maximum length, length prefix,
/// encoding and padding (not one class per combination). Immutable and safe to share between threads.
/// </summary>
public sealed class FieldDefinition
{
    /// <summary>Creates and validates a definition.</summary>
    /// <param name="number">The field number, 2–192.</param>
    /// <param name="name">A human-readable name used in dumps and errors.</param>
    /// <param name="content">What the field may contain.</param>
    /// <param name="maxLength">Exact length (fixed fields) or maximum length (variable fields), in characters or (binary) bytes.</param>
    /// <param name="prefix">The length prefix; <see cref="LengthPrefix.Fixed"/> for a fixed-length field.</param>
    /// <param name="encoding">How the value is written on the wire.</param>
    /// <param name="padding">How a short value of a fixed-length field is padded.</param>
    /// <param name="sensitivity">How the field is shown in dumps and errors.</param>
    /// <exception cref="Iso8583SpecException">The combination is not valid; the text says why.</exception>
    public FieldDefinition(
        int number,
        string name,
        FieldContent content,
        int maxLength,
        LengthPrefix prefix,
        FieldEncoding encoding,
        Padding padding = default,
        FieldSensitivity sensitivity = FieldSensitivity.None)
    {
        ArgumentNullException.ThrowIfNull(name);
        var where = string.Create(CultureInfo.InvariantCulture, $"field {number} ({name})");
        if (number is < 2 or > 192 or 65 or 129)
        {
            throw new Iso8583SpecException($"{where}: the number must be 2–192; 1, 65 and 129 are bitmap bits.");
        }

        if (maxLength < 1 || maxLength > prefix.MaxExpressible)
        {
            throw new Iso8583SpecException($"{where}: the length {maxLength} must be at least 1 and fit its {prefix.Digits}-digit length prefix (at most {prefix.MaxExpressible}).");
        }

        if (prefix.Digits is < 0 or > 4 || (!prefix.IsFixed && prefix.Encoding == FieldEncoding.Hex))
        {
            throw new Iso8583SpecException($"{where}: a length prefix has 0–4 digits written in ASCII, EBCDIC, BCD or binary.");
        }

        var encodingFits = content switch
        {
            FieldContent.Binary => encoding is FieldEncoding.Binary or FieldEncoding.Hex,
            FieldContent.Numeric => encoding is FieldEncoding.Ascii or FieldEncoding.Ebcdic or FieldEncoding.Bcd,
            _ => encoding is FieldEncoding.Ascii or FieldEncoding.Ebcdic,
        };
        if (!encodingFits)
        {
            throw new Iso8583SpecException($"{where}: content '{ContentRules.ShortName(content)}' cannot be written as {encoding}.");
        }

        if (padding.Side != PaddingSide.None)
        {
            if (!prefix.IsFixed)
            {
                throw new Iso8583SpecException($"{where}: only fixed-length fields are padded.");
            }

            Span<byte> pad = [(byte)padding.Character];
            if (content == FieldContent.Binary || padding.Character > 0x7E || ContentRules.IndexOfInvalid(content, pad) >= 0)
            {
                throw new Iso8583SpecException($"{where}: the pad character is not allowed by content '{ContentRules.ShortName(content)}'.");
            }
        }

        Number = number;
        Name = name;
        Content = content;
        MaxLength = maxLength;
        Prefix = prefix;
        Encoding = encoding;
        Padding = padding;
        Sensitivity = sensitivity;
        Codec = ValueCodec.For(encoding);
    }

    /// <summary>The field number (2–192).</summary>
    public int Number { get; }

    /// <summary>The name used in dumps and errors.</summary>
    public string Name { get; }

    /// <summary>What the field may contain.</summary>
    public FieldContent Content { get; }

    /// <summary>The exact (fixed) or maximum (variable) length in characters, or bytes for binary fields.</summary>
    public int MaxLength { get; }

    /// <summary>The length prefix (fixed when <see cref="LengthPrefix.Digits"/> is 0).</summary>
    public LengthPrefix Prefix { get; }

    /// <summary>How the value is written on the wire.</summary>
    public FieldEncoding Encoding { get; }

    /// <summary>How a short value of a fixed-length field is padded.</summary>
    public Padding Padding { get; }

    /// <summary>How the field is shown in dumps and errors.</summary>
    public FieldSensitivity Sensitivity { get; }

    /// <summary>True for a fixed-length field.</summary>
    public bool IsFixed => Prefix.IsFixed;

    /// <summary>True for a binary field (values are bytes; as strings they read and write as hexadecimal).</summary>
    public bool IsBinary => Content == FieldContent.Binary;

    internal ValueCodec Codec { get; }

    /// <summary>The ISO-style format, e.g. <c>n6</c>, <c>ans..999</c>, <c>b8</c>.</summary>
    public string Format => string.Create(CultureInfo.InvariantCulture, $"{ContentRules.ShortName(Content)}{(IsFixed ? string.Empty : "..")}{MaxLength}");

    /// <summary>Wire bytes for a value of this logical length, prefix included.</summary>
    internal int WireLength(int logicalLength) => Prefix.ByteCount + Codec.WireLength(logicalLength);

    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Number} {Name} {Format} {Encoding}");
}
