namespace CardlessAtm.Security;

/// <summary>The block-cipher algorithm and length a key is for.</summary>
public enum KeyAlgorithm
{
    /// <summary>Two-key triple DES (16 bytes, K1 K2 K1).</summary>
    Tdes2Key,
    /// <summary>Three-key triple DES (24 bytes).</summary>
    Tdes3Key,
    /// <summary>AES with a 128-bit key.</summary>
    Aes128,
    /// <summary>AES with a 192-bit key.</summary>
    Aes192,
    /// <summary>AES with a 256-bit key.</summary>
    Aes256,
}

/// <summary>Facts about each <see cref="KeyAlgorithm"/>.</summary>
public static class KeyAlgorithms
{
    /// <summary>The key length in bytes.</summary>
    public static int KeyLength(this KeyAlgorithm algorithm) => algorithm switch
    {
        KeyAlgorithm.Tdes2Key => 16,
        KeyAlgorithm.Tdes3Key => 24,
        KeyAlgorithm.Aes128 => 16,
        KeyAlgorithm.Aes192 => 24,
        KeyAlgorithm.Aes256 => 32,
        _ => throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, "Unknown key algorithm."),
    };

    /// <summary>The cipher block length in bytes (8 for TDES, 16 for AES).</summary>
    public static int BlockLength(this KeyAlgorithm algorithm) => algorithm.IsTdes() ? 8 : 16;

    /// <summary>True for the triple-DES algorithms.</summary>
    public static bool IsTdes(this KeyAlgorithm algorithm) => algorithm is KeyAlgorithm.Tdes2Key or KeyAlgorithm.Tdes3Key;

    /// <summary>True for the AES algorithms.</summary>
    public static bool IsAes(this KeyAlgorithm algorithm) => algorithm is KeyAlgorithm.Aes128 or KeyAlgorithm.Aes192 or KeyAlgorithm.Aes256;

    /// <summary>Short display name, e.g. "AES-128" or "TDES-2key".</summary>
    public static string DisplayName(this KeyAlgorithm algorithm) => algorithm switch
    {
        KeyAlgorithm.Tdes2Key => "TDES-2key",
        KeyAlgorithm.Tdes3Key => "TDES-3key",
        KeyAlgorithm.Aes128 => "AES-128",
        KeyAlgorithm.Aes192 => "AES-192",
        KeyAlgorithm.Aes256 => "AES-256",
        _ => algorithm.ToString(),
    };

    /// <summary>Parses names such as <c>aes128</c>, <c>AES-256</c>, <c>tdes2</c>, <c>Tdes3Key</c> (case-insensitive).</summary>
    public static KeyAlgorithm Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var normalized = text.Replace("-", string.Empty, StringComparison.Ordinal).Replace("_", string.Empty, StringComparison.Ordinal).ToUpperInvariant();
        return normalized switch
        {
            "TDES2" or "TDES2KEY" or "2TDEA" or "TDES" => KeyAlgorithm.Tdes2Key,
            "TDES3" or "TDES3KEY" or "3TDEA" => KeyAlgorithm.Tdes3Key,
            "AES128" or "AES" => KeyAlgorithm.Aes128,
            "AES192" => KeyAlgorithm.Aes192,
            "AES256" => KeyAlgorithm.Aes256,
            _ => throw new ArgumentException($"Unknown key algorithm '{text}'; expected one of tdes2, tdes3, aes128, aes192, aes256.", nameof(text)),
        };
    }
}
