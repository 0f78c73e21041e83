using System.Security.Cryptography;
using CardlessAtm.Security.Primitives;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Parameters;

namespace CardlessAtm.Security;

/// <summary>
/// Field 120 (key-change data), version 1 (documented in docs/security.md):
/// <code>
/// version(1)=0x01 | profile(1) | keyCount(1) | keyCount × entry
/// entry = usage(1: 0x01 MAC, 0x02 PIN) | algorithm(1) | wrappedLength(1) | wrapped key | kcvLength(1) | KCV
/// </code>
/// Legacy3Des wraps each TDES session key by TDES-ECB under the terminal master key (the classic ATM
/// scheme). Aes wraps with AES Key Wrap (RFC 3394), whose integrity check refuses any altered bit.
/// Either way the terminal checks each key against its KCV before using it.
/// </summary>
internal static class KeyChangeData
{
    public const byte Version = 1;
    private const byte MacUsage = 1;
    private const byte PinUsage = 2;

    public static byte[] Create(byte profileId, SecretKey terminalMasterKey, SessionKeySet keys)
    {
        using var buffer = new MemoryStream();
        buffer.WriteByte(Version);
        buffer.WriteByte(profileId);
        buffer.WriteByte(keys.PinKey is null ? (byte)1 : (byte)2);
        WriteEntry(buffer, MacUsage, terminalMasterKey, keys.MacKey);
        if (keys.PinKey is not null)
        {
            WriteEntry(buffer, PinUsage, terminalMasterKey, keys.PinKey);
        }

        return buffer.ToArray();
    }

    public static SessionKeySet Open(byte profileId, string profileName, KeyAlgorithm sessionAlgorithm, SecretKey terminalMasterKey, ReadOnlySpan<byte> data)
    {
        var reader = new SpanReader(data, "Field 120 (key-change data)");
        var version = reader.ReadByte("version");
        if (version != Version)
        {
            throw new MalformedDataException($"Field 120 (key-change data): format version {version} is not supported (expected {Version}).");
        }

        CheckProfile(ref reader, profileId, profileName);
        return ReadEntries(ref reader, profileName, sessionAlgorithm, terminalMasterKey);
    }

    /// <summary>
    /// Version 2, the authenticated key change's answer:
    /// <c>0x02 | 0x02 (answer) | profile(1) | keyVersion(4, big-endian) | nonceLength(1) | terminal nonce | keyCount(1) | entries</c>.
    /// The 0810 that carries it is MACed under the key-change MAC key, so the keys are bound to the nonce and the version.
    /// </summary>
    public static byte[] CreateBound(byte profileId, SecretKey terminalMasterKey, SessionKeySet keys, int keyVersion, ReadOnlySpan<byte> terminalNonce)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(keyVersion);
        KeyChangeRequestData.RequireNonce(terminalNonce);
        using var buffer = new MemoryStream();
        buffer.WriteByte(KeyChangeRequestData.FormatVersion);
        buffer.WriteByte(AnswerType);
        buffer.WriteByte(profileId);
        Span<byte> versionBytes = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(versionBytes, keyVersion);
        buffer.Write(versionBytes);
        buffer.WriteByte((byte)terminalNonce.Length);
        buffer.Write(terminalNonce);
        buffer.WriteByte(keys.PinKey is null ? (byte)1 : (byte)2);
        WriteEntry(buffer, MacUsage, terminalMasterKey, keys.MacKey);
        if (keys.PinKey is not null)
        {
            WriteEntry(buffer, PinUsage, terminalMasterKey, keys.PinKey);
        }

        return buffer.ToArray();
    }

    /// <summary>Opens a version 2 answer: the nonce must be <paramref name="expectedNonce"/> and the version above <paramref name="currentVersion"/>, checked before any key is unwrapped.</summary>
    public static OpenedKeyChange OpenBound(byte profileId, string profileName, KeyAlgorithm sessionAlgorithm, SecretKey terminalMasterKey, ReadOnlySpan<byte> data, ReadOnlySpan<byte> expectedNonce, int currentVersion)
    {
        var reader = new SpanReader(data, "Field 120 (key-change data)");
        var version = reader.ReadByte("version");
        if (version != KeyChangeRequestData.FormatVersion)
        {
            throw new MalformedDataException($"Field 120 (key-change data): format version {version}; the authenticated key change needs version {KeyChangeRequestData.FormatVersion}.");
        }

        var type = reader.ReadByte("type");
        if (type != AnswerType)
        {
            throw new MalformedDataException($"Field 120 (key-change data): type {type}; an answer (type {AnswerType}) was expected.");
        }

        CheckProfile(ref reader, profileId, profileName);
        var keyVersion = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(reader.ReadBytes(4, "key version"));
        var nonce = reader.ReadBytes(reader.ReadByte("nonce length"), "nonce");
        if (nonce.Length != expectedNonce.Length || !CryptographicOperations.FixedTimeEquals(nonce, expectedNonce))
        {
            throw new StaleKeyChangeException("Field 120 (key-change data): the answer carries another request's nonce (replayed or misrouted); no key is installed.");
        }

        if (keyVersion <= currentVersion)
        {
            throw new StaleKeyChangeException($"Field 120 (key-change data): key version {keyVersion} is not above the current version {currentVersion}; no key is installed.");
        }

        return new OpenedKeyChange(keyVersion, ReadEntries(ref reader, profileName, sessionAlgorithm, terminalMasterKey));
    }

    private const byte AnswerType = 2;

    private static void CheckProfile(ref SpanReader reader, byte profileId, string profileName)
    {
        var profile = reader.ReadByte("profile");
        if (profile != profileId)
        {
            throw new ProfileMismatchException($"Field 120 (key-change data): built under profile id {profile}; this terminal runs {profileName} (id {profileId}).");
        }
    }

    private static SessionKeySet ReadEntries(ref SpanReader reader, string profileName, KeyAlgorithm sessionAlgorithm, SecretKey terminalMasterKey)
    {
        var count = reader.ReadByte("key count");
        if (count is < 1 or > 2)
        {
            throw new MalformedDataException($"Field 120 (key-change data): key count {count}; 1 (MAC) or 2 (MAC, PIN) expected.");
        }

        SecretKey? mac = null;
        SecretKey? pin = null;
        try
        {
            for (var i = 0; i < count; i++)
            {
                var usage = reader.ReadByte("key usage");
                var algorithmCode = reader.ReadByte("key algorithm");
                var wrapped = reader.ReadBytes(reader.ReadByte("wrapped key length"), "wrapped key");
                var kcv = reader.ReadBytes(reader.ReadByte("KCV length"), "KCV");
                var name = usage switch
                {
                    MacUsage => "Session MAC key",
                    PinUsage => "Session PIN key",
                    _ => throw new MalformedDataException($"Field 120 (key-change data): entry {i + 1} has unknown key usage {usage}."),
                };
                if ((usage == MacUsage && mac is not null) || (usage == PinUsage && pin is not null))
                {
                    throw new MalformedDataException($"Field 120 (key-change data): {name} appears twice.");
                }

                if (algorithmCode != (byte)sessionAlgorithm)
                {
                    throw new MalformedDataException($"Field 120 (key-change data): {name} algorithm code {algorithmCode}; {profileName} session keys are {sessionAlgorithm.DisplayName()}.");
                }

                var key = Unwrap(terminalMasterKey, sessionAlgorithm, wrapped, name);
                try
                {
                    // KCV first: with a wrong master key it is the error that tells the operator what happened.
                    KeyCheckValue.FromBytes(kcv).Verify(key, name);
                    if (sessionAlgorithm.IsTdes() && !DesParity.HasOddParity(key.Material, out var badByte))
                    {
                        throw new InvalidKeyException($"{name}: byte {badByte} does not have odd DES parity.");
                    }
                }
                catch
                {
                    key.Dispose();
                    throw;
                }

                if (usage == MacUsage)
                {
                    mac = key;
                }
                else
                {
                    pin = key;
                }
            }

            reader.ExpectEnd();
            return new SessionKeySet(mac ?? throw new MalformedDataException("Field 120 (key-change data): no session MAC key."), pin);
        }
        catch
        {
            mac?.Dispose();
            pin?.Dispose();
            throw;
        }
    }

    private static void WriteEntry(Stream buffer, byte usage, SecretKey kek, SecretKey key)
    {
        var wrapped = Wrap(kek, key);
        var kcv = key.CheckValue.Bytes;
        buffer.WriteByte(usage);
        buffer.WriteByte((byte)key.Algorithm);
        buffer.WriteByte((byte)wrapped.Length);
        buffer.Write(wrapped);
        buffer.WriteByte((byte)kcv.Length);
        buffer.Write(kcv);
    }

    private static byte[] Wrap(SecretKey kek, SecretKey key)
    {
        if (kek.Algorithm.IsTdes())
        {
            var wrapped = new byte[key.Length];
            BlockCiphers.EncryptEcb(kek, key.Material, wrapped);
            return wrapped;
        }

        var engine = new AesWrapEngine();
        engine.Init(true, new KeyParameter(kek.Material));
        var material = key.ExportBytes();
        try
        {
            return engine.Wrap(material, 0, material.Length);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(material);
        }
    }

    private static SecretKey Unwrap(SecretKey kek, KeyAlgorithm algorithm, ReadOnlySpan<byte> wrapped, string name)
    {
        byte[] material;
        if (kek.Algorithm.IsTdes())
        {
            if (wrapped.Length != algorithm.KeyLength())
            {
                throw new MalformedDataException($"Field 120 (key-change data): {name} is {wrapped.Length} bytes encrypted; {algorithm.KeyLength()} expected.");
            }

            material = new byte[wrapped.Length];
            BlockCiphers.DecryptEcb(kek, wrapped, material);
        }
        else
        {
            if (wrapped.Length != algorithm.KeyLength() + 8)
            {
                throw new MalformedDataException($"Field 120 (key-change data): {name} is {wrapped.Length} bytes wrapped; {algorithm.KeyLength() + 8} expected.");
            }

            var engine = new AesWrapEngine();
            engine.Init(false, new KeyParameter(kek.Material));
            try
            {
                material = engine.Unwrap(wrapped.ToArray(), 0, wrapped.Length);
            }
            catch (InvalidCipherTextException)
            {
                throw new KeyCheckValueMismatchException($"Field 120 (key-change data): {name} fails the AES key-wrap integrity check (wrong terminal master key or altered data).");
            }
        }

        try
        {
            return SecretKey.Create(algorithm, material, keyName: name);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(material);
        }
    }
}
