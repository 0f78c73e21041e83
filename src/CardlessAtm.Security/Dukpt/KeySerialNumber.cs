using System.Buffers.Binary;
using System.Numerics;

namespace CardlessAtm.Security;

/// <summary>Which DUKPT scheme a key serial number belongs to.</summary>
public enum DukptKind
{
    /// <summary>TDES DUKPT, ANSI X9.24-1:2009: 10-byte KSN, 21-bit transaction counter, at most 10 one-bits.</summary>
    Tdes,
    /// <summary>AES DUKPT, ANSI X9.24-3:2017: 12-byte KSN (4-byte BDK id, 4-byte derivation id, 32-bit counter), at most 16 one-bits.</summary>
    Aes,
}

/// <summary>
/// A DUKPT key serial number (KSN). Not secret: it travels in clear in field 127. The
/// <see cref="InitialKeyId"/> (the KSN with its counter cleared) identifies the device.
/// </summary>
public sealed class KeySerialNumber : IEquatable<KeySerialNumber>
{
    /// <summary>TDES KSN length in bytes.</summary>
    public const int TdesLength = 10;
    /// <summary>AES KSN length in bytes.</summary>
    public const int AesLength = 12;
    /// <summary>Largest TDES transaction counter (21 bits).</summary>
    public const uint TdesMaxCounter = 0x1FFFFF;
    /// <summary>Most one-bits a TDES counter may have.</summary>
    public const int TdesMaxOneBits = 10;
    /// <summary>Most one-bits an AES counter may have.</summary>
    public const int AesMaxOneBits = 16;

    private readonly byte[] _bytes;

    private KeySerialNumber(DukptKind kind, byte[] bytes)
    {
        Kind = kind;
        _bytes = bytes;
    }

    /// <summary>TDES or AES DUKPT.</summary>
    public DukptKind Kind { get; }

    /// <summary>The KSN bytes (10 for TDES, 12 for AES).</summary>
    public ReadOnlySpan<byte> Bytes => _bytes;

    /// <summary>The transaction counter (21 bits for TDES, 32 bits for AES).</summary>
    public uint TransactionCounter => Kind == DukptKind.Tdes
        ? (uint)((_bytes[7] & 0x1F) << 16 | _bytes[8] << 8 | _bytes[9])
        : BinaryPrimitives.ReadUInt32BigEndian(_bytes.AsSpan(8, 4));

    /// <summary>Largest counter for this kind.</summary>
    public uint MaxCounter => Kind == DukptKind.Tdes ? TdesMaxCounter : uint.MaxValue;

    /// <summary>Counter width in bits (21 or 32).</summary>
    public int CounterBits => Kind == DukptKind.Tdes ? 21 : 32;

    /// <summary>Most one-bits a valid counter may have (10 or 16).</summary>
    public int MaxOneBits => Kind == DukptKind.Tdes ? TdesMaxOneBits : AesMaxOneBits;

    /// <summary>
    /// The device identity: for TDES the whole KSN with the 21 counter bits cleared (hex, 20 digits);
    /// for AES the 8-byte initial key id (BDK id + derivation id, hex, 16 digits).
    /// </summary>
    public string InitialKeyId => Convert.ToHexString(InitialKeyIdBytes());

    /// <summary>AES only: the 4-byte BDK id (leftmost bytes), which selects the base derivation key.</summary>
    public string? AesBaseDerivationKeyId => Kind == DukptKind.Aes ? Convert.ToHexString(_bytes, 0, 4) : null;

    /// <summary>True when the counter is non-zero and has no more one-bits than the scheme allows.</summary>
    public bool HasValidCounter
    {
        get
        {
            var counter = TransactionCounter;
            return counter != 0 && BitOperations.PopCount(counter) <= MaxOneBits;
        }
    }

    /// <summary>Parses a KSN from hex: 20 digits = TDES, 24 digits = AES.</summary>
    /// <exception cref="InvalidKeySerialNumberException">Not hex or wrong length.</exception>
    public static KeySerialNumber Parse(string hex)
    {
        ArgumentNullException.ThrowIfNull(hex);
        var compact = hex.Replace(" ", string.Empty, StringComparison.Ordinal);
        byte[] bytes;
        try
        {
            bytes = Convert.FromHexString(compact);
        }
        catch (FormatException)
        {
            throw new InvalidKeySerialNumberException($"Key serial number '{hex}' is not hexadecimal.");
        }

        return FromBytes(bytes);
    }

    /// <summary>Creates a KSN from its bytes: 10 = TDES, 12 = AES.</summary>
    /// <exception cref="InvalidKeySerialNumberException">Wrong length.</exception>
    public static KeySerialNumber FromBytes(ReadOnlySpan<byte> bytes) => bytes.Length switch
    {
        TdesLength => new KeySerialNumber(DukptKind.Tdes, bytes.ToArray()),
        AesLength => new KeySerialNumber(DukptKind.Aes, bytes.ToArray()),
        _ => throw new InvalidKeySerialNumberException($"Key serial number is {bytes.Length} bytes; TDES DUKPT uses {TdesLength}, AES DUKPT {AesLength}."),
    };

    /// <summary>An AES initial KSN (counter 0) from a 4-byte BDK id and 4-byte derivation id (hex).</summary>
    public static KeySerialNumber AesInitial(string initialKeyIdHex)
    {
        var ksn = Parse(initialKeyIdHex + "00000000");
        return ksn.Kind == DukptKind.Aes ? ksn : throw new InvalidKeySerialNumberException("An AES initial key id is 16 hex digits (8 bytes).");
    }

    /// <summary>This KSN with a different transaction counter.</summary>
    /// <exception cref="InvalidKeySerialNumberException">Counter larger than the scheme allows.</exception>
    public KeySerialNumber WithCounter(uint counter)
    {
        if (counter > MaxCounter)
        {
            throw new InvalidKeySerialNumberException($"Transaction counter {counter:X} exceeds the {CounterBits}-bit limit.");
        }

        var bytes = (byte[])_bytes.Clone();
        if (Kind == DukptKind.Tdes)
        {
            bytes[7] = (byte)((bytes[7] & 0xE0) | (int)(counter >> 16));
            bytes[8] = (byte)(counter >> 8);
            bytes[9] = (byte)counter;
        }
        else
        {
            BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(8, 4), counter);
        }

        return new KeySerialNumber(Kind, bytes);
    }

    /// <summary>The next counter after <paramref name="counter"/> that has at most <paramref name="maxOneBits"/> one-bits, or null when the counter space is exhausted.</summary>
    public static uint? NextValidCounter(uint counter, int maxOneBits, uint maxCounter)
    {
        ulong next = counter + 1UL;
        while (next <= maxCounter)
        {
            if (BitOperations.PopCount(next) <= maxOneBits)
            {
                return (uint)next;
            }

            next += next & (~next + 1); // skip to the next counter by adding the lowest set bit
        }

        return null;
    }

    internal byte[] InitialKeyIdBytes()
    {
        if (Kind == DukptKind.Tdes)
        {
            var bytes = (byte[])_bytes.Clone();
            bytes[7] &= 0xE0;
            bytes[8] = 0;
            bytes[9] = 0;
            return bytes;
        }

        return _bytes.AsSpan(0, 8).ToArray();
    }

    /// <inheritdoc/>
    public bool Equals(KeySerialNumber? other) => other is not null && _bytes.AsSpan().SequenceEqual(other._bytes);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as KeySerialNumber);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(_bytes);
        return hash.ToHashCode();
    }

    /// <summary>Upper-case hex of the KSN.</summary>
    public override string ToString() => Convert.ToHexString(_bytes);
}
