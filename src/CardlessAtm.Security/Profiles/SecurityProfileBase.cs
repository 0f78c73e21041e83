namespace CardlessAtm.Security;

/// <summary>What both profiles share; the differences are in the algorithms and <see cref="PhoneCrypto"/>.</summary>
internal abstract class SecurityProfileBase : ISecurityProfile
{
    private readonly PhoneCrypto _phoneCrypto;

    protected SecurityProfileBase(PhoneCrypto phoneCrypto) => _phoneCrypto = phoneCrypto;

    public abstract SecurityProfileKind Kind { get; }

    public abstract KeyAlgorithm TerminalMasterKeyAlgorithm { get; }

    public abstract KeyAlgorithm SessionKeyAlgorithm { get; }

    public abstract KeyAlgorithm BaseDerivationKeyAlgorithm { get; }

    public DukptKind DukptKind => _phoneCrypto.DukptKind;

    public abstract IMessageMac CreateMessageMac(SecretKey sessionMacKey);

    public SessionKeySet GenerateSessionKeys() =>
        new(SecretKey.Generate(SessionKeyAlgorithm), SecretKey.Generate(SessionKeyAlgorithm));

    public byte[] CreateKeyChangeData(SecretKey terminalMasterKey, SessionKeySet sessionKeys)
    {
        ArgumentNullException.ThrowIfNull(terminalMasterKey);
        ArgumentNullException.ThrowIfNull(sessionKeys);
        RequireMasterKey(terminalMasterKey);
        RequireSessionKey(sessionKeys.MacKey, "Session MAC key");
        if (sessionKeys.PinKey is not null)
        {
            RequireSessionKey(sessionKeys.PinKey, "Session PIN key");
        }

        return KeyChangeData.Create(_phoneCrypto.ProfileId, terminalMasterKey, sessionKeys);
    }

    public SessionKeySet OpenKeyChangeData(SecretKey terminalMasterKey, ReadOnlySpan<byte> keyChangeData)
    {
        ArgumentNullException.ThrowIfNull(terminalMasterKey);
        RequireMasterKey(terminalMasterKey);
        return KeyChangeData.Open(_phoneCrypto.ProfileId, _phoneCrypto.ProfileName, SessionKeyAlgorithm, terminalMasterKey, keyChangeData);
    }

    public SecretKey DeriveKeyChangeMacKey(SecretKey terminalMasterKey, string atmId)
    {
        ArgumentNullException.ThrowIfNull(terminalMasterKey);
        RequireMasterKey(terminalMasterKey);
        return KeyChangeMacKeyDerivation.Derive(terminalMasterKey, SessionKeyAlgorithm, atmId);
    }

    public byte[] CreateKeyChangeData(SecretKey terminalMasterKey, SessionKeySet sessionKeys, int keyVersion, ReadOnlySpan<byte> terminalNonce)
    {
        ArgumentNullException.ThrowIfNull(terminalMasterKey);
        ArgumentNullException.ThrowIfNull(sessionKeys);
        RequireMasterKey(terminalMasterKey);
        RequireSessionKey(sessionKeys.MacKey, "Session MAC key");
        if (sessionKeys.PinKey is not null)
        {
            RequireSessionKey(sessionKeys.PinKey, "Session PIN key");
        }

        return KeyChangeData.CreateBound(_phoneCrypto.ProfileId, terminalMasterKey, sessionKeys, keyVersion, terminalNonce);
    }

    public OpenedKeyChange OpenKeyChangeData(SecretKey terminalMasterKey, ReadOnlySpan<byte> keyChangeData, ReadOnlySpan<byte> expectedNonce, int currentVersion)
    {
        ArgumentNullException.ThrowIfNull(terminalMasterKey);
        RequireMasterKey(terminalMasterKey);
        return KeyChangeData.OpenBound(_phoneCrypto.ProfileId, _phoneCrypto.ProfileName, SessionKeyAlgorithm, terminalMasterKey, keyChangeData, expectedNonce, currentVersion);
    }

    public SecretKey DeriveInitialKey(SecretKey baseDerivationKey, KeySerialNumber initialKsn) =>
        _phoneCrypto.DeriveInitialKey(baseDerivationKey, initialKsn);

    public DukptDevice LoadPhoneDevice(SecretKey initialKey, KeySerialNumber initialKsn)
    {
        ArgumentNullException.ThrowIfNull(initialKsn);
        if (initialKsn.Kind != DukptKind)
        {
            throw new InvalidKeySerialNumberException($"KSN {initialKsn} is {initialKsn.Kind} DUKPT; the {Kind} profile uses {DukptKind}.");
        }

        return DukptDevice.LoadInitialKey(initialKey, initialKsn);
    }

    public IPhoneRequestProtector CreatePhoneProtector(DukptDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        return new PhoneRequestProtector(_phoneCrypto, device);
    }

    public IPhoneRequestOpener CreatePhoneOpener(IBaseDerivationKeyProvider keyProvider)
    {
        ArgumentNullException.ThrowIfNull(keyProvider);
        return new PhoneRequestOpener(_phoneCrypto, keyProvider);
    }

    public override string ToString() => $"{Kind} security profile";

    private void RequireMasterKey(SecretKey key)
    {
        if (key.Algorithm.IsTdes() != TerminalMasterKeyAlgorithm.IsTdes())
        {
            throw new InvalidKeyException($"Terminal master key is {key.Algorithm.DisplayName()}; the {Kind} profile needs {(TerminalMasterKeyAlgorithm.IsTdes() ? "a TDES" : "an AES")} key.");
        }
    }

    private void RequireSessionKey(SecretKey key, string name)
    {
        if (key.Algorithm != SessionKeyAlgorithm)
        {
            throw new InvalidKeyException($"{name} is {key.Algorithm.DisplayName()}; the {Kind} profile uses {SessionKeyAlgorithm.DisplayName()} session keys.");
        }
    }
}

/// <summary>Aes profile (default).</summary>
internal sealed class AesSecurityProfile() : SecurityProfileBase(new AesPhoneCrypto())
{
    public override SecurityProfileKind Kind => SecurityProfileKind.Aes;

    public override KeyAlgorithm TerminalMasterKeyAlgorithm => KeyAlgorithm.Aes256;

    public override KeyAlgorithm SessionKeyAlgorithm => KeyAlgorithm.Aes128;

    public override KeyAlgorithm BaseDerivationKeyAlgorithm => KeyAlgorithm.Aes128;

    public override IMessageMac CreateMessageMac(SecretKey sessionMacKey) => new CmacMessageMac(sessionMacKey);
}

/// <summary>Legacy3Des profile (the patent's).</summary>
internal sealed class Legacy3DesSecurityProfile() : SecurityProfileBase(new TdesPhoneCrypto())
{
    public override SecurityProfileKind Kind => SecurityProfileKind.Legacy3Des;

    public override KeyAlgorithm TerminalMasterKeyAlgorithm => KeyAlgorithm.Tdes2Key;

    public override KeyAlgorithm SessionKeyAlgorithm => KeyAlgorithm.Tdes2Key;

    public override KeyAlgorithm BaseDerivationKeyAlgorithm => KeyAlgorithm.Tdes2Key;

    public override IMessageMac CreateMessageMac(SecretKey sessionMacKey) => new RetailMessageMac(sessionMacKey);
}
