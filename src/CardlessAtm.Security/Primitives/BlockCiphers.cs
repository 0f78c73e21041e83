using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Modes;
using Org.BouncyCastle.Crypto.Parameters;

namespace CardlessAtm.Security.Primitives;

/// <summary>
/// TDES (2- and 3-key) and AES (128/192/256) in ECB and CBC, on BouncyCastle. No padding is applied:
/// callers pad first (see <see cref="Padding"/>), and input that is not a whole number of blocks is
/// refused with <see cref="MalformedDataException"/>.
/// </summary>
public static class BlockCiphers
{
    /// <summary>ECB-encrypts whole blocks.</summary>
    public static void EncryptEcb(SecretKey key, ReadOnlySpan<byte> input, Span<byte> output)
    {
        ArgumentNullException.ThrowIfNull(key);
        EcbRaw(key.Algorithm, key.Material, forEncryption: true, input, output);
    }

    /// <summary>ECB-decrypts whole blocks.</summary>
    public static void DecryptEcb(SecretKey key, ReadOnlySpan<byte> input, Span<byte> output)
    {
        ArgumentNullException.ThrowIfNull(key);
        EcbRaw(key.Algorithm, key.Material, forEncryption: false, input, output);
    }

    /// <summary>CBC-encrypts whole blocks with the given IV (one block long).</summary>
    public static void EncryptCbc(SecretKey key, ReadOnlySpan<byte> iv, ReadOnlySpan<byte> input, Span<byte> output)
    {
        ArgumentNullException.ThrowIfNull(key);
        CbcRaw(key.Algorithm, key.Material, forEncryption: true, iv, input, output);
    }

    /// <summary>CBC-decrypts whole blocks with the given IV (one block long).</summary>
    public static void DecryptCbc(SecretKey key, ReadOnlySpan<byte> iv, ReadOnlySpan<byte> input, Span<byte> output)
    {
        ArgumentNullException.ThrowIfNull(key);
        CbcRaw(key.Algorithm, key.Material, forEncryption: false, iv, input, output);
    }

    internal static IBlockCipher CreateEngine(KeyAlgorithm algorithm) =>
        algorithm.IsTdes() ? new DesEdeEngine() : AesUtilities.CreateEngine();

    internal static void EcbRaw(KeyAlgorithm algorithm, ReadOnlySpan<byte> key, bool forEncryption, ReadOnlySpan<byte> input, Span<byte> output)
    {
        var block = algorithm.BlockLength();
        CheckLengths(block, input, output);
        var engine = CreateEngine(algorithm);
        engine.Init(forEncryption, new KeyParameter(key));
        for (var offset = 0; offset < input.Length; offset += block)
        {
            engine.ProcessBlock(input.Slice(offset, block), output.Slice(offset, block));
        }
    }

    internal static void CbcRaw(KeyAlgorithm algorithm, ReadOnlySpan<byte> key, bool forEncryption, ReadOnlySpan<byte> iv, ReadOnlySpan<byte> input, Span<byte> output)
    {
        var block = algorithm.BlockLength();
        if (iv.Length != block)
        {
            throw new ArgumentException($"IV must be {block} bytes for {algorithm.DisplayName()}, not {iv.Length}.", nameof(iv));
        }

        CheckLengths(block, input, output);
        var cbc = new CbcBlockCipher(CreateEngine(algorithm));
        cbc.Init(forEncryption, new ParametersWithIV(new KeyParameter(key), iv));
        for (var offset = 0; offset < input.Length; offset += block)
        {
            cbc.ProcessBlock(input.Slice(offset, block), output.Slice(offset, block));
        }
    }

    private static void CheckLengths(int block, ReadOnlySpan<byte> input, Span<byte> output)
    {
        if (input.Length % block != 0)
        {
            throw new MalformedDataException($"Cipher input is {input.Length} bytes, not a whole number of {block}-byte blocks (truncated or unpadded).");
        }

        if (output.Length < input.Length)
        {
            throw new ArgumentException($"Output buffer is {output.Length} bytes; {input.Length} are needed.", nameof(output));
        }
    }
}
