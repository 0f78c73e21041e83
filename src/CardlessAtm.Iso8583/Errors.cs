using System.Globalization;

namespace CardlessAtm.Iso8583;

/// <summary>Why a byte sequence could not be unpacked.</summary>
public enum ParseErrorReason
{
    /// <summary>The bytes ended before the element was complete.</summary>
    Truncated,

    /// <summary>A numeric element (value, MTI or length prefix) holds something other than a decimal digit.</summary>
    InvalidDigit,

    /// <summary>A character is not allowed by the field's content type or cannot be decoded.</summary>
    InvalidCharacter,

    /// <summary>A length prefix states more than the field's maximum length.</summary>
    LengthExceedsMaximum,

    /// <summary>A bitmap bit names a field that the message spec does not define.</summary>
    UndefinedField,

    /// <summary>A hexadecimal bitmap holds a non-hexadecimal character.</summary>
    InvalidBitmap,

    /// <summary>Bytes remain after the last field the bitmaps name.</summary>
    TrailingBytes,
}

/// <summary>
/// The one error that unpacking throws: which element failed (<see cref="FieldNumber"/>, 0 = MTI, 1 = bitmaps),
/// at which byte offset of the input, and why. The text never contains the value of a sensitive field.
/// </summary>
public sealed class Iso8583ParseException : Exception
{
    /// <summary>Creates the error.</summary>
    /// <param name="fieldNumber">The field being decoded; 0 for the MTI, 1 for the bitmaps.</param>
    /// <param name="fieldName">The field's name from the spec.</param>
    /// <param name="offset">The byte offset in the input where the problem was found.</param>
    /// <param name="reason">The reason.</param>
    /// <param name="detail">A short explanation that holds no field value of a sensitive field.</param>
    public Iso8583ParseException(int fieldNumber, string fieldName, int offset, ParseErrorReason reason, string detail)
        : base(Format(fieldNumber, fieldName, offset, reason, detail))
    {
        FieldNumber = fieldNumber;
        FieldName = fieldName;
        Offset = offset;
        Reason = reason;
        Detail = detail;
    }

    /// <summary>The field being decoded: 0 = MTI, 1 = bitmaps, 2–192 = data elements.</summary>
    public int FieldNumber { get; }

    /// <summary>The field's name from the spec ("MTI", "bitmap", …).</summary>
    public string FieldName { get; }

    /// <summary>The byte offset in the unpacked input where the problem was found.</summary>
    public int Offset { get; }

    /// <summary>Why unpacking failed.</summary>
    public ParseErrorReason Reason { get; }

    /// <summary>The explanation, free of sensitive values.</summary>
    public string Detail { get; }

    private static string Format(int field, string name, int offset, ParseErrorReason reason, string detail)
    {
        var element = field switch
        {
            0 => "MTI",
            1 => "bitmap",
            _ => string.Create(CultureInfo.InvariantCulture, $"field {field} ({name})"),
        };
        return string.Create(CultureInfo.InvariantCulture, $"ISO 8583 parse error in {element} at byte offset {offset}: {reason}: {detail}");
    }
}

/// <summary>Why a value was refused when setting a field.</summary>
public enum FieldErrorReason
{
    /// <summary>The spec does not define the field.</summary>
    UndefinedField,

    /// <summary>The value is longer than the field allows.</summary>
    TooLong,

    /// <summary>The value is shorter than a fixed-length field that is not padded.</summary>
    TooShort,

    /// <summary>The value holds a character the field's content type does not allow.</summary>
    InvalidCharacter,

    /// <summary>A typed value is out of the field's range or not meaningful for it.</summary>
    InvalidValue,
}

/// <summary>
/// A value was refused for a field (when setting it, or by a typed accessor reading it). The message is unchanged.
/// The text names the field and the reason; it never contains the value of a sensitive field.
/// </summary>
public sealed class Iso8583FieldException : ArgumentException
{
    /// <summary>Creates the error.</summary>
    /// <param name="fieldNumber">The field (0 = MTI).</param>
    /// <param name="reason">The reason.</param>
    /// <param name="detail">A short explanation that holds no value of a sensitive field.</param>
    public Iso8583FieldException(int fieldNumber, FieldErrorReason reason, string detail)
        : base(string.Create(CultureInfo.InvariantCulture, $"ISO 8583 {(fieldNumber == 0 ? "MTI" : "field " + fieldNumber.ToString(CultureInfo.InvariantCulture))}: {reason}: {detail}"))
    {
        FieldNumber = fieldNumber;
        Reason = reason;
        Detail = detail;
    }

    /// <summary>The field (0 = MTI).</summary>
    public int FieldNumber { get; }

    /// <summary>Why the value was refused.</summary>
    public FieldErrorReason Reason { get; }

    /// <summary>The explanation, free of sensitive values.</summary>
    public string Detail { get; }
}

/// <summary>A message spec file could not be loaded; the text names the setting (and field) that is wrong.</summary>
public sealed class Iso8583SpecException : Exception
{
    /// <summary>Creates the error.</summary>
    /// <param name="message">What is wrong and where.</param>
    public Iso8583SpecException(string message) : base(message)
    {
    }

    /// <summary>Creates the error with its cause.</summary>
    /// <param name="message">What is wrong and where.</param>
    /// <param name="inner">The cause (e.g. a JSON syntax error).</param>
    public Iso8583SpecException(string message, Exception inner) : base(message, inner)
    {
    }
}
