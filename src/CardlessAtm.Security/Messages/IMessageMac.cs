using System.Security.Cryptography;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Macs;
using Org.BouncyCastle.Crypto.Parameters;

namespace CardlessAtm.Security;

/// <summary>
/// The ATM's message MAC for ISO 8583 field 64/128, keyed with the ATM's session MAC key. The terminal
/// and the host each hold one. Obtain it from <see cref="ISecurityProfile.CreateMessageMac"/>; the
/// profile decides the algorithm (retail MAC or AES-CMAC truncated to 8 bytes). Thread-safe.
/// </summary>
public interface IMessageMac : IDisposable
{
    /// <summary>MAC length in bytes: always 8 (ISO 8583 b8).</summary>
    int MacLength { get; }

    /// <summary>Computes the MAC of <paramref name="data"/> into <paramref name="mac"/> (at least 8 bytes).</summary>
    void Compute(ReadOnlySpan<byte> data, Span<byte> mac);

    /// <summary>Computes the MAC of <paramref name="data"/>.</summary>
    byte[] Compute(ReadOnlySpan<byte> data);

    /// <summary>Constant-time check of <paramref name="mac"/> against <paramref name="data"/>.</summary>
    bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> mac);

    /// <summary>As <see cref="Verify"/>, but throws <see cref="MacMismatchException"/> naming <paramref name="what"/>.</summary>
    void VerifyOrThrow(ReadOnlySpan<byte> data, ReadOnlySpan<byte> mac, string what);
}

/// <summary>Shared verify logic for the two message MACs.</summary>
/// <remarks>
/// A fresh BouncyCastle MAC is keyed per computation: BouncyCastle's ISO9797Alg3Mac does not give the
/// same result when reused after DoFinal, and per-call instances also make the object trivially
/// thread-safe. The key copy is zeroed on <see cref="Dispose"/>.
/// </remarks>
internal abstract class MessageMacBase : IMessageMac
{
    private readonly byte[] _key;
    private volatile bool _disposed;

    protected MessageMacBase(ReadOnlySpan<byte> key) => _key = key.ToArray();

    public int MacLength => 8;

    protected abstract IMac CreateMac();

    public void Compute(ReadOnlySpan<byte> data, Span<byte> mac)
    {
        if (mac.Length < MacLength)
        {
            throw new ArgumentException($"MAC buffer is {mac.Length} bytes; 8 are needed.", nameof(mac));
        }

        ObjectDisposedException.ThrowIf(_disposed, this);
        var engine = CreateMac();
        engine.Init(new KeyParameter(_key));
        Span<byte> full = stackalloc byte[engine.GetMacSize()];
        engine.BlockUpdate(data);
        engine.DoFinal(full);
        full[..MacLength].CopyTo(mac);
        CryptographicOperations.ZeroMemory(full);
    }

    public byte[] Compute(ReadOnlySpan<byte> data)
    {
        var mac = new byte[MacLength];
        Compute(data, mac);
        return mac;
    }

    public bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> mac)
    {
        if (mac.Length != MacLength)
        {
            return false;
        }

        Span<byte> expected = stackalloc byte[MacLength];
        Compute(data, expected);
        return CryptographicOperations.FixedTimeEquals(expected, mac);
    }

    public void VerifyOrThrow(ReadOnlySpan<byte> data, ReadOnlySpan<byte> mac, string what)
    {
        if (mac.Length != MacLength)
        {
            throw new MacMismatchException($"{what}: MAC is {mac.Length} bytes; 8 are expected.");
        }

        if (!Verify(data, mac))
        {
            throw new MacMismatchException($"{what}: MAC does not verify under the session MAC key ({data.Length} bytes MACed).");
        }
    }

    public void Dispose()
    {
        _disposed = true;
        CryptographicOperations.ZeroMemory(_key);
    }


    public override string ToString() => $"{GetType().Name} (8-byte MAC)";
}

/// <summary>Legacy3Des profile: ISO 9797-1 MAC algorithm 3 with padding method 1 (ANSI X9.19 retail MAC).</summary>
internal sealed class RetailMessageMac : MessageMacBase
{
    public RetailMessageMac(SecretKey key)
        : base(RequireTdes(key))
    {
    }

    protected override IMac CreateMac() => new ISO9797Alg3Mac(new DesEngine(), 64, null);

    private static ReadOnlySpan<byte> RequireTdes(SecretKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return key.Algorithm.IsTdes()
            ? key.Material
            : throw new InvalidKeyException($"Session MAC key is {key.Algorithm.DisplayName()}; the Legacy3Des profile needs a TDES key.");
    }
}

/// <summary>Aes profile: AES-CMAC (RFC 4493) truncated to the leftmost 8 bytes.</summary>
internal sealed class CmacMessageMac : MessageMacBase
{
    public CmacMessageMac(SecretKey key)
        : base(RequireAes(key))
    {
    }

    protected override IMac CreateMac() => new CMac(AesUtilities.CreateEngine(), 128);

    private static ReadOnlySpan<byte> RequireAes(SecretKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return key.Algorithm.IsAes()
            ? key.Material
            : throw new InvalidKeyException($"Session MAC key is {key.Algorithm.DisplayName()}; the Aes profile needs an AES key.");
    }
}
