using System.Text;
using CardlessAtm.Host.Storage;
using CardlessAtm.Security;

namespace CardlessAtm.Host.Credentials;

/// <summary>
/// How the host stores and checks PINs: a PIN verification value made by the security module's
/// <see cref="PinVerifier"/> — HMAC-SHA256 under the host's PIN verification key over the account
/// id and the PIN. Never the PIN, not reversible, and useless without the key, which lives in the
/// key vault and never in the database (so a stolen ledger cannot be brute-forced, which a plain
/// slow hash of a 4-digit PIN could not prevent).
/// </summary>
/// <remarks>
/// The decrypted PIN never leaves the security module: the host can only ask an
/// <see cref="OpenedPhoneRequest"/> whether it matches a stored reference. The record keeps an
/// algorithm label and an iteration count so that a future scheme can be introduced per record.
/// </remarks>
public static class PinReferences
{
    /// <summary>Algorithm label of records made here.</summary>
    public const string Algorithm = "pvv1-hmac-sha256";

    /// <summary>Makes a new verification record (try counter zero, unlocked).</summary>
    /// <exception cref="InvalidCredentialFormatException">The PIN is not 4-12 digits or the account id not 1-19 digits.</exception>
    public static PinRecord Create(PinVerifier verifier, string accountId, ReadOnlySpan<char> pin)
    {
        ArgumentNullException.ThrowIfNull(verifier);
        var reference = verifier.CreateReference(accountId, pin);
        return new PinRecord(accountId, Algorithm, 1, [], Encoding.ASCII.GetBytes(reference), 0, false);
    }

    /// <summary>True when the PIN inside <paramref name="opened"/> matches the record.</summary>
    public static bool Matches(PinVerifier verifier, OpenedPhoneRequest opened, PinRecord record)
    {
        ArgumentNullException.ThrowIfNull(opened);
        ArgumentNullException.ThrowIfNull(record);
        return record.Algorithm == Algorithm
            && string.Equals(record.AccountId, opened.AccountId, StringComparison.Ordinal)
            && opened.VerifyPin(verifier, Encoding.ASCII.GetString(record.Hash));
    }
}
