using CardlessAtm.Iso8583.Spec;

namespace CardlessAtm.Iso8583.Codec;

/// <summary>Checks logical (ASCII) values against a field's content type.</summary>
internal static class ContentRules
{
    /// <summary>Returns the index of the first byte the content type does not allow, or -1.</summary>
    public static int IndexOfInvalid(FieldContent content, ReadOnlySpan<byte> value)
    {
        switch (content)
        {
            case FieldContent.Numeric:
                return value.IndexOfAnyExceptInRange((byte)'0', (byte)'9');
            case FieldContent.AlphaNumericSpecial:
                return value.IndexOfAnyExceptInRange((byte)0x20, (byte)0x7E);
            case FieldContent.Binary:
                return -1;
            default:
                for (var i = 0; i < value.Length; i++)
                {
                    if (!IsAllowed(content, value[i]))
                    {
                        return i;
                    }
                }

                return -1;
        }
    }

    private static bool IsAllowed(FieldContent content, byte b)
    {
        var letter = b is (>= (byte)'A' and <= (byte)'Z') or (>= (byte)'a' and <= (byte)'z');
        var digit = b is >= (byte)'0' and <= (byte)'9';
        return content switch
        {
            FieldContent.Alpha => letter || b == ' ',
            FieldContent.AlphaNumeric => letter || digit || b == ' ',
            FieldContent.Track => digit || b is (byte)'=' or (byte)'D' or (byte)'?' or (byte)';',
            _ => false,
        };
    }

    /// <summary>The short name of a content type, as ISO 8583 writes it.</summary>
    public static string ShortName(FieldContent content) => content switch
    {
        FieldContent.Numeric => "n",
        FieldContent.Alpha => "a",
        FieldContent.AlphaNumeric => "an",
        FieldContent.AlphaNumericSpecial => "ans",
        FieldContent.Track => "z",
        _ => "b",
    };
}
