using System.Security.Cryptography;
using CardlessAtm.Security.Primitives;

namespace CardlessAtm.Security;

/// <summary>
/// ISO 9564-1 PIN blocks. Format 0 (8 bytes, for TDES): PIN field XOR PAN field. Format 4 (16 bytes,
/// for AES): PIN field and PAN field combined by encipher, XOR, encipher. Here the customer's account
/// id (a digit string) takes the place of the PAN. PINs are 4 to 12 decimal digits.
/// </summary>
public static class PinBlocks
{
    /// <summary>Shortest PIN accepted.</summary>
    public const int MinPinLength = 4;
    /// <summary>Longest PIN accepted.</summary>
    public const int MaxPinLength = 12;
    /// <summary>Longest account id (PAN) accepted.</summary>
    public const int MaxAccountIdLength = 19;

    /// <summary>Builds the clear format 0 PIN block for <paramref name="pin"/> and account id <paramref name="pan"/>.</summary>
    /// <exception cref="InvalidCredentialFormatException">PIN or account id not acceptable.</exception>
    public static byte[] BuildFormat0(ReadOnlySpan<char> pin, string pan)
    {
        ValidatePin(pin);
        var panField = Format0PanField(pan);
        var block = new byte[8];
        Span<byte> nibbles = stackalloc byte[16];
        nibbles.Fill(0xF);
        nibbles[0] = 0x0;
        nibbles[1] = (byte)pin.Length;
        for (var i = 0; i < pin.Length; i++)
        {
            nibbles[2 + i] = (byte)(pin[i] - '0');
        }

        PackNibbles(nibbles, block);
        nibbles.Clear();
        for (var i = 0; i < 8; i++)
        {
            block[i] ^= panField[i];
        }

        return block;
    }

    /// <summary>Decodes a clear format 0 PIN block against account id <paramref name="pan"/>.</summary>
    /// <exception cref="MalformedPinBlockException">Wrong length, format nibble, PIN length, digit or filler.</exception>
    public static ClearPin ReadFormat0(ReadOnlySpan<byte> block, string pan)
    {
        if (block.Length != 8)
        {
            throw new MalformedPinBlockException($"Format 0 PIN block is {block.Length} bytes; 8 are expected.");
        }

        var panField = Format0PanField(pan);
        Span<byte> clear = stackalloc byte[8];
        Span<byte> nibbles = stackalloc byte[16];
        try
        {
            for (var i = 0; i < 8; i++)
            {
                clear[i] = (byte)(block[i] ^ panField[i]);
            }

            UnpackNibbles(clear, nibbles);
            return ReadPinField(nibbles, expectedFormat: 0, filler: 0xF, fillerEnd: 16, "Format 0");
        }
        finally
        {
            clear.Clear();
            nibbles.Clear();
        }
    }

    /// <summary>TDES-encrypts a format 0 PIN block under <paramref name="pinKey"/> (ECB, as ISO 9564 prescribes).</summary>
    public static byte[] EncipherFormat0(SecretKey pinKey, ReadOnlySpan<char> pin, string pan)
    {
        ArgumentNullException.ThrowIfNull(pinKey);
        RequireAlgorithm(pinKey, tdes: true);
        var block = BuildFormat0(pin, pan);
        try
        {
            var encrypted = new byte[8];
            BlockCiphers.EncryptEcb(pinKey, block, encrypted);
            return encrypted;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(block);
        }
    }

    /// <summary>Decrypts and decodes an encrypted format 0 PIN block.</summary>
    public static ClearPin DecipherFormat0(SecretKey pinKey, ReadOnlySpan<byte> encryptedBlock, string pan)
    {
        ArgumentNullException.ThrowIfNull(pinKey);
        RequireAlgorithm(pinKey, tdes: true);
        if (encryptedBlock.Length != 8)
        {
            throw new MalformedPinBlockException($"Encrypted format 0 PIN block is {encryptedBlock.Length} bytes; 8 are expected.");
        }

        Span<byte> clear = stackalloc byte[8];
        try
        {
            BlockCiphers.DecryptEcb(pinKey, encryptedBlock, clear);
            return ReadFormat0(clear, pan);
        }
        finally
        {
            clear.Clear();
        }
    }

    /// <summary>
    /// Builds the 16-byte format 4 plaintext PIN field: 4, N, PIN digits, 'A' fill to 16 nibbles, then 8
    /// random bytes (from <paramref name="randomFill"/> when given, for reproducing published examples).
    /// </summary>
    public static byte[] BuildFormat4PinField(ReadOnlySpan<char> pin, ReadOnlySpan<byte> randomFill = default)
    {
        ValidatePin(pin);
        if (!randomFill.IsEmpty && randomFill.Length != 8)
        {
            throw new ArgumentException("Format 4 random fill must be 8 bytes.", nameof(randomFill));
        }

        var field = new byte[16];
        Span<byte> nibbles = stackalloc byte[16];
        nibbles.Fill(0xA);
        nibbles[0] = 0x4;
        nibbles[1] = (byte)pin.Length;
        for (var i = 0; i < pin.Length; i++)
        {
            nibbles[2 + i] = (byte)(pin[i] - '0');
        }

        PackNibbles(nibbles, field.AsSpan(0, 8));
        nibbles.Clear();
        if (randomFill.IsEmpty)
        {
            RandomNumberGenerator.Fill(field.AsSpan(8));
        }
        else
        {
            randomFill.CopyTo(field.AsSpan(8));
        }

        return field;
    }

    /// <summary>Builds the 16-byte format 4 PAN field for account id <paramref name="pan"/>.</summary>
    public static byte[] BuildFormat4PanField(string pan)
    {
        ValidatePan(pan);
        var digits = pan.Length < 12 ? pan.PadLeft(12, '0') : pan;
        Span<byte> nibbles = stackalloc byte[32];
        nibbles.Clear();
        nibbles[0] = (byte)(digits.Length - 12);
        for (var i = 0; i < digits.Length; i++)
        {
            nibbles[1 + i] = (byte)(digits[i] - '0');
        }

        var field = new byte[16];
        PackNibbles(nibbles, field);
        return field;
    }

    /// <summary>Enciphers a format 4 PIN block under AES key <paramref name="pinKey"/>: E(K, E(K, PIN field) XOR PAN field).</summary>
    public static byte[] EncipherFormat4(SecretKey pinKey, ReadOnlySpan<char> pin, string pan, ReadOnlySpan<byte> randomFill = default)
    {
        ArgumentNullException.ThrowIfNull(pinKey);
        RequireAlgorithm(pinKey, tdes: false);
        var pinField = BuildFormat4PinField(pin, randomFill);
        var panField = BuildFormat4PanField(pan);
        var block = new byte[16];
        try
        {
            BlockCiphers.EncryptEcb(pinKey, pinField, block);
            for (var i = 0; i < 16; i++)
            {
                block[i] ^= panField[i];
            }

            BlockCiphers.EncryptEcb(pinKey, block, block);
            return block;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pinField);
        }
    }

    /// <summary>Deciphers and decodes a format 4 PIN block: D(K, D(K, block) XOR PAN field).</summary>
    /// <exception cref="MalformedPinBlockException">Wrong length, format nibble, PIN length, digit or fill.</exception>
    public static ClearPin DecipherFormat4(SecretKey pinKey, ReadOnlySpan<byte> encryptedBlock, string pan)
    {
        ArgumentNullException.ThrowIfNull(pinKey);
        RequireAlgorithm(pinKey, tdes: false);
        if (encryptedBlock.Length != 16)
        {
            throw new MalformedPinBlockException($"Encrypted format 4 PIN block is {encryptedBlock.Length} bytes; 16 are expected.");
        }

        var panField = BuildFormat4PanField(pan);
        Span<byte> work = stackalloc byte[16];
        Span<byte> nibbles = stackalloc byte[16];
        try
        {
            BlockCiphers.DecryptEcb(pinKey, encryptedBlock, work);
            for (var i = 0; i < 16; i++)
            {
                work[i] ^= panField[i];
            }

            BlockCiphers.DecryptEcb(pinKey, work, work);
            UnpackNibbles(work[..8], nibbles);
            return ReadPinField(nibbles, expectedFormat: 4, filler: 0xA, fillerEnd: 16, "Format 4");
        }
        finally
        {
            work.Clear();
            nibbles.Clear();
        }
    }

    /// <summary>Checks a PIN: 4 to 12 ASCII digits.</summary>
    /// <exception cref="InvalidCredentialFormatException">Otherwise (the PIN itself is never echoed).</exception>
    public static void ValidatePin(ReadOnlySpan<char> pin)
    {
        if (pin.Length is < MinPinLength or > MaxPinLength)
        {
            throw new InvalidCredentialFormatException($"PIN has {pin.Length} characters; {MinPinLength} to {MaxPinLength} digits are required.");
        }

        for (var i = 0; i < pin.Length; i++)
        {
            if (!char.IsAsciiDigit(pin[i]))
            {
                throw new InvalidCredentialFormatException($"PIN character {i + 1} is not a digit 0-9.");
            }
        }
    }

    /// <summary>Checks an account id used as the PAN: 1 to 19 ASCII digits.</summary>
    /// <exception cref="InvalidCredentialFormatException">Otherwise (the id itself is never echoed).</exception>
    public static void ValidatePan(string? pan)
    {
        if (string.IsNullOrEmpty(pan) || pan.Length > MaxAccountIdLength)
        {
            throw new InvalidCredentialFormatException($"Account id has {pan?.Length ?? 0} characters; 1 to {MaxAccountIdLength} digits are required.");
        }

        for (var i = 0; i < pan.Length; i++)
        {
            if (!char.IsAsciiDigit(pan[i]))
            {
                throw new InvalidCredentialFormatException($"Account id character {i + 1} is not a digit 0-9.");
            }
        }
    }

    private static byte[] Format0PanField(string pan)
    {
        ValidatePan(pan);
        // The 12 rightmost digits excluding the check digit (the last one), left-padded with zeros.
        var withoutCheck = pan[..^1];
        var twelve = withoutCheck.Length >= 12 ? withoutCheck[^12..] : withoutCheck.PadLeft(12, '0');
        Span<byte> nibbles = stackalloc byte[16];
        nibbles.Clear();
        for (var i = 0; i < 12; i++)
        {
            nibbles[4 + i] = (byte)(twelve[i] - '0');
        }

        var field = new byte[8];
        PackNibbles(nibbles, field);
        return field;
    }

    private static ClearPin ReadPinField(ReadOnlySpan<byte> nibbles, int expectedFormat, byte filler, int fillerEnd, string format)
    {
        if (nibbles[0] != expectedFormat)
        {
            throw new MalformedPinBlockException($"{format} PIN block: control field is {nibbles[0]:X}, expected {expectedFormat} (wrong key, wrong account id or wrong format).");
        }

        var length = nibbles[1];
        if (length is < MinPinLength or > MaxPinLength)
        {
            throw new MalformedPinBlockException($"{format} PIN block: PIN length nibble is {length}, outside {MinPinLength}-{MaxPinLength}.");
        }

        Span<char> digits = stackalloc char[length];
        try
        {
            for (var i = 0; i < length; i++)
            {
                var digit = nibbles[2 + i];
                if (digit > 9)
                {
                    throw new MalformedPinBlockException($"{format} PIN block: PIN position {i + 1} is not a decimal digit.");
                }

                digits[i] = (char)('0' + digit);
            }

            for (var i = 2 + length; i < fillerEnd; i++)
            {
                if (nibbles[i] != filler)
                {
                    throw new MalformedPinBlockException($"{format} PIN block: fill nibble {i} is not {filler:X}.");
                }
            }

            return new ClearPin(digits);
        }
        finally
        {
            digits.Clear();
        }
    }

    private static void RequireAlgorithm(SecretKey key, bool tdes)
    {
        if (key.Algorithm.IsTdes() != tdes)
        {
            throw new InvalidKeyException($"PIN key is {key.Algorithm.DisplayName()}; format {(tdes ? "0 needs a TDES" : "4 needs an AES")} key.");
        }
    }

    private static void PackNibbles(ReadOnlySpan<byte> nibbles, Span<byte> output)
    {
        for (var i = 0; i < output.Length; i++)
        {
            output[i] = (byte)(nibbles[2 * i] << 4 | nibbles[(2 * i) + 1]);
        }
    }

    private static void UnpackNibbles(ReadOnlySpan<byte> bytes, Span<byte> nibbles)
    {
        for (var i = 0; i < bytes.Length; i++)
        {
            nibbles[2 * i] = (byte)(bytes[i] >> 4);
            nibbles[(2 * i) + 1] = (byte)(bytes[i] & 0xF);
        }
    }
}
