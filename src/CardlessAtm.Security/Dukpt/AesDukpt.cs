using System.Buffers.Binary;
using System.Security.Cryptography;
using CardlessAtm.Security.Primitives;

namespace CardlessAtm.Security;

/// <summary>Key usages of ANSI X9.24-3:2017 §6.3.2 table 2 (the values go into the derivation data).</summary>
public enum AesDukptKeyUsage : ushort
{
    /// <summary>Key encryption key.</summary>
    KeyEncryptionKey = 0x0002,
    /// <summary>PIN encryption.</summary>
    PinEncryption = 0x1000,
    /// <summary>MAC generation (the device MACs requests with it; the host verifies with the same key).</summary>
    MacGeneration = 0x2000,
    /// <summary>MAC verification (the device verifies host responses).</summary>
    MacVerification = 0x2001,
    /// <summary>MAC both ways.</summary>
    MacBothWays = 0x2002,
    /// <summary>Data encryption, encrypt (device requests).</summary>
    DataEncrypt = 0x3000,
    /// <summary>Data encryption, decrypt (host responses).</summary>
    DataDecrypt = 0x3001,
    /// <summary>Data encryption both ways.</summary>
    DataBothWays = 0x3002,
    /// <summary>Intermediate derivation key.</summary>
    KeyDerivation = 0x8000,
    /// <summary>Initial key derivation from the BDK.</summary>
    KeyDerivationInitialKey = 0x8001,
}

/// <summary>
/// AES DUKPT, ANSI X9.24-3:2017 (host side): initial key from the BDK and initial key id, the
/// intermediate (transaction) derivation key for a KSN, and working keys (PIN, MAC, data) of
/// AES-128, AES-192 or AES-256 (or TDES) from it.
/// </summary>
public static class AesDukpt
{
    /// <summary>Derives the initial key for the 8-byte initial key id of <paramref name="ksn"/> (counter ignored).</summary>
    /// <exception cref="InvalidKeyException">BDK is not AES.</exception>
    public static SecretKey DeriveInitialKey(SecretKey baseDerivationKey, KeySerialNumber ksn)
    {
        ArgumentNullException.ThrowIfNull(baseDerivationKey);
        ArgumentNullException.ThrowIfNull(ksn);
        RequireAesKsn(ksn);
        RequireAes(baseDerivationKey, "Base derivation key");
        Span<byte> data = stackalloc byte[16];
        WriteDerivationData(data, AesDukptKeyUsage.KeyDerivationInitialKey, baseDerivationKey.Algorithm);
        ksn.Bytes[..8].CopyTo(data[8..]);
        return Derive(baseDerivationKey, data, baseDerivationKey.Algorithm);
    }

    /// <summary>Derives the intermediate derivation key for <paramref name="ksn"/>'s counter from the initial key.</summary>
    /// <exception cref="InvalidKeySerialNumberException">Counter zero or with more than 16 one-bits.</exception>
    public static SecretKey DeriveTransactionKey(SecretKey initialKey, KeySerialNumber ksn)
    {
        ArgumentNullException.ThrowIfNull(initialKey);
        ArgumentNullException.ThrowIfNull(ksn);
        RequireAesKsn(ksn);
        RequireAes(initialKey, "DUKPT initial key");
        if (!ksn.HasValidCounter)
        {
            throw new InvalidKeySerialNumberException($"KSN {ksn}: transaction counter {ksn.TransactionCounter:X} is zero or has more than 16 one-bits.");
        }

        return DukptDerivation.FromInitialKey(DukptKind.Aes, initialKey, ksn);
    }

    /// <summary>Derives a working key of <paramref name="workingKeyAlgorithm"/> for <paramref name="usage"/> from a transaction derivation key.</summary>
    /// <exception cref="InvalidKeyException">The working key would be longer than the derivation key (X9.24-3 forbids it).</exception>
    public static SecretKey DeriveWorkingKey(SecretKey transactionKey, KeySerialNumber ksn, AesDukptKeyUsage usage, KeyAlgorithm workingKeyAlgorithm)
    {
        ArgumentNullException.ThrowIfNull(transactionKey);
        ArgumentNullException.ThrowIfNull(ksn);
        RequireAesKsn(ksn);
        RequireAes(transactionKey, "DUKPT transaction key");
        if (workingKeyAlgorithm.KeyLength() > transactionKey.Length)
        {
            throw new InvalidKeyException($"A {workingKeyAlgorithm.DisplayName()} working key cannot be derived from a {transactionKey.Algorithm.DisplayName()} derivation key.");
        }

        Span<byte> data = stackalloc byte[16];
        WriteDerivationData(data, usage, workingKeyAlgorithm);
        ksn.Bytes[4..].CopyTo(data[8..]);
        return Derive(transactionKey, data, workingKeyAlgorithm);
    }

    internal static SecretKey DeriveIntermediateKey(SecretKey parent, KeySerialNumber ksn, uint counter)
    {
        Span<byte> data = stackalloc byte[16];
        WriteDerivationData(data, AesDukptKeyUsage.KeyDerivation, parent.Algorithm);
        ksn.Bytes[4..8].CopyTo(data[8..]);
        BinaryPrimitives.WriteUInt32BigEndian(data[12..], counter);
        return Derive(parent, data, parent.Algorithm);
    }

    private static void WriteDerivationData(Span<byte> data, AesDukptKeyUsage usage, KeyAlgorithm derived)
    {
        data[0] = 0x01; // version
        data[1] = 0x01; // key block counter, bumped per block in Derive
        BinaryPrimitives.WriteUInt16BigEndian(data[2..], (ushort)usage);
        BinaryPrimitives.WriteUInt16BigEndian(data[4..], AlgorithmIndicator(derived));
        BinaryPrimitives.WriteUInt16BigEndian(data[6..], (ushort)(derived.KeyLength() * 8));
    }

    private static ushort AlgorithmIndicator(KeyAlgorithm algorithm) => algorithm switch
    {
        KeyAlgorithm.Tdes2Key => 0x0000,
        KeyAlgorithm.Tdes3Key => 0x0001,
        KeyAlgorithm.Aes128 => 0x0002,
        KeyAlgorithm.Aes192 => 0x0003,
        KeyAlgorithm.Aes256 => 0x0004,
        _ => throw new ArgumentOutOfRangeException(nameof(algorithm)),
    };

    private static SecretKey Derive(SecretKey derivationKey, Span<byte> data, KeyAlgorithm derived)
    {
        var length = derived.KeyLength();
        var blocks = (length + 15) / 16;
        var output = new byte[blocks * 16];
        try
        {
            for (var i = 0; i < blocks; i++)
            {
                data[1] = (byte)(i + 1);
                BlockCiphers.EncryptEcb(derivationKey, data, output.AsSpan(i * 16, 16));
            }

            return SecretKey.Create(derived, output.AsSpan(0, length), keyName: "AES DUKPT derived key");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(output);
        }
    }

    private static void RequireAesKsn(KeySerialNumber ksn)
    {
        if (ksn.Kind != DukptKind.Aes)
        {
            throw new InvalidKeySerialNumberException($"KSN {ksn} is a TDES DUKPT KSN; AES DUKPT needs a 12-byte KSN.");
        }
    }

    private static void RequireAes(SecretKey key, string what)
    {
        if (!key.Algorithm.IsAes())
        {
            throw new InvalidKeyException($"{what} is {key.Algorithm.DisplayName()}; AES DUKPT needs an AES key.");
        }
    }
}
