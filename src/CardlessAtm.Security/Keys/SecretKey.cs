using System.Security.Cryptography;
using CardlessAtm.Security.Primitives;

namespace CardlessAtm.Security;

/// <summary>
/// A symmetric key held in a private buffer that is zeroed on <see cref="Dispose"/>.
/// <see cref="ToString"/> shows only the algorithm and the key check value, never the key.
/// </summary>
public sealed class SecretKey : IDisposable, IEquatable<SecretKey>
{
    private readonly byte[] _material;
    private bool _disposed;

    private SecretKey(KeyAlgorithm algorithm, byte[] material)
    {
        Algorithm = algorithm;
        _material = material;
    }

    /// <summary>The algorithm and length this key is for.</summary>
    public KeyAlgorithm Algorithm { get; }

    /// <summary>Key length in bytes.</summary>
    public int Length => _material.Length;

    /// <summary>
    /// Copies <paramref name="material"/> into a new key after checking its length for <paramref name="algorithm"/>
    /// and, when <paramref name="requireOddParity"/> is set for a TDES key, that every byte has odd parity.
    /// TDES keys whose first two halves are equal (single DES in disguise) are always refused.
    /// </summary>
    /// <exception cref="InvalidKeyException">Wrong length, bad parity or degenerate TDES key.</exception>
    public static SecretKey Create(KeyAlgorithm algorithm, ReadOnlySpan<byte> material, bool requireOddParity = false, string? keyName = null)
    {
        var what = keyName ?? $"{algorithm.DisplayName()} key";
        if (material.Length != algorithm.KeyLength())
        {
            throw new InvalidKeyException($"{what}: length is {material.Length} bytes; {algorithm.DisplayName()} needs {algorithm.KeyLength()}.");
        }

        if (algorithm.IsTdes())
        {
            if (material[..8].SequenceEqual(material.Slice(8, 8)))
            {
                throw new InvalidKeyException($"{what}: the first and second DES halves are equal, which reduces TDES to single DES.");
            }

            if (requireOddParity && !DesParity.HasOddParity(material, out var badByte))
            {
                throw new InvalidKeyException($"{what}: byte {badByte} does not have odd DES parity.");
            }
        }

        return new SecretKey(algorithm, material.ToArray());
    }

    /// <summary>Parses a hex string (spaces allowed) into a key; see <see cref="Create"/>.</summary>
    /// <exception cref="InvalidKeyException">Not hex, wrong length, bad parity.</exception>
    public static SecretKey FromHex(KeyAlgorithm algorithm, string hex, bool requireOddParity = false, string? keyName = null)
    {
        var bytes = HexText.ParseSecret(hex, keyName ?? $"{algorithm.DisplayName()} key");
        try
        {
            return Create(algorithm, bytes, requireOddParity, keyName);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
        }
    }

    /// <summary>Generates a random key from the operating system's CSPRNG (TDES keys get odd parity).</summary>
    public static SecretKey Generate(KeyAlgorithm algorithm)
    {
        var bytes = new byte[algorithm.KeyLength()];
        while (true)
        {
            RandomNumberGenerator.Fill(bytes);
            if (!algorithm.IsTdes())
            {
                return new SecretKey(algorithm, bytes);
            }

            DesParity.AdjustToOdd(bytes);
            if (!bytes.AsSpan(0, 8).SequenceEqual(bytes.AsSpan(8, 8)))
            {
                return new SecretKey(algorithm, bytes);
            }
        }
    }

    /// <summary>
    /// Borrows the raw key bytes for the duration of <paramref name="use"/>. The span must not be stored.
    /// </summary>
    public T Use<T>(KeyUse<T> use)
    {
        ArgumentNullException.ThrowIfNull(use);
        ObjectDisposedException.ThrowIf(_disposed, this);
        return use(_material);
    }

    /// <summary>Copies the key bytes out (the caller owns and must zero the copy).</summary>
    public byte[] ExportBytes()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return (byte[])_material.Clone();
    }

    /// <summary>Key check value: see <see cref="KeyCheckValue.Compute(SecretKey)"/>.</summary>
    public KeyCheckValue CheckValue => KeyCheckValue.Compute(this);

    internal ReadOnlySpan<byte> Material
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _material;
        }
    }

    /// <summary>Zeroes the key bytes.</summary>
    public void Dispose()
    {
        if (!_disposed)
        {
            CryptographicOperations.ZeroMemory(_material);
            _disposed = true;
        }
    }

    /// <summary>Constant-time equality of algorithm and key bytes.</summary>
    public bool Equals(SecretKey? other) =>
        other is not null && other.Algorithm == Algorithm && CryptographicOperations.FixedTimeEquals(other.Material, Material);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as SecretKey);

    /// <inheritdoc/>
    public override int GetHashCode() => (int)Algorithm;

    /// <summary>Algorithm and key check value only, e.g. <c>AES-128 key (KCV 5E2A9F01C4)</c>.</summary>
    public override string ToString() => _disposed ? $"{Algorithm.DisplayName()} key (disposed)" : $"{Algorithm.DisplayName()} key (KCV {CheckValue})";
}

/// <summary>Receives borrowed key bytes.</summary>
public delegate T KeyUse<out T>(ReadOnlySpan<byte> keyBytes);
