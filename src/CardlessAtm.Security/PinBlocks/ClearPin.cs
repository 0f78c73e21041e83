using System.Security.Cryptography;

namespace CardlessAtm.Security;

/// <summary>A decrypted PIN held in a private buffer, zeroed on <see cref="Dispose"/>. <see cref="ToString"/> is masked.</summary>
public sealed class ClearPin : IDisposable
{
    private readonly char[] _digits;
    private bool _disposed;

    internal ClearPin(ReadOnlySpan<char> digits) => _digits = digits.ToArray();

    /// <summary>Number of PIN digits (4 to 12).</summary>
    public int Length => _digits.Length;

    /// <summary>Borrows the digits; the span must not be stored.</summary>
    public T Use<T>(PinUse<T> use)
    {
        ArgumentNullException.ThrowIfNull(use);
        ObjectDisposedException.ThrowIf(_disposed, this);
        return use(_digits);
    }

    /// <summary>Constant-time comparison with <paramref name="candidate"/>.</summary>
    public bool Matches(ReadOnlySpan<char> candidate)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return CryptographicOperations.FixedTimeEquals(
            System.Runtime.InteropServices.MemoryMarshal.AsBytes(_digits.AsSpan()),
            System.Runtime.InteropServices.MemoryMarshal.AsBytes(candidate));
    }

    /// <summary>Zeroes the digits.</summary>
    public void Dispose()
    {
        if (!_disposed)
        {
            Array.Clear(_digits);
            _disposed = true;
        }
    }

    /// <summary>Always masked.</summary>
    public override string ToString() => $"PIN (**** {_digits.Length} digits)";
}

/// <summary>Receives borrowed PIN digits.</summary>
public delegate T PinUse<out T>(ReadOnlySpan<char> digits);
