namespace CardlessAtm.Iso8583.Spec;

/// <summary>How the characters or bytes of a value (or of a length prefix) are written on the wire.</summary>
public enum FieldEncoding
{
    /// <summary>One ASCII byte per character.</summary>
    Ascii,

    /// <summary>One EBCDIC (code page 037) byte per character.</summary>
    Ebcdic,

    /// <summary>Packed binary-coded decimal: two digits per byte, an odd count padded with a leading zero nibble.</summary>
    Bcd,

    /// <summary>Raw bytes (binary fields) or a big-endian unsigned integer (length prefixes).</summary>
    Binary,

    /// <summary>Each byte of a binary value written as two upper-case ASCII hexadecimal characters.</summary>
    Hex,
}

/// <summary>What a field may contain, in ISO 8583 terms (n, a, an, ans, z, b).</summary>
public enum FieldContent
{
    /// <summary><c>n</c>: decimal digits only.</summary>
    Numeric,

    /// <summary><c>a</c>: letters and space.</summary>
    Alpha,

    /// <summary><c>an</c>: letters, digits and space.</summary>
    AlphaNumeric,

    /// <summary><c>ans</c>: printable ASCII (0x20–0x7E).</summary>
    AlphaNumericSpecial,

    /// <summary><c>z</c>: track data characters (digits, <c>=</c>, <c>D</c>, <c>?</c>, <c>;</c>).</summary>
    Track,

    /// <summary><c>b</c>: binary; the length counts bytes.</summary>
    Binary,
}

/// <summary>How a field is shown in dumps, logs and error messages.</summary>
public enum FieldSensitivity
{
    /// <summary>Shown as is.</summary>
    None,

    /// <summary>A primary account number: first 6 and last 4 shown, the rest masked.</summary>
    Pan,

    /// <summary>Never shown: only its length is printed (PIN block, track data, key material, MAC, protected data).</summary>
    Secret,
}

/// <summary>Which side a fixed-length field is padded on when the value is shorter than the field.</summary>
public enum PaddingSide
{
    /// <summary>No padding: a short value is an error.</summary>
    None,

    /// <summary>Pad on the left (numbers: <c>'0'</c>).</summary>
    Left,

    /// <summary>Pad on the right (text: <c>' '</c>).</summary>
    Right,
}

/// <summary>How the bitmaps are written.</summary>
public enum BitmapEncoding
{
    /// <summary>8 raw bytes per bitmap.</summary>
    Binary,

    /// <summary>16 ASCII hexadecimal characters per bitmap.</summary>
    Hex,
}

/// <summary>The padding of a fixed-length field: a side and the character used.</summary>
/// <param name="Side">Which side is padded.</param>
/// <param name="Character">The pad character (ASCII), e.g. <c>'0'</c> or <c>' '</c>.</param>
public readonly record struct Padding(PaddingSide Side, char Character)
{
    /// <summary>No padding.</summary>
    public static Padding None => default;

    /// <summary>Left padding with zeros (numeric fields).</summary>
    public static Padding LeftZeros => new(PaddingSide.Left, '0');

    /// <summary>Right padding with spaces (text fields).</summary>
    public static Padding RightSpaces => new(PaddingSide.Right, ' ');
}

/// <summary>
/// The length prefix of a field: how many digits it has (0 = fixed length, 1–4 = L to LLLL) and how those
/// digits are written (ASCII, EBCDIC, BCD, or binary — binary uses 1 byte for L/LL and 2 bytes for LLL/LLLL).
/// </summary>
/// <param name="Digits">0 for a fixed-length field, else 1 (L), 2 (LL), 3 (LLL) or 4 (LLLL).</param>
/// <param name="Encoding">How the length is written.</param>
public readonly record struct LengthPrefix(int Digits, FieldEncoding Encoding)
{
    /// <summary>A fixed-length field (no prefix).</summary>
    public static LengthPrefix Fixed => default;

    /// <summary>True when the field has no length prefix.</summary>
    public bool IsFixed => Digits == 0;

    /// <summary>The largest length the prefix can express.</summary>
    public int MaxExpressible => Digits switch
    {
        0 => int.MaxValue,
        1 => Encoding == FieldEncoding.Binary ? 255 : 9,
        2 => Encoding == FieldEncoding.Binary ? 255 : 99,
        3 => Encoding == FieldEncoding.Binary ? 65535 : 999,
        _ => Encoding == FieldEncoding.Binary ? 65535 : 9999,
    };

    /// <summary>How many bytes the prefix takes on the wire.</summary>
    public int ByteCount => Digits == 0 ? 0 : Encoding switch
    {
        FieldEncoding.Binary => Digits <= 2 ? 1 : 2,
        FieldEncoding.Bcd => (Digits + 1) / 2,
        _ => Digits,
    };
}
