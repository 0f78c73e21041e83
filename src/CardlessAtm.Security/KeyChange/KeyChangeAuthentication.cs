using System.Security.Cryptography;
using System.Text;
using CardlessAtm.Security.Primitives;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Macs;
using Org.BouncyCastle.Crypto.Parameters;

namespace CardlessAtm.Security;

/// <summary>
/// Field 120 of the 0800/101 (key-change request), format version 2 (docs/protocol/iso8583.md §2.6):
/// <c>0x02 | 0x01 (request) | nonceLength(1) = 16 | terminal nonce</c>. The nonce is fresh random bytes per
/// request; the host echoes it inside the 0810's field 120, and the terminal installs keys only from an
/// answer that carries its own nonce.
/// </summary>
public static class KeyChangeRequestData
{
    /// <summary>The format version of the authenticated key change (request and answer).</summary>
    public const byte FormatVersion = 2;

    /// <summary>Length of the terminal nonce in bytes.</summary>
    public const int NonceLength = 16;

    private const byte RequestType = 1;

    /// <summary>A fresh random nonce (<see cref="NonceLength"/> bytes from the system CSPRNG).</summary>
    public static byte[] CreateNonce() => RandomNumberGenerator.GetBytes(NonceLength);

    /// <summary>Field 120 of an 0800/101 carrying <paramref name="nonce"/>.</summary>
    public static byte[] Encode(ReadOnlySpan<byte> nonce)
    {
        RequireNonce(nonce);
        var data = new byte[3 + nonce.Length];
        data[0] = FormatVersion;
        data[1] = RequestType;
        data[2] = (byte)nonce.Length;
        nonce.CopyTo(data.AsSpan(3));
        return data;
    }

    /// <summary>The terminal nonce of an 0800/101's field 120.</summary>
    /// <exception cref="MalformedDataException">Not a version 2 key-change request, or a nonce of the wrong length.</exception>
    public static byte[] Decode(ReadOnlySpan<byte> data)
    {
        var reader = new SpanReader(data, "Field 120 (key-change request)");
        var version = reader.ReadByte("version");
        var type = reader.ReadByte("type");
        if (version != FormatVersion || type != RequestType)
        {
            throw new MalformedDataException($"Field 120 (key-change request): version {version} type {type}; version {FormatVersion} type {RequestType} expected.");
        }

        var nonce = reader.ReadBytes(reader.ReadByte("nonce length"), "nonce");
        if (nonce.Length != NonceLength)
        {
            throw new MalformedDataException($"Field 120 (key-change request): nonce of {nonce.Length} bytes; {NonceLength} expected.");
        }

        reader.ExpectEnd();
        return nonce.ToArray();
    }

    internal static void RequireNonce(ReadOnlySpan<byte> nonce)
    {
        if (nonce.Length != NonceLength)
        {
            throw new ArgumentException($"The terminal nonce must be {NonceLength} bytes, not {nonce.Length}.", nameof(nonce));
        }
    }
}

/// <summary>The session keys of an authenticated key-change answer and the key version they were issued as.</summary>
/// <param name="KeyVersion">The host's version of these keys (strictly increasing per ATM).</param>
/// <param name="Keys">The keys (owned by this object).</param>
public sealed record OpenedKeyChange(int KeyVersion, SessionKeySet Keys) : IDisposable
{
    /// <summary>Zeroes the keys.</summary>
    public void Dispose() => Keys.Dispose();
}

/// <summary>
/// The key that MACs the key change and the sign-on (0800/001, 0800/101 and their 0810s), derived from the
/// terminal master key so that only the TMK's holders (the host and that ATM) can make or check it, and the
/// TMK itself is never used as a MAC key. NIST SP 800-108 KDF in counter mode (BouncyCastle's
/// <see cref="KdfCounterBytesGenerator"/>) with CMAC as the PRF — AES-CMAC under an AES TMK, TDES-CMAC under a
/// TDES TMK — label <c>"CardlessAtm key-change MAC v1"</c>, context = the ATM id, a 32-bit counter before the
/// fixed input and L (bits) after it.
/// </summary>
internal static class KeyChangeMacKeyDerivation
{
    private static readonly byte[] Label = Encoding.ASCII.GetBytes("CardlessAtm key-change MAC v1");

    public static SecretKey Derive(SecretKey terminalMasterKey, KeyAlgorithm outputAlgorithm, string atmId)
    {
        ArgumentNullException.ThrowIfNull(terminalMasterKey);
        ArgumentException.ThrowIfNullOrEmpty(atmId);
        var length = outputAlgorithm.KeyLength();
        var context = Encoding.ASCII.GetBytes(atmId);
        var fixedInput = new byte[Label.Length + 1 + context.Length + 4];
        Label.CopyTo(fixedInput, 0);
        fixedInput[Label.Length] = 0x00;
        context.CopyTo(fixedInput, Label.Length + 1);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(fixedInput.AsSpan(fixedInput.Length - 4), length * 8);

        var prf = terminalMasterKey.Algorithm.IsTdes() ? new CMac(new DesEdeEngine()) : new CMac(AesUtilities.CreateEngine());
        var generator = new KdfCounterBytesGenerator(prf);
        var tmk = terminalMasterKey.ExportBytes();
        var output = new byte[length];
        try
        {
            generator.Init(new KdfCounterParameters(tmk, null, fixedInput, 32));
            generator.GenerateBytes(output, 0, output.Length);
            if (outputAlgorithm.IsTdes())
            {
                DesParity.AdjustToOdd(output);
            }

            return SecretKey.Create(outputAlgorithm, output, keyName: "Key-change MAC key");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(tmk);
            CryptographicOperations.ZeroMemory(output);
        }
    }
}
