using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Macs;
using Org.BouncyCastle.Crypto.Paddings;
using Org.BouncyCastle.Crypto.Parameters;

namespace CardlessAtm.Security.Primitives;

/// <summary>
/// ISO/IEC 9797-1 MAC algorithm 3 ("retail MAC", ANSI X9.19): single-DES CBC-MAC under K1 over all
/// blocks, then the last block is decrypted with K2 and encrypted again with K1 (K3 for 3-key TDES keys).
/// Output is the full 8-byte block; callers truncate on the left.
/// </summary>
public static class RetailMac
{
    /// <summary>Computes the 8-byte retail MAC with the given padding.</summary>
    public static byte[] Compute(SecretKey key, ReadOnlySpan<byte> data, MacPadding padding = MacPadding.Method1)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (!key.Algorithm.IsTdes())
        {
            throw new InvalidKeyException($"Retail MAC needs a TDES key, not {key.Algorithm.DisplayName()}.");
        }

        return ComputeRaw(key.Material, data, padding);
    }

    internal static byte[] ComputeRaw(ReadOnlySpan<byte> key, ReadOnlySpan<byte> data, MacPadding padding)
    {
        var mac = new ISO9797Alg3Mac(new DesEngine(), 64, padding == MacPadding.Method2 ? new ISO7816d4Padding() : null);
        mac.Init(new KeyParameter(key));
        mac.BlockUpdate(data);
        var output = new byte[8];
        mac.DoFinal(output);
        return output;
    }
}

/// <summary>CMAC (NIST SP 800-38B, RFC 4493) over AES or TDES. Output is one full block; callers truncate on the left.</summary>
public static class Cmac
{
    /// <summary>Computes the full-block CMAC (16 bytes for AES, 8 for TDES).</summary>
    public static byte[] Compute(SecretKey key, ReadOnlySpan<byte> data)
    {
        ArgumentNullException.ThrowIfNull(key);
        return ComputeRaw(key.Algorithm, key.Material, data);
    }

    internal static byte[] ComputeRaw(KeyAlgorithm algorithm, ReadOnlySpan<byte> key, ReadOnlySpan<byte> data)
    {
        var blockBits = algorithm.BlockLength() * 8;
        var mac = new CMac(BlockCiphers.CreateEngine(algorithm), blockBits);
        mac.Init(new KeyParameter(key));
        mac.BlockUpdate(data);
        var output = new byte[algorithm.BlockLength()];
        mac.DoFinal(output);
        return output;
    }
}
