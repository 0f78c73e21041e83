using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using CardlessAtm.Security.Primitives;

namespace CardlessAtm.Security;

/// <summary>
/// Field 127 format, version 1 (documented in docs/security.md):
/// <code>
/// version(1)=0x01 | profile(1) | ksnLength(1) | KSN | cipherLength(2, big-endian) | ciphertext | MAC(8)
/// plaintext  = accountIdLength(1) | account id (ASCII digits) | pinBlockLength(1) | encrypted PIN block
/// ciphertext = CBC(data key, IV = zero block, ISO 9797-1 padding method 2 (plaintext))
/// MAC input  = "CAPD" | version | profile | ksnLength | KSN
///              | for fields 3, 4, 41, 48, 49: fieldNumber(1) | length(2) | UTF-8 value
///              | cipherLength(2) | ciphertext
/// </code>
/// A zero IV is safe because every request has its own DUKPT data key.
/// </summary>
internal static class PhoneProtectedData
{
    public const byte Version = 1;
    private static readonly byte[] MacDomain = "CAPD"u8.ToArray();

    public static byte[] Protect(PhoneCrypto crypto, DukptDevice device, string accountId, ReadOnlySpan<char> pin, PhoneRequestBinding binding)
    {
        ArgumentNullException.ThrowIfNull(binding);
        PinBlocks.ValidatePan(accountId);
        PinBlocks.ValidatePin(pin);
        if (device.Kind != crypto.DukptKind)
        {
            throw new ProfileMismatchException($"The phone's DUKPT device is {device.Kind}; the {crypto.ProfileName} profile needs {crypto.DukptKind} DUKPT.");
        }

        using var transaction = device.NextTransaction();
        using var keys = crypto.DeriveRequestKeys(transaction.TransactionKey, transaction.Ksn);
        var pinBlock = crypto.EncipherPin(keys.PinKey, pin, accountId);
        var plain = new byte[1 + accountId.Length + 1 + pinBlock.Length];
        byte[]? padded = null;
        try
        {
            plain[0] = (byte)accountId.Length;
            Encoding.ASCII.GetBytes(accountId, plain.AsSpan(1));
            plain[1 + accountId.Length] = (byte)pinBlock.Length;
            pinBlock.CopyTo(plain, 2 + accountId.Length);
            padded = Padding.Pad(plain, crypto.BlockLength, MacPadding.Method2);
            var cipher = new byte[padded.Length];
            BlockCiphers.EncryptCbc(keys.DataKey, new byte[crypto.BlockLength], padded, cipher);

            var ksn = transaction.Ksn.Bytes;
            var output = new byte[3 + ksn.Length + 2 + cipher.Length + 8];
            output[0] = Version;
            output[1] = crypto.ProfileId;
            output[2] = (byte)ksn.Length;
            ksn.CopyTo(output.AsSpan(3));
            BinaryPrimitives.WriteUInt16BigEndian(output.AsSpan(3 + ksn.Length), (ushort)cipher.Length);
            cipher.CopyTo(output, 5 + ksn.Length);
            var mac = crypto.Mac(keys.MacKey, MacInput(output.AsSpan(0, 3 + ksn.Length), binding, cipher));
            mac.CopyTo(output, output.Length - 8);
            return output;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plain);
            CryptographicOperations.ZeroMemory(pinBlock);
            if (padded is not null)
            {
                CryptographicOperations.ZeroMemory(padded);
            }
        }
    }

    /// <summary>The KSN in field 127's header, or null when the header does not parse (<see cref="Open"/> then says why).</summary>
    public static KeySerialNumber? TryReadKeySerialNumber(ReadOnlySpan<byte> field127)
    {
        try
        {
            var reader = new SpanReader(field127, "Field 127 (phone-protected data)");
            reader.ReadByte("version");
            reader.ReadByte("profile");
            var ksnLength = reader.ReadByte("KSN length");
            return KeySerialNumber.FromBytes(reader.ReadBytes(ksnLength, "KSN"));
        }
        catch (SecurityException)
        {
            return null;
        }
    }

    public static OpenedPhoneRequest Open(PhoneCrypto crypto, IBaseDerivationKeyProvider keyProvider, ReadOnlySpan<byte> field127, PhoneRequestBinding binding)
    {
        ArgumentNullException.ThrowIfNull(binding);
        var reader = new SpanReader(field127, "Field 127 (phone-protected data)");
        var version = reader.ReadByte("version");
        if (version != Version)
        {
            throw new MalformedDataException($"Field 127 (phone-protected data): format version {version} is not supported (expected {Version}).");
        }

        var profile = reader.ReadByte("profile");
        if (profile != crypto.ProfileId)
        {
            throw new ProfileMismatchException($"Field 127 (phone-protected data): built under profile id {profile}; this host runs {crypto.ProfileName} (id {crypto.ProfileId}).");
        }

        var ksnLength = reader.ReadByte("KSN length");
        var ksn = KeySerialNumber.FromBytes(reader.ReadBytes(ksnLength, "KSN"));
        if (ksn.Kind != crypto.DukptKind)
        {
            throw new InvalidKeySerialNumberException($"Field 127: KSN {ksn} is {ksn.Kind} DUKPT; the {crypto.ProfileName} profile uses {crypto.DukptKind}.");
        }

        if (!ksn.HasValidCounter)
        {
            throw new InvalidKeySerialNumberException($"Field 127: KSN {ksn} has transaction counter {ksn.TransactionCounter:X}, which is zero or has more than {ksn.MaxOneBits} one-bits.");
        }

        var header = field127[..reader.Offset];
        var cipherLength = reader.ReadUInt16("ciphertext length");
        var cipher = reader.ReadBytes(cipherLength, "ciphertext");
        var mac = reader.ReadBytes(8, "MAC");
        reader.ExpectEnd();
        if (cipherLength == 0 || cipherLength % crypto.BlockLength != 0)
        {
            throw new MalformedDataException($"Field 127: ciphertext is {cipherLength} bytes, not a non-zero multiple of the {crypto.BlockLength}-byte block.");
        }

        var bdk = keyProvider.FindBaseDerivationKey(ksn)
            ?? throw new UnknownDeviceException($"Field 127: no base derivation key is known for KSN {ksn} (device {ksn.InitialKeyId}).");
        using var initialKey = crypto.DeriveInitialKey(bdk, ksn);
        using var transactionKey = crypto.DeriveTransactionKey(initialKey, ksn);
        using var keys = crypto.DeriveRequestKeys(transactionKey, ksn);

        var expectedMac = crypto.Mac(keys.MacKey, MacInput(header, binding, cipher));
        if (!CryptographicOperations.FixedTimeEquals(expectedMac, mac))
        {
            throw new MacMismatchException($"Field 127: phone MAC does not verify for KSN {ksn} (fields 3, 4, 41, 48, 49 or the ciphertext were changed, or the device key is wrong).");
        }

        var plain = new byte[cipherLength];
        try
        {
            BlockCiphers.DecryptCbc(keys.DataKey, new byte[crypto.BlockLength], cipher, plain);
            var plainLength = Padding.UnpaddedLengthMethod2(plain, crypto.BlockLength);
            var inner = new SpanReader(plain.AsSpan(0, plainLength), "Field 127 plaintext");
            var accountLength = inner.ReadByte("account id length");
            var accountBytes = inner.ReadBytes(accountLength, "account id");
            var accountId = Encoding.ASCII.GetString(accountBytes);
            try
            {
                PinBlocks.ValidatePan(accountId);
            }
            catch (InvalidCredentialFormatException)
            {
                throw new MalformedDataException("Field 127 plaintext: the account id is not 1-19 digits.");
            }

            var pinBlockLength = inner.ReadByte("PIN block length");
            var pinBlock = inner.ReadBytes(pinBlockLength, "PIN block");
            inner.ExpectEnd();
            var pin = crypto.DecipherPin(keys.PinKey, pinBlock, accountId);
            return new OpenedPhoneRequest(ksn, accountId, pin);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plain);
        }
    }

    private static byte[] MacInput(ReadOnlySpan<byte> header, PhoneRequestBinding binding, ReadOnlySpan<byte> cipher)
    {
        using var buffer = new MemoryStream();
        buffer.Write(MacDomain);
        buffer.Write(header);
        Span<byte> length = stackalloc byte[2];
        foreach (var (field, value) in binding.Fields())
        {
            var bytes = Encoding.UTF8.GetBytes(value);
            buffer.WriteByte(field);
            BinaryPrimitives.WriteUInt16BigEndian(length, (ushort)bytes.Length);
            buffer.Write(length);
            buffer.Write(bytes);
        }

        BinaryPrimitives.WriteUInt16BigEndian(length, (ushort)cipher.Length);
        buffer.Write(length);
        buffer.Write(cipher);
        return buffer.ToArray();
    }
}

/// <summary>The PIN, MAC and data keys of one phone request.</summary>
internal sealed class RequestKeys(SecretKey pinKey, SecretKey macKey, SecretKey dataKey) : IDisposable
{
    public SecretKey PinKey { get; } = pinKey;

    public SecretKey MacKey { get; } = macKey;

    public SecretKey DataKey { get; } = dataKey;

    public void Dispose()
    {
        PinKey.Dispose();
        MacKey.Dispose();
        DataKey.Dispose();
    }
}

/// <summary>What differs between the profiles for field 127.</summary>
internal abstract class PhoneCrypto
{
    public abstract byte ProfileId { get; }

    public abstract string ProfileName { get; }

    public abstract DukptKind DukptKind { get; }

    public abstract int BlockLength { get; }

    public abstract SecretKey DeriveInitialKey(SecretKey baseDerivationKey, KeySerialNumber ksn);

    public abstract SecretKey DeriveTransactionKey(SecretKey initialKey, KeySerialNumber ksn);

    public abstract RequestKeys DeriveRequestKeys(SecretKey transactionKey, KeySerialNumber ksn);

    public abstract byte[] EncipherPin(SecretKey pinKey, ReadOnlySpan<char> pin, string accountId);

    public abstract ClearPin DecipherPin(SecretKey pinKey, ReadOnlySpan<byte> block, string accountId);

    public abstract byte[] Mac(SecretKey macKey, ReadOnlySpan<byte> data);
}

/// <summary>Legacy3Des: TDES DUKPT variants, PIN block format 0, TDES-CBC, retail MAC.</summary>
internal sealed class TdesPhoneCrypto : PhoneCrypto
{
    public override byte ProfileId => 1;

    public override string ProfileName => nameof(SecurityProfileKind.Legacy3Des);

    public override DukptKind DukptKind => DukptKind.Tdes;

    public override int BlockLength => 8;

    public override SecretKey DeriveInitialKey(SecretKey baseDerivationKey, KeySerialNumber ksn) => TdesDukpt.DeriveInitialKey(baseDerivationKey, ksn);

    public override SecretKey DeriveTransactionKey(SecretKey initialKey, KeySerialNumber ksn) => TdesDukpt.DeriveTransactionKey(initialKey, ksn);

    public override RequestKeys DeriveRequestKeys(SecretKey transactionKey, KeySerialNumber ksn) =>
        new(TdesDukpt.PinKey(transactionKey), TdesDukpt.MacRequestKey(transactionKey), TdesDukpt.DataRequestKey(transactionKey));

    public override byte[] EncipherPin(SecretKey pinKey, ReadOnlySpan<char> pin, string accountId) => PinBlocks.EncipherFormat0(pinKey, pin, accountId);

    public override ClearPin DecipherPin(SecretKey pinKey, ReadOnlySpan<byte> block, string accountId) => PinBlocks.DecipherFormat0(pinKey, block, accountId);

    public override byte[] Mac(SecretKey macKey, ReadOnlySpan<byte> data) => RetailMac.Compute(macKey, data, MacPadding.Method1);
}

/// <summary>Aes: AES DUKPT working keys of the initial key's length, PIN block format 4, AES-CBC, AES-CMAC truncated to 8 bytes.</summary>
internal sealed class AesPhoneCrypto : PhoneCrypto
{
    public override byte ProfileId => 2;

    public override string ProfileName => nameof(SecurityProfileKind.Aes);

    public override DukptKind DukptKind => DukptKind.Aes;

    public override int BlockLength => 16;

    public override SecretKey DeriveInitialKey(SecretKey baseDerivationKey, KeySerialNumber ksn) => AesDukpt.DeriveInitialKey(baseDerivationKey, ksn);

    public override SecretKey DeriveTransactionKey(SecretKey initialKey, KeySerialNumber ksn) => AesDukpt.DeriveTransactionKey(initialKey, ksn);

    public override RequestKeys DeriveRequestKeys(SecretKey transactionKey, KeySerialNumber ksn)
    {
        var working = transactionKey.Algorithm;
        return new(
            AesDukpt.DeriveWorkingKey(transactionKey, ksn, AesDukptKeyUsage.PinEncryption, working),
            AesDukpt.DeriveWorkingKey(transactionKey, ksn, AesDukptKeyUsage.MacGeneration, working),
            AesDukpt.DeriveWorkingKey(transactionKey, ksn, AesDukptKeyUsage.DataEncrypt, working));
    }

    public override byte[] EncipherPin(SecretKey pinKey, ReadOnlySpan<char> pin, string accountId) => PinBlocks.EncipherFormat4(pinKey, pin, accountId);

    public override ClearPin DecipherPin(SecretKey pinKey, ReadOnlySpan<byte> block, string accountId) => PinBlocks.DecipherFormat4(pinKey, block, accountId);

    public override byte[] Mac(SecretKey macKey, ReadOnlySpan<byte> data) => Cmac.Compute(macKey, data)[..8];
}

internal sealed class PhoneRequestProtector(PhoneCrypto crypto, DukptDevice device) : IPhoneRequestProtector
{
    public byte[] Protect(string accountId, ReadOnlySpan<char> pin, PhoneRequestBinding binding) =>
        PhoneProtectedData.Protect(crypto, device, accountId, pin, binding);

    public override string ToString() => $"{crypto.ProfileName} phone request protector ({device})";
}

internal sealed class PhoneRequestOpener(PhoneCrypto crypto, IBaseDerivationKeyProvider keyProvider) : IPhoneRequestOpener
{
    public OpenedPhoneRequest Open(ReadOnlySpan<byte> field127, PhoneRequestBinding binding) =>
        PhoneProtectedData.Open(crypto, keyProvider, field127, binding);

    public override string ToString() => $"{crypto.ProfileName} phone request opener";
}
