using System.Security.Cryptography;
using System.Text;
using CardlessAtm.Host.Storage;

namespace CardlessAtm.Host.Credentials;

/// <summary>
/// Creates and checks PIN verification values: PBKDF2-SHA256 with a random per-record salt over a
/// password that is itself HMAC-SHA256(pepper key, account id ‖ PIN).
/// </summary>
/// <remarks>
/// A PIN has only 10⁴–10¹² values, so a slow hash alone cannot stop someone who steals the database
/// from trying them all. The pepper key (a PIN verification key, kept in the key vault and never in
/// the database) makes a stolen database useless on its own; the salt and the iteration count still
/// cost an attacker who gets both. The iteration count is stored per record so it can be raised
/// later without invalidating existing PINs. Nothing here is reversible, and the PIN is never stored.
/// </remarks>
public sealed class PinVerifier : IDisposable
{
    /// <summary>The algorithm label stored with each record.</summary>
    public const string AlgorithmName = "pbkdf2-sha256+hmac-pepper";

    /// <summary>Default PBKDF2 iteration count (see docs/host.md for the trade-off against throughput).</summary>
    public const int DefaultIterations = 4096;

    /// <summary>Fewest PIN digits accepted (ISO 9564).</summary>
    public const int MinPinLength = 4;

    /// <summary>Most PIN digits accepted (ISO 9564).</summary>
    public const int MaxPinLength = 12;

    private const int SaltLength = 16;
    private const int HashLength = 32;

    private readonly byte[] _pepper;
    private bool _disposed;

    /// <summary>Creates a verifier.</summary>
    /// <param name="pepperKey">The PIN verification key (at least 16 bytes). Copied; zeroed on dispose.</param>
    /// <param name="iterations">PBKDF2 iterations for new records.</param>
    public PinVerifier(ReadOnlySpan<byte> pepperKey, int iterations = DefaultIterations)
    {
        if (pepperKey.Length < 16)
        {
            throw new ArgumentException($"The PIN verification key must be at least 16 bytes, got {pepperKey.Length}.", nameof(pepperKey));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(iterations, 1);
        _pepper = pepperKey.ToArray();
        Iterations = iterations;
    }

    /// <summary>PBKDF2 iterations used for new records.</summary>
    public int Iterations { get; }

    /// <summary>Checks that a PIN is 4 to 12 decimal digits; the message never echoes it.</summary>
    /// <exception cref="ArgumentException">Wrong length or a non-digit.</exception>
    public static void ValidatePin(ReadOnlySpan<char> pin)
    {
        if (pin.Length is < MinPinLength or > MaxPinLength)
        {
            throw new ArgumentException($"A PIN is {MinPinLength} to {MaxPinLength} digits; the one given has {pin.Length} characters.", nameof(pin));
        }

        for (var i = 0; i < pin.Length; i++)
        {
            if (pin[i] is < '0' or > '9')
            {
                throw new ArgumentException($"A PIN holds only the digits 0-9; the character at position {i + 1} is not one.", nameof(pin));
            }
        }
    }

    /// <summary>Creates a fresh verification record (try counter zero, unlocked).</summary>
    /// <exception cref="ArgumentException">The PIN is not 4-12 digits.</exception>
    public PinRecord Create(string accountId, ReadOnlySpan<char> pin)
    {
        ArgumentException.ThrowIfNullOrEmpty(accountId);
        ValidatePin(pin);
        var salt = RandomNumberGenerator.GetBytes(SaltLength);
        var hash = Derive(accountId, pin, salt, Iterations);
        return new PinRecord(accountId, AlgorithmName, Iterations, salt, hash, 0, false);
    }

    /// <summary>True when <paramref name="pin"/> is the PIN the record was made from. Constant time in the hash compare.</summary>
    public bool Verify(PinRecord record, ReadOnlySpan<char> pin)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (record.Algorithm != AlgorithmName || pin.Length is < MinPinLength or > MaxPinLength)
        {
            return false;
        }

        foreach (var c in pin)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }
        }

        var candidate = Derive(record.AccountId, pin, record.Salt, record.Iterations);
        try
        {
            return CryptographicOperations.FixedTimeEquals(candidate, record.Hash);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(candidate);
        }
    }

    private byte[] Derive(string accountId, ReadOnlySpan<char> pin, byte[] salt, int iterations)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var idLength = Encoding.UTF8.GetByteCount(accountId);
        var input = new byte[idLength + 1 + pin.Length];
        Span<byte> password = stackalloc byte[32];
        try
        {
            Encoding.UTF8.GetBytes(accountId, input);
            input[idLength] = 0;
            for (var i = 0; i < pin.Length; i++)
            {
                input[idLength + 1 + i] = (byte)pin[i];
            }

            HMACSHA256.HashData(_pepper, input, password);
            return Rfc2898DeriveBytes.Pbkdf2(password, salt, iterations, HashAlgorithmName.SHA256, HashLength);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(input);
            CryptographicOperations.ZeroMemory(password);
        }
    }

    /// <summary>Zeroes the pepper key.</summary>
    public void Dispose()
    {
        if (!_disposed)
        {
            CryptographicOperations.ZeroMemory(_pepper);
            _disposed = true;
        }
    }

    /// <inheritdoc />
    public override string ToString() => $"PinVerifier ({AlgorithmName}, {Iterations} iterations)";
}
