namespace CardlessAtm.Security;

/// <summary>
/// Phone side: builds ISO 8583 field 127 (the phone-protected data) from the customer's account id and
/// PIN and the clear fields the MAC binds, using the next DUKPT key of the phone. Obtain it from
/// <see cref="ISecurityProfile.CreatePhoneProtector"/>. Not thread-safe: it advances the phone's single
/// DUKPT device, so one request at a time (the phone serialises requests under its enrolment lock).
/// </summary>
public interface IPhoneRequestProtector
{
    /// <summary>
    /// Takes the next KSN from the phone's DUKPT device, encrypts the account id and PIN block and MACs
    /// everything. Persist the device state (<see cref="DukptDevice.ExportState"/>) before sending.
    /// </summary>
    /// <exception cref="InvalidCredentialFormatException">PIN not 4-12 digits or account id not 1-19 digits.</exception>
    /// <exception cref="DukptCounterExhaustedException">The phone has no DUKPT keys left.</exception>
    byte[] Protect(string accountId, ReadOnlySpan<char> pin, PhoneRequestBinding binding);
}

/// <summary>
/// Host side: opens field 127 — derives the DUKPT keys from the base derivation key and the KSN,
/// verifies the phone's MAC over the bound fields and the ciphertext, then decrypts the account id
/// and PIN block. Obtain it from <see cref="ISecurityProfile.CreatePhoneOpener"/>. Thread-safe when the
/// <see cref="IBaseDerivationKeyProvider"/> is.
/// </summary>
public interface IPhoneRequestOpener
{
    /// <summary>Opens and authenticates field 127 for the given bound fields.</summary>
    /// <exception cref="MalformedDataException">Truncated or malformed structure.</exception>
    /// <exception cref="ProfileMismatchException">Built under the other security profile.</exception>
    /// <exception cref="InvalidKeySerialNumberException">KSN of the wrong kind or with an invalid counter.</exception>
    /// <exception cref="UnknownDeviceException">No base derivation key for the KSN.</exception>
    /// <exception cref="MacMismatchException">The phone MAC does not verify (changed field, wrong key, tampering).</exception>
    /// <exception cref="MalformedPinBlockException">The PIN block does not decode.</exception>
    OpenedPhoneRequest Open(ReadOnlySpan<byte> field127, PhoneRequestBinding binding);
}

/// <summary>Reads what a host needs before it opens field 127.</summary>
public static class PhoneRequestHeader
{
    /// <summary>
    /// The KSN field 127 carries, read without opening or authenticating anything, so that a host can look the phone's
    /// enrolment up asynchronously before <see cref="IPhoneRequestOpener.Open"/>; null when the header does not parse
    /// (the opener then refuses the field with the reason).
    /// </summary>
    public static KeySerialNumber? TryReadKeySerialNumber(ReadOnlySpan<byte> field127) => PhoneProtectedData.TryReadKeySerialNumber(field127);
}

/// <summary>
/// Host side: finds the base derivation key for a phone's KSN (for AES DUKPT typically by
/// <see cref="KeySerialNumber.AesBaseDerivationKeyId"/>; for TDES by the key set id in the KSN's
/// leading bytes). Return null for an unknown or revoked device. The provider keeps ownership of
/// the returned key (the opener does not dispose it).
/// </summary>
public interface IBaseDerivationKeyProvider
{
    /// <summary>The BDK for <paramref name="ksn"/>, or null when the device is unknown.</summary>
    SecretKey? FindBaseDerivationKey(KeySerialNumber ksn);
}

/// <summary>
/// A successfully opened and authenticated field 127. Holds the account id and the decrypted PIN,
/// both zeroed/dropped on <see cref="Dispose"/>; <see cref="ToString"/> shows only the KSN.
/// </summary>
public sealed class OpenedPhoneRequest : IDisposable
{
    private readonly ClearPin _pin;

    internal OpenedPhoneRequest(KeySerialNumber ksn, string accountId, ClearPin pin)
    {
        Ksn = ksn;
        AccountId = accountId;
        _pin = pin;
    }

    /// <summary>The KSN (not secret). Hosts reject a counter not above the last one seen for <see cref="DeviceId"/> (replay).</summary>
    public KeySerialNumber Ksn { get; }

    /// <summary>The phone's DUKPT identity (its KSN with the counter cleared).</summary>
    public string DeviceId => Ksn.InitialKeyId;

    /// <summary>The customer's account id (a credential: never log it).</summary>
    public string AccountId { get; }

    /// <summary>Checks the PIN against a reference made by <see cref="PinVerifier.CreateReference"/> for this account.</summary>
    public bool VerifyPin(PinVerifier verifier, string storedReference)
    {
        ArgumentNullException.ThrowIfNull(verifier);
        return verifier.Verify(AccountId, _pin, storedReference);
    }

    /// <summary>Checks the PIN against a clear PIN (tests and labs; production hosts use <see cref="VerifyPin(PinVerifier, string)"/>).</summary>
    public bool PinEquals(ReadOnlySpan<char> pin) => _pin.Matches(pin);

    /// <summary>Drops the PIN.</summary>
    public void Dispose() => _pin.Dispose();

    /// <summary>KSN only; never the account id or PIN.</summary>
    public override string ToString() => $"Opened phone request (KSN {Ksn})";
}
