using System.Security.Cryptography;
using CardlessAtm.Security.Primitives;

namespace CardlessAtm.Security;

/// <summary>
/// TDES DUKPT, ANSI X9.24-1:2009 (host side): initial key (IPEK) from the BDK, transaction keys from
/// the initial key and the KSN, and the PIN / MAC / data-encryption variants of a transaction key.
/// </summary>
public static class TdesDukpt
{
    private static readonly byte[] KeyMask = Convert.FromHexString("C0C0C0C000000000C0C0C0C000000000");

    /// <summary>Derives the initial key (IPEK) for the device whose KSN is <paramref name="ksn"/> (counter ignored).</summary>
    /// <exception cref="InvalidKeyException">BDK is not a 2-key TDES key.</exception>
    public static SecretKey DeriveInitialKey(SecretKey baseDerivationKey, KeySerialNumber ksn)
    {
        ArgumentNullException.ThrowIfNull(baseDerivationKey);
        ArgumentNullException.ThrowIfNull(ksn);
        RequireTdesKsn(ksn);
        RequireTdes2(baseDerivationKey, "Base derivation key");

        var register = ksn.InitialKeyIdBytes().AsSpan(0, 8).ToArray();
        var bdk = baseDerivationKey.Material;
        Span<byte> maskedBdk = stackalloc byte[16];
        Span<byte> ik = stackalloc byte[16];
        try
        {
            BlockCiphers.EcbRaw(KeyAlgorithm.Tdes2Key, bdk, true, register, ik[..8]);
            for (var i = 0; i < 16; i++)
            {
                maskedBdk[i] = (byte)(bdk[i] ^ KeyMask[i]);
            }

            BlockCiphers.EcbRaw(KeyAlgorithm.Tdes2Key, maskedBdk, true, register, ik[8..]);
            return SecretKey.Create(KeyAlgorithm.Tdes2Key, ik, keyName: "DUKPT initial key");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(maskedBdk);
            CryptographicOperations.ZeroMemory(ik);
        }
    }

    /// <summary>Derives the transaction key for <paramref name="ksn"/>'s counter from the device's initial key.</summary>
    /// <exception cref="InvalidKeySerialNumberException">Counter zero or with more than 10 one-bits.</exception>
    public static SecretKey DeriveTransactionKey(SecretKey initialKey, KeySerialNumber ksn)
    {
        ArgumentNullException.ThrowIfNull(initialKey);
        ArgumentNullException.ThrowIfNull(ksn);
        RequireTdesKsn(ksn);
        RequireTdes2(initialKey, "DUKPT initial key");
        if (!ksn.HasValidCounter)
        {
            throw new InvalidKeySerialNumberException($"KSN {ksn}: transaction counter {ksn.TransactionCounter:X} is zero or has more than 10 one-bits.");
        }

        return DukptDerivation.FromInitialKey(DukptKind.Tdes, initialKey, ksn);
    }

    /// <summary>PIN encryption key: transaction key XOR 00000000000000FF (both halves).</summary>
    public static SecretKey PinKey(SecretKey transactionKey) => Variant(transactionKey, 7);

    /// <summary>Request MAC key: transaction key XOR 000000000000FF00 (both halves).</summary>
    public static SecretKey MacRequestKey(SecretKey transactionKey) => Variant(transactionKey, 6);

    /// <summary>Response MAC key: transaction key XOR 00000000FF000000 (both halves).</summary>
    public static SecretKey MacResponseKey(SecretKey transactionKey) => Variant(transactionKey, 4);

    /// <summary>
    /// Request data-encryption key: transaction key XOR 0000000000FF0000 (both halves), then each half
    /// TDES-encrypted under that variant key (the one-way step of X9.24-1:2009 A.4.1 figure A-2).
    /// </summary>
    public static SecretKey DataRequestKey(SecretKey transactionKey) => DataKey(transactionKey, 5);

    /// <summary>Response data-encryption key: variant 000000FF00000000 then the same one-way step.</summary>
    public static SecretKey DataResponseKey(SecretKey transactionKey) => DataKey(transactionKey, 3);

    /// <summary>The non-reversible key generation process of X9.24-1 (one step down the key tree).</summary>
    internal static void NonReversibleKeyGeneration(ReadOnlySpan<byte> key, ReadOnlySpan<byte> ksnRegister, Span<byte> newKey)
    {
        Span<byte> masked = stackalloc byte[16];
        try
        {
            OneHalf(key, ksnRegister, newKey[8..]);
            for (var i = 0; i < 16; i++)
            {
                masked[i] = (byte)(key[i] ^ KeyMask[i]);
            }

            OneHalf(masked, ksnRegister, newKey[..8]);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(masked);
        }
    }

    private static void OneHalf(ReadOnlySpan<byte> key, ReadOnlySpan<byte> register, Span<byte> output)
    {
        Span<byte> block = stackalloc byte[8];
        for (var i = 0; i < 8; i++)
        {
            block[i] = (byte)(register[i] ^ key[8 + i]);
        }

        var des = new Org.BouncyCastle.Crypto.Engines.DesEngine();
        des.Init(true, new Org.BouncyCastle.Crypto.Parameters.KeyParameter(key[..8]));
        des.ProcessBlock(block, output);
        for (var i = 0; i < 8; i++)
        {
            output[i] ^= key[8 + i];
        }

        CryptographicOperations.ZeroMemory(block);
    }

    private static SecretKey Variant(SecretKey transactionKey, int byteIndex)
    {
        ArgumentNullException.ThrowIfNull(transactionKey);
        RequireTdes2(transactionKey, "DUKPT transaction key");
        var bytes = transactionKey.ExportBytes();
        try
        {
            bytes[byteIndex] ^= 0xFF;
            bytes[8 + byteIndex] ^= 0xFF;
            return SecretKey.Create(KeyAlgorithm.Tdes2Key, bytes, keyName: "DUKPT working key");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
        }
    }

    private static SecretKey DataKey(SecretKey transactionKey, int byteIndex)
    {
        using var variant = Variant(transactionKey, byteIndex);
        Span<byte> data = stackalloc byte[16];
        try
        {
            BlockCiphers.EncryptEcb(variant, variant.Material, data);
            return SecretKey.Create(KeyAlgorithm.Tdes2Key, data, keyName: "DUKPT data key");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(data);
        }
    }

    private static void RequireTdesKsn(KeySerialNumber ksn)
    {
        if (ksn.Kind != DukptKind.Tdes)
        {
            throw new InvalidKeySerialNumberException($"KSN {ksn} is an AES DUKPT KSN; TDES DUKPT needs a 10-byte KSN.");
        }
    }

    private static void RequireTdes2(SecretKey key, string what)
    {
        if (key.Algorithm != KeyAlgorithm.Tdes2Key)
        {
            throw new InvalidKeyException($"{what} is {key.Algorithm.DisplayName()}; TDES DUKPT uses 2-key TDES.");
        }
    }
}
