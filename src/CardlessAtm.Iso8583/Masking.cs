using System.Globalization;
using System.Text;
using CardlessAtm.Iso8583.Spec;

namespace CardlessAtm.Iso8583;

/// <summary>Renders field values for dumps and logs with sensitive fields masked.</summary>
internal static class Masking
{
    public static void Append(StringBuilder text, FieldDefinition def, ReadOnlySpan<byte> value)
    {
        switch (def.Sensitivity)
        {
            case FieldSensitivity.Secret:
                text.Append(CultureInfo.InvariantCulture, $"[masked, {value.Length} {(def.IsBinary ? "bytes" : "characters")}]");
                return;
            case FieldSensitivity.Pan:
                AppendPan(text, value);
                return;
            default:
                if (def.IsBinary)
                {
                    text.Append(Convert.ToHexString(value));
                }
                else
                {
                    text.Append(Encoding.ASCII.GetString(value));
                }

                return;
        }
    }

    private static void AppendPan(StringBuilder text, ReadOnlySpan<byte> value)
    {
        // First 6 and last 4 (PCI DSS), and never more than half of a short number.
        var shown = value.Length >= 16 ? 6 : Math.Max(0, (value.Length / 2) - 4);
        var tail = value.Length >= 8 ? 4 : 0;
        for (var i = 0; i < value.Length; i++)
        {
            text.Append(i < shown || i >= value.Length - tail ? (char)value[i] : '*');
        }
    }
}
