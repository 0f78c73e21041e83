using System.Security.Cryptography;
using System.Text;

namespace CardlessAtm.Security;

/// <summary>
/// Host-side PIN verification values: HMAC-SHA256 under the host's PIN verification key over
/// (account id, 0x00, PIN). Keyed, so a stolen ledger alone does not allow brute-forcing 4-digit PINs
/// (unlike an unkeyed hash). Stored as <c>pvv1:</c> + base64. Thread-safe.
/// </summary>
public sealed class PinVerifier : IDisposable
{
    private const string Prefix = "pvv1:";
    private readonly byte[] _key;

    /// <summary>Creates the verifier from the PIN verification key (kept in the key store; copied here and zeroed on dispose).</summary>
    public PinVerifier(SecretKey pinVerificationKey)
    {
        ArgumentNullException.ThrowIfNull(pinVerificationKey);
        _key = pinVerificationKey.ExportBytes();
    }

    /// <summary>Makes the stored reference for an account's PIN (at account opening or PIN change).</summary>
    /// <exception cref="InvalidCredentialFormatException">PIN or account id not acceptable.</exception>
    public string CreateReference(string accountId, ReadOnlySpan<char> pin)
    {
        PinBlocks.ValidatePan(accountId);
        PinBlocks.ValidatePin(pin);
        var mac = Compute(accountId, pin);
        try
        {
            return Prefix + Convert.ToBase64String(mac);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(mac);
        }
    }

    /// <summary>Constant-time check of <paramref name="pin"/> against <paramref name="storedReference"/>.</summary>
    public bool Verify(string accountId, ClearPin pin, string storedReference)
    {
        ArgumentNullException.ThrowIfNull(pin);
        if (storedReference is null || !storedReference.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }

        byte[] expected;
        try
        {
            expected = Convert.FromBase64String(storedReference[Prefix.Length..]);
        }
        catch (FormatException)
        {
            return false;
        }

        var actual = pin.Use(digits => Compute(accountId, digits));
        try
        {
            return CryptographicOperations.FixedTimeEquals(actual, expected);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(actual);
        }
    }

    /// <summary>Zeroes the key copy.</summary>
    public void Dispose() => CryptographicOperations.ZeroMemory(_key);

    /// <inheritdoc/>
    public override string ToString() => "PIN verifier (HMAC-SHA256)";

    private byte[] Compute(string accountId, ReadOnlySpan<char> pin)
    {
        var input = new byte[Encoding.ASCII.GetByteCount(accountId) + 1 + pin.Length];
        try
        {
            var written = Encoding.ASCII.GetBytes(accountId, input);
            input[written] = 0;
            Encoding.ASCII.GetBytes(pin, input.AsSpan(written + 1));
            return HMACSHA256.HashData(_key, input);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(input);
        }
    }
}
