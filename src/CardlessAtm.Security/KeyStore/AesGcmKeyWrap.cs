using System.Security.Cryptography;

namespace CardlessAtm.Security;

/// <summary>A key encrypted under a key-encryption key: what a database vault stores (no plaintext anywhere in it).</summary>
/// <param name="Nonce">The 12-byte AES-GCM nonce, fresh for every wrap.</param>
/// <param name="Ciphertext">The key material, encrypted.</param>
/// <param name="Tag">The 16-byte authentication tag over the ciphertext and the associated data.</param>
public sealed record WrappedKey(byte[] Nonce, byte[] Ciphertext, byte[] Tag);

/// <summary>
/// Wraps keys under an AES-256 key-encryption key with AES-256-GCM (.NET's <see cref="AesGcm"/>, NIST SP 800-38D),
/// binding each to associated data the caller chooses (the vault binds the key's name, row version, algorithm and KCV),
/// so a ciphertext moved to another name or version, or changed in any bit, fails authentication instead of yielding
/// a wrong key. The nonce is random per wrap (96 bits): a KEK wraps far fewer than 2^32 keys in its life.
/// </summary>
public static class AesGcmKeyWrap
{
    private const int NonceLength = 12;
    private const int TagLength = 16;

    /// <summary>Encrypts <paramref name="key"/>'s material under <paramref name="kek"/>, bound to <paramref name="associatedData"/>.</summary>
    /// <exception cref="InvalidKeyException">The KEK is not an AES-256 key.</exception>
    public static WrappedKey Wrap(SecretKey kek, SecretKey key, ReadOnlySpan<byte> associatedData)
    {
        ArgumentNullException.ThrowIfNull(kek);
        ArgumentNullException.ThrowIfNull(key);
        RequireKek(kek);
        var nonce = RandomNumberGenerator.GetBytes(NonceLength);
        var ciphertext = new byte[key.Material.Length];
        var tag = new byte[TagLength];
        using var gcm = new AesGcm(kek.Material, TagLength);
        gcm.Encrypt(nonce, key.Material, ciphertext, tag, associatedData);
        return new WrappedKey(nonce, ciphertext, tag);
    }

    /// <summary>Decrypts and authenticates a wrapped key.</summary>
    /// <param name="kek">The key-encryption key.</param>
    /// <param name="algorithm">The algorithm the key is for.</param>
    /// <param name="wrapped">What <see cref="Wrap"/> produced.</param>
    /// <param name="associatedData">The same associated data as when wrapped.</param>
    /// <param name="keyName">Names the key in an error (never its value).</param>
    /// <exception cref="MacMismatchException">The tag does not verify: tampered, moved to another name/version, or another KEK.</exception>
    /// <exception cref="InvalidKeyException">The KEK is not AES-256, or the material is not a valid key of <paramref name="algorithm"/>.</exception>
    public static SecretKey Unwrap(SecretKey kek, KeyAlgorithm algorithm, WrappedKey wrapped, ReadOnlySpan<byte> associatedData, string keyName)
    {
        ArgumentNullException.ThrowIfNull(kek);
        ArgumentNullException.ThrowIfNull(wrapped);
        RequireKek(kek);
        if (wrapped.Nonce.Length != NonceLength || wrapped.Tag.Length != TagLength || wrapped.Ciphertext.Length != algorithm.KeyLength())
        {
            throw new MacMismatchException($"{keyName}: the wrapped key has the wrong shape for {algorithm.DisplayName()}; refusing it.");
        }

        var material = new byte[wrapped.Ciphertext.Length];
        try
        {
            using var gcm = new AesGcm(kek.Material, TagLength);
            try
            {
                gcm.Decrypt(wrapped.Nonce, wrapped.Ciphertext, wrapped.Tag, material, associatedData);
            }
            catch (AuthenticationTagMismatchException)
            {
                throw new MacMismatchException($"{keyName}: failed authentication under the key-encryption key (tampered, moved from another key's row, or wrapped under another KEK); refusing it.");
            }

            return SecretKey.Create(algorithm, material, keyName: keyName);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(material);
        }
    }

    private static void RequireKek(SecretKey kek)
    {
        if (kek.Algorithm != KeyAlgorithm.Aes256)
        {
            throw new InvalidKeyException($"A key-encryption key must be AES-256, not {kek.Algorithm.DisplayName()}.");
        }
    }
}
