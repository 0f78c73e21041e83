using System.Buffers.Binary;
using System.Security.Cryptography;

namespace CardlessAtm.Qr.Payload;

/// <summary>
/// A session's random nonce: 80 bits from the operating system's CSPRNG, shown as 16 base32 characters.
/// Together with the ATM id it names one QR session; the replay guard refuses it a second time.
/// </summary>
public readonly record struct SessionNonce
{
    /// <summary>Bytes in a nonce (80 bits; the design minimum is 64).</summary>
    public const int ByteLength = 10;

    /// <summary>Base32 characters in the nonce's text form.</summary>
    public const int TextLength = 16;

    private readonly UInt128 _value;

    private SessionNonce(UInt128 value) => _value = value;

    /// <summary>A fresh nonce from <see cref="RandomNumberGenerator"/>.</summary>
    public static SessionNonce CreateRandom()
    {
        Span<byte> bytes = stackalloc byte[ByteLength];
        RandomNumberGenerator.Fill(bytes);
        return FromBytes(bytes);
    }

    /// <summary>A nonce from exactly 10 bytes (for tests, worked examples and a host reading its database).</summary>
    /// <exception cref="ArgumentException">Not exactly 10 bytes.</exception>
    public static SessionNonce FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != ByteLength)
        {
            throw new ArgumentException($"A session nonce is {ByteLength} bytes, got {bytes.Length}.", nameof(bytes));
        }

        Span<byte> padded = stackalloc byte[16];
        bytes.CopyTo(padded[(16 - ByteLength)..]);
        return new SessionNonce(BinaryPrimitives.ReadUInt128BigEndian(padded));
    }

    /// <summary>Parses the 16-character base32 form.</summary>
    /// <exception cref="FormatException">Not 16 canonical base32 characters.</exception>
    public static SessionNonce Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParse(text, out var nonce, out var badIndex)
            ? nonce
            : throw new FormatException($"A session nonce is {TextLength} base32 characters (A-Z, 2-7); the text is wrong at index {badIndex}.");
    }

    internal static bool TryParse(ReadOnlySpan<char> text, out SessionNonce nonce, out int badIndex)
    {
        nonce = default;
        if (text.Length != TextLength)
        {
            badIndex = Math.Min(text.Length, TextLength);
            return false;
        }

        Span<byte> bytes = stackalloc byte[ByteLength];
        badIndex = Base32.TryDecode(text, bytes);
        if (badIndex >= 0)
        {
            return false;
        }

        nonce = FromBytes(bytes);
        return true;
    }

    /// <summary>The nonce's 10 bytes, big-endian.</summary>
    public byte[] ToBytes()
    {
        var bytes = new byte[ByteLength];
        WriteBytes(bytes);
        return bytes;
    }

    /// <summary>The 16-character base32 form, as it appears in the payload.</summary>
    public override string ToString()
    {
        Span<byte> bytes = stackalloc byte[ByteLength];
        WriteBytes(bytes);
        Span<char> text = stackalloc char[TextLength];
        Base32.Encode(bytes, text);
        return new string(text);
    }

    private void WriteBytes(Span<byte> destination)
    {
        Span<byte> padded = stackalloc byte[16];
        BinaryPrimitives.WriteUInt128BigEndian(padded, _value);
        padded[(16 - ByteLength)..].CopyTo(destination);
    }
}
