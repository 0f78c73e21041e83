using System.Security.Cryptography;
using CardlessAtm.Security.Primitives;

namespace CardlessAtm.Security;

/// <summary>
/// A key check value (KCV): a short, non-secret fingerprint of a key used to confirm that a key was
/// entered or delivered intact. TDES: the leftmost 3 bytes of the key encrypting a block of zeros
/// (ANSI X9.24-1). AES: the leftmost 5 bytes of AES-CMAC over a block of zeros (the CMAC method of
/// ANSI X9.24-1:2017), which does not expose a plaintext/ciphertext pair of the key itself.
/// </summary>
public readonly record struct KeyCheckValue
{
    private readonly byte[]? _bytes;

    private KeyCheckValue(byte[] bytes) => _bytes = bytes;

    /// <summary>The check value bytes (3 for TDES, 5 for AES).</summary>
    public ReadOnlySpan<byte> Bytes => _bytes;

    /// <summary>Computes the check value of <paramref name="key"/>.</summary>
    public static KeyCheckValue Compute(SecretKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Algorithm.IsTdes())
        {
            Span<byte> block = stackalloc byte[8];
            block.Clear();
            BlockCiphers.EncryptEcb(key, block, block);
            return new KeyCheckValue(block[..3].ToArray());
        }

        Span<byte> zeros = stackalloc byte[16];
        zeros.Clear();
        var mac = Cmac.Compute(key, zeros);
        var kcv = mac[..5];
        CryptographicOperations.ZeroMemory(mac);
        return new KeyCheckValue(kcv);
    }

    /// <summary>Parses a hex KCV (3 or 5 bytes).</summary>
    /// <exception cref="KeyCheckValueMismatchException">Not hex or wrong length.</exception>
    public static KeyCheckValue Parse(string hex)
    {
        ArgumentNullException.ThrowIfNull(hex);
        byte[] bytes;
        try
        {
            bytes = Convert.FromHexString(hex.Replace(" ", string.Empty, StringComparison.Ordinal));
        }
        catch (FormatException)
        {
            throw new KeyCheckValueMismatchException($"Key check value '{hex}' is not hexadecimal.");
        }

        if (bytes.Length is not (3 or 5))
        {
            throw new KeyCheckValueMismatchException($"Key check value '{hex}' has {bytes.Length} bytes; expected 3 (TDES) or 5 (AES).");
        }

        return new KeyCheckValue(bytes);
    }

    /// <summary>Creates a KCV from raw bytes (3 or 5).</summary>
    public static KeyCheckValue FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length is not (3 or 5))
        {
            throw new KeyCheckValueMismatchException($"Key check value has {bytes.Length} bytes; expected 3 (TDES) or 5 (AES).");
        }

        return new KeyCheckValue(bytes.ToArray());
    }

    /// <summary>Length of the KCV used for keys of <paramref name="algorithm"/>.</summary>
    public static int LengthFor(KeyAlgorithm algorithm) => algorithm.IsTdes() ? 3 : 5;

    /// <summary>Throws <see cref="KeyCheckValueMismatchException"/> naming <paramref name="keyName"/> unless <paramref name="key"/> has this check value.</summary>
    public void Verify(SecretKey key, string keyName)
    {
        var actual = Compute(key);
        if (!Equals(actual))
        {
            throw new KeyCheckValueMismatchException($"{keyName}: key check value is {actual}, expected {this}; the key was mistyped or corrupted and is not used.");
        }
    }

    /// <summary>Byte-wise equality.</summary>
    public bool Equals(KeyCheckValue other) => Bytes.SequenceEqual(other.Bytes);

    /// <inheritdoc/>
    public override int GetHashCode() => _bytes is null ? 0 : BitConverter.ToInt32(_bytes, 0);

    /// <summary>Upper-case hex.</summary>
    public override string ToString() => _bytes is null ? string.Empty : Convert.ToHexString(_bytes);
}
