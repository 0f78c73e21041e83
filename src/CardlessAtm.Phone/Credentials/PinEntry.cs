using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace CardlessAtm.Phone.Credentials;

/// <summary>
/// A PIN as typed: held in a private buffer that is zeroed on <see cref="Dispose"/>. Never shown: <see cref="ToString"/>
/// says only that a PIN is there. Create it from what the keyboard or stdin gave and dispose it after the request.
/// </summary>
public sealed class PinEntry : IDisposable
{
    /// <summary>Fewest digits of a PIN.</summary>
    public const int MinLength = 4;

    /// <summary>Most digits of a PIN.</summary>
    public const int MaxLength = 12;

    private readonly char[] _digits;
    private bool _disposed;

    private PinEntry(char[] digits) => _digits = digits;

    /// <summary>Copies <paramref name="typed"/>; the caller may then clear its own buffer.</summary>
    public static PinEntry FromChars(ReadOnlySpan<char> typed) => new(typed.ToArray());

    /// <summary>The PIN's characters; valid until <see cref="Dispose"/>.</summary>
    /// <exception cref="ObjectDisposedException">After <see cref="Dispose"/>.</exception>
    public ReadOnlySpan<char> Chars
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _digits;
        }
    }

    /// <summary>Checks the PIN is 4 to 12 ASCII digits.</summary>
    /// <exception cref="PhoneInputException">It is not; the message says which rule failed, never the PIN or its length.</exception>
    public void Validate(string where = "PIN")
    {
        var chars = Chars;
        if (chars.Length == 0)
        {
            throw new PhoneInputException(PhoneInputError.InvalidPin, where, $"no PIN was entered; a PIN is {MinLength} to {MaxLength} digits.");
        }

        foreach (var c in chars)
        {
            if (!char.IsAsciiDigit(c))
            {
                throw new PhoneInputException(PhoneInputError.InvalidPin, where, $"the PIN holds a character that is not a digit; a PIN is {MinLength} to {MaxLength} digits 0-9.");
            }
        }

        if (chars.Length < MinLength)
        {
            throw new PhoneInputException(PhoneInputError.InvalidPin, where, $"the PIN is too short; a PIN is {MinLength} to {MaxLength} digits.");
        }

        if (chars.Length > MaxLength)
        {
            throw new PhoneInputException(PhoneInputError.InvalidPin, where, $"the PIN is too long; a PIN is {MinLength} to {MaxLength} digits.");
        }
    }

    /// <summary>Zeroes the PIN.</summary>
    public void Dispose()
    {
        if (!_disposed)
        {
            CryptographicOperations.ZeroMemory(MemoryMarshal.AsBytes(_digits.AsSpan()));
            _disposed = true;
        }
    }

    /// <summary>Never the PIN.</summary>
    public override string ToString() => "PIN (hidden)";
}
