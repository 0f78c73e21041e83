namespace CardlessAtm.Security;

/// <summary>The two security profiles (configuration key <c>Security:Profile</c>).</summary>
public enum SecurityProfileKind
{
    /// <summary>The default: AES-CMAC, PIN block format 4, AES DUKPT (X9.24-3), AES encryption, AES key wrap.</summary>
    Aes = 0,
    /// <summary>The patent's profile: retail MAC (ISO 9797-1 alg. 3), PIN block format 0, TDES DUKPT (X9.24-1), TDES encryption.</summary>
    Legacy3Des = 1,
}

/// <summary>
/// Everything the rest of the system needs from the security module, for the configured profile.
/// No code outside this module needs to know which profile runs. Get it from
/// <see cref="SecurityProfiles.Create(SecurityProfileKind)"/>, <see cref="SecurityProfiles.FromConfiguration"/>
/// or DI (<see cref="SecurityServiceCollectionExtensions.AddCardlessAtmSecurity"/>). Implementations are thread-safe.
/// </summary>
public interface ISecurityProfile
{
    /// <summary>Which profile this is.</summary>
    SecurityProfileKind Kind { get; }

    /// <summary>Algorithm of terminal master keys (TMK) under this profile.</summary>
    KeyAlgorithm TerminalMasterKeyAlgorithm { get; }

    /// <summary>Algorithm of the ATM's session MAC and PIN keys.</summary>
    KeyAlgorithm SessionKeyAlgorithm { get; }

    /// <summary>Algorithm of newly generated base derivation keys for phones.</summary>
    KeyAlgorithm BaseDerivationKeyAlgorithm { get; }

    /// <summary>The DUKPT scheme phones use.</summary>
    DukptKind DukptKind { get; }

    /// <summary>Message MAC for ISO 8583 field 64/128 under the ATM's session MAC key (8 bytes).</summary>
    /// <exception cref="InvalidKeyException">The key is not of <see cref="SessionKeyAlgorithm"/>'s family.</exception>
    IMessageMac CreateMessageMac(SecretKey sessionMacKey);

    /// <summary>Host: fresh random session MAC and PIN keys for an ATM.</summary>
    SessionKeySet GenerateSessionKeys();

    /// <summary>Host: builds field 120 carrying <paramref name="sessionKeys"/> encrypted under the ATM's terminal master key, with KCVs.</summary>
    byte[] CreateKeyChangeData(SecretKey terminalMasterKey, SessionKeySet sessionKeys);

    /// <summary>Terminal: opens field 120 and checks every key against its KCV before returning it.</summary>
    /// <exception cref="KeyCheckValueMismatchException">A key does not match its KCV (or fails the AES key-wrap check).</exception>
    /// <exception cref="MalformedDataException">Truncated or malformed field.</exception>
    /// <exception cref="ProfileMismatchException">Built under the other profile.</exception>
    /// <exception cref="InvalidKeyException">A TDES key has bad parity.</exception>
    SessionKeySet OpenKeyChangeData(SecretKey terminalMasterKey, ReadOnlySpan<byte> keyChangeData);

    /// <summary>
    /// Host and terminal: the key that MACs the sign-on and the key change (0800/001, 0800/101 and their 0810s),
    /// derived from the ATM's terminal master key (NIST SP 800-108 counter-mode KDF, CMAC PRF, the ATM id as
    /// context). A key of <see cref="SessionKeyAlgorithm"/>, for <see cref="CreateMessageMac"/>.
    /// </summary>
    SecretKey DeriveKeyChangeMacKey(SecretKey terminalMasterKey, string atmId);

    /// <summary>
    /// Host: builds field 120 version 2 for the 0810/101 — the keys under the TMK with their KCVs, bound to
    /// <paramref name="keyVersion"/> and the <paramref name="terminalNonce"/> of the request (the 0810 is then
    /// MACed under <see cref="DeriveKeyChangeMacKey"/>).
    /// </summary>
    byte[] CreateKeyChangeData(SecretKey terminalMasterKey, SessionKeySet sessionKeys, int keyVersion, ReadOnlySpan<byte> terminalNonce);

    /// <summary>
    /// Terminal: opens field 120 version 2. Refuses (before unwrapping any key) an answer whose nonce is not
    /// <paramref name="expectedNonce"/> or whose key version is not above <paramref name="currentVersion"/>,
    /// then checks every key against its KCV.
    /// </summary>
    /// <exception cref="StaleKeyChangeException">Another request's nonce, or a version not above the current one.</exception>
    /// <exception cref="KeyCheckValueMismatchException">A key does not match its KCV (or fails the AES key-wrap check).</exception>
    /// <exception cref="MalformedDataException">Truncated or malformed field, or format version 1.</exception>
    OpenedKeyChange OpenKeyChangeData(SecretKey terminalMasterKey, ReadOnlySpan<byte> keyChangeData, ReadOnlySpan<byte> expectedNonce, int currentVersion);

    /// <summary>Host/enrolment: the phone's DUKPT initial key from the BDK and the phone's initial KSN.</summary>
    SecretKey DeriveInitialKey(SecretKey baseDerivationKey, KeySerialNumber initialKsn);

    /// <summary>Phone: a new DUKPT device from an injected initial key and its initial KSN (counter 0).</summary>
    DukptDevice LoadPhoneDevice(SecretKey initialKey, KeySerialNumber initialKsn);

    /// <summary>Phone: the field 127 builder over the phone's DUKPT device.</summary>
    IPhoneRequestProtector CreatePhoneProtector(DukptDevice device);

    /// <summary>Host: the field 127 opener that finds BDKs through <paramref name="keyProvider"/>.</summary>
    IPhoneRequestOpener CreatePhoneOpener(IBaseDerivationKeyProvider keyProvider);
}
