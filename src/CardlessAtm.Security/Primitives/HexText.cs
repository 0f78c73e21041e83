namespace CardlessAtm.Security.Primitives;

/// <summary>Hex parsing whose errors never echo the (secret) input.</summary>
internal static class HexText
{
    public static byte[] ParseSecret(string hex, string what)
    {
        ArgumentNullException.ThrowIfNull(hex);
        var compact = hex.Replace(" ", string.Empty, StringComparison.Ordinal).Replace("-", string.Empty, StringComparison.Ordinal);
        if (compact.Length % 2 != 0)
        {
            throw new InvalidKeyException($"{what}: hex text has an odd number of digits ({compact.Length}).");
        }

        for (var i = 0; i < compact.Length; i++)
        {
            if (!char.IsAsciiHexDigit(compact[i]))
            {
                throw new InvalidKeyException($"{what}: character {i + 1} is not a hex digit.");
            }
        }

        return Convert.FromHexString(compact);
    }
}
