using System.Security.Cryptography;
using CardlessAtm.Host.Credentials;
using CardlessAtm.Host.Storage;
using CardlessAtm.Security;

namespace CardlessAtm.Host.Administration;

/// <summary>What an operator supplies to open an account.</summary>
/// <param name="AccountId">1-19 digits (it is also the PIN block's account field, as a PAN would be).</param>
/// <param name="HolderName">Display name, 1-100 printable characters.</param>
/// <param name="CurrencyNumeric">ISO 4217 numeric, 1-999.</param>
/// <param name="OpeningBalanceMinor">Opening balance, minor units, not negative.</param>
/// <param name="DailyAmountLimitMinor">Daily withdrawal amount limit, minor units.</param>
/// <param name="DailyCountLimit">Daily withdrawal count limit.</param>
public sealed record NewAccount(
    string AccountId,
    string HolderName,
    int CurrencyNumeric,
    long OpeningBalanceMinor,
    long DailyAmountLimitMinor = 100_000,
    int DailyCountLimit = 10);

/// <summary>A new ATM and the terminal master key to load into it (the caller disposes the key).</summary>
/// <param name="Atm">The stored ATM.</param>
/// <param name="MasterKey">Its terminal master key: hand it to the ATM's key loading, then dispose.</param>
public sealed record AtmProvisioning(AtmRecord Atm, SecretKey MasterKey);

/// <summary>A phone enrolment and the DUKPT initial key to inject into the phone (the caller disposes the key).</summary>
/// <param name="Phone">The stored enrolment.</param>
/// <param name="InitialKsn">The phone's initial key serial number (counter 0).</param>
/// <param name="InitialKey">The phone's DUKPT initial key: inject it, then dispose.</param>
public sealed record PhoneProvisioning(PhoneEnrolment Phone, KeySerialNumber InitialKsn, SecretKey InitialKey);

/// <summary>An operator request was refused; nothing was changed. The message names the bad value.</summary>
public sealed class HostAdministrationException : Exception
{
    /// <summary>Creates the exception.</summary>
    public HostAdministrationException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public HostAdministrationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception.</summary>
    public HostAdministrationException()
    {
    }
}

/// <summary>
/// The operator's side of the host: accounts, ATMs, phone enrolments and the day's report.
/// Every method validates its input first and changes nothing when it refuses.
/// </summary>
public sealed class HostAdministration
{
    private readonly IHostStore _store;
    private readonly IKeyVault _vault;
    private readonly PinVerifier _pins;
    private readonly ISecurityProfile _profile;
    private readonly TimeProvider _time;

    /// <summary>Creates the service.</summary>
    public HostAdministration(IHostStore store, IKeyVault vault, PinVerifier pins, ISecurityProfile profile, TimeProvider? time = null)
    {
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _vault = vault ?? throw new ArgumentNullException(nameof(vault));
        _pins = pins ?? throw new ArgumentNullException(nameof(pins));
        _profile = profile ?? throw new ArgumentNullException(nameof(profile));
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Opens an account with its PIN.</summary>
    /// <exception cref="HostAdministrationException">A value is invalid or the account exists.</exception>
    public async Task<AccountRecord> AddAccountAsync(NewAccount account, string pin, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(account);
        ArgumentNullException.ThrowIfNull(pin);
        ValidateAccountId(account.AccountId);
        if (string.IsNullOrWhiteSpace(account.HolderName) || account.HolderName.Length > 100 || account.HolderName.Any(char.IsControl))
        {
            throw new HostAdministrationException("Holder name must be 1-100 printable characters.");
        }

        ValidateCurrency(account.CurrencyNumeric);
        if (account.OpeningBalanceMinor is < 0 or > 999_999_999_999)
        {
            throw new HostAdministrationException($"Opening balance must be 0..999999999999 minor units, got {account.OpeningBalanceMinor}.");
        }

        if (account.DailyAmountLimitMinor < 0 || account.DailyCountLimit < 0)
        {
            throw new HostAdministrationException("Daily limits must not be negative.");
        }

        PinRecord pinRecord;
        try
        {
            pinRecord = PinReferences.Create(_pins, account.AccountId, pin);
        }
        catch (InvalidCredentialFormatException ex)
        {
            throw new HostAdministrationException(ex.Message, ex);
        }

        var record = new AccountRecord(
            account.AccountId,
            account.HolderName,
            account.CurrencyNumeric,
            account.OpeningBalanceMinor,
            AccountStatus.Active,
            account.DailyAmountLimitMinor,
            account.DailyCountLimit);
        return await WriteAsync(
            w =>
            {
                w.InsertAccount(record);
                w.UpsertPinRecord(pinRecord);
                w.AppendAudit("account.opened", null, null, $"account {Authorisation.LedgerDecisions.Mask(record.AccountId)} opened with {record.BalanceMinor}");
                return w.GetAccount(record.AccountId)!;
            },
            cancellationToken);
    }

    /// <summary>The account, or null.</summary>
    public Task<AccountRecord?> GetAccountAsync(string accountId, CancellationToken cancellationToken = default) =>
        _store.ReadAsync(r => r.GetAccount(accountId), cancellationToken);

    /// <summary>Credits an account (operator deposit).</summary>
    /// <exception cref="HostAdministrationException">Unknown account or amount not positive.</exception>
    public Task<AccountRecord> CreditAsync(string accountId, long amountMinor, CancellationToken cancellationToken = default)
    {
        if (amountMinor is <= 0 or > 999_999_999_999)
        {
            throw new HostAdministrationException($"A credit must be 1..999999999999 minor units, got {amountMinor}.");
        }

        return WriteAsync(
            w =>
            {
                w.PostLedgerEntry(accountId, amountMinor, LedgerEntryKind.Credit, null);
                w.AppendAudit("account.credited", null, null, $"account {Authorisation.LedgerDecisions.Mask(accountId)} credited {amountMinor}");
                return w.GetAccount(accountId)!;
            },
            cancellationToken);
    }

    /// <summary>Sets an account's status (block, close, reactivate).</summary>
    public Task<AccountRecord> SetAccountStatusAsync(string accountId, AccountStatus status, CancellationToken cancellationToken = default) =>
        WriteAsync(
            w =>
            {
                w.UpdateAccountStatus(accountId, status);
                w.AppendAudit("account.status", null, null, $"account {Authorisation.LedgerDecisions.Mask(accountId)} set to {status}");
                return w.GetAccount(accountId)!;
            },
            cancellationToken);

    /// <summary>Clears the wrong-PIN counter and unlocks the PIN.</summary>
    public Task UnlockPinAsync(string accountId, CancellationToken cancellationToken = default) =>
        WriteAsync(
            w =>
            {
                if (w.GetPinRecord(accountId) is null)
                {
                    throw new StoreConflictException($"Account '{accountId}' has no PIN.");
                }

                w.UpdatePinTries(accountId, 0, false);
                w.AppendAudit("pin.unlocked", null, null, $"account {Authorisation.LedgerDecisions.Mask(accountId)} PIN unlocked");
                return true;
            },
            cancellationToken);

    /// <summary>Adds an ATM and generates its terminal master key in the vault.</summary>
    /// <param name="atmId">8 characters A-Z 0-9.</param>
    /// <param name="location">Where it stands.</param>
    /// <param name="currencyNumeric">The currency it dispenses.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <exception cref="HostAdministrationException">A value is invalid or the ATM exists.</exception>
    public async Task<AtmProvisioning> AddAtmAsync(string atmId, string location, int currencyNumeric, CancellationToken cancellationToken = default) =>
        await AddAtmAsync(atmId, location, currencyNumeric, replaceExistingKey: false, cancellationToken);

    /// <summary>Adds an ATM, generating its terminal master key, and says whether a key already in the vault may be replaced.</summary>
    /// <param name="atmId">8 characters A-Z 0-9.</param>
    /// <param name="location">Where it stands.</param>
    /// <param name="currencyNumeric">The currency it dispenses.</param>
    /// <param name="replaceExistingKey">
    /// True to replace a <c>tmk-&lt;ATM&gt;</c> already in the host's key store (e.g. from a key ceremony). False refuses,
    /// because the ATM configured with that key would then fail every sign-on.
    /// </param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <exception cref="HostAdministrationException">A value is invalid, the ATM exists, or its key exists and may not be replaced.</exception>
    public async Task<AtmProvisioning> AddAtmAsync(string atmId, string location, int currencyNumeric, bool replaceExistingKey, CancellationToken cancellationToken = default)
    {
        await ValidateNewAtmAsync(atmId, location, currencyNumeric, cancellationToken);
        var masterKeyRef = $"tmk-{atmId}";
        EnsureMasterKeyReplaceable(atmId, replaceExistingKey);

        var masterKey = SecretKey.Generate(_profile.TerminalMasterKeyAlgorithm);
        try
        {
            _vault.SaveKey(masterKeyRef, masterKey, overwrite: replaceExistingKey);
            var atm = new AtmRecord(atmId, location, currencyNumeric, AtmStatus.Active, false, masterKeyRef, null, 0, null);
            var stored = await WriteAsync(
                w =>
                {
                    w.InsertAtm(atm);
                    w.AppendAudit("atm.added", atmId, null, $"ATM added; master key KCV {masterKey.CheckValue}");
                    return w.GetAtm(atmId)!;
                },
                cancellationToken);
            return new AtmProvisioning(stored, masterKey);
        }
        catch
        {
            masterKey.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Registers an ATM whose terminal master key the key ceremony already put in the host's key store as
    /// <c>tmk-&lt;ATM id&gt;</c> (<c>keys generate --role tmk --name tmk-ATM00001 --components 3</c>): the host takes that
    /// key into its ledger instead of generating one, so the components the custodians load at the ATM stay valid.
    /// Returns the ATM and the key's check value, for the custodians to compare.
    /// </summary>
    /// <exception cref="HostAdministrationException">A value is invalid, the ATM exists, or the ceremony's key is missing or of another algorithm.</exception>
    public async Task<(AtmRecord Atm, string CheckValue)> AddAtmWithCeremonyKeyAsync(string atmId, string location, int currencyNumeric, CancellationToken cancellationToken = default)
    {
        await ValidateNewAtmAsync(atmId, location, currencyNumeric, cancellationToken);
        var masterKeyRef = $"tmk-{atmId}";
        if (!_vault.Contains(masterKeyRef))
        {
            throw new HostAdministrationException(
                $"The host's key vault ({_vault}) holds no {masterKeyRef}: run the key ceremony first (cardless-atm keys --store DIR generate --role tmk --name {masterKeyRef} --components 3, then for a database vault 'host keys import --from DIR'), or add the ATM without --ceremony-key to generate its key.");
        }

        using var masterKey = _vault.LoadKey(masterKeyRef);
        if (masterKey.Algorithm != _profile.TerminalMasterKeyAlgorithm)
        {
            throw new HostAdministrationException(
                $"{masterKeyRef} is {masterKey.Algorithm}, but the {_profile.Kind} profile needs a {_profile.TerminalMasterKeyAlgorithm} terminal master key (Security:Profile).");
        }

        var checkValue = masterKey.CheckValue.ToString();
        var atm = new AtmRecord(atmId, location, currencyNumeric, AtmStatus.Active, false, masterKeyRef, null, 0, null);
        var stored = await WriteAsync(
            w =>
            {
                w.InsertAtm(atm);
                w.AppendAudit("atm.added", atmId, null, $"ATM added with the key ceremony's master key; KCV {checkValue}");
                return w.GetAtm(atmId)!;
            },
            cancellationToken);
        return (stored, checkValue);
    }

    /// <summary>Checks a new ATM's id, location and currency, and that no ATM of that id exists, before anything is written.</summary>
    /// <exception cref="HostAdministrationException">A value is invalid or the ATM exists.</exception>
    private async Task ValidateNewAtmAsync(string atmId, string location, int currencyNumeric, CancellationToken cancellationToken)
    {
        ValidateAtmId(atmId);
        ValidateCurrency(currencyNumeric);
        if (location is null || location.Length > 100 || location.Any(char.IsControl))
        {
            throw new HostAdministrationException("Location must be at most 100 printable characters.");
        }

        if (await _store.ReadAsync(r => r.GetAtm(atmId), cancellationToken) is not null)
        {
            throw new HostAdministrationException($"ATM '{atmId}' already exists.");
        }
    }

    /// <summary>
    /// Throws unless adding <paramref name="atmId"/> may write its master key: the host's key store holds no
    /// <c>tmk-&lt;ATM&gt;</c> yet, or <paramref name="replaceExistingKey"/> is true. Checked before anything is written.
    /// </summary>
    /// <exception cref="HostAdministrationException">The key exists and may not be replaced.</exception>
    public void EnsureMasterKeyReplaceable(string atmId, bool replaceExistingKey)
    {
        var masterKeyRef = $"tmk-{atmId}";
        if (!replaceExistingKey && _vault.Contains(masterKeyRef))
        {
            throw new HostAdministrationException(
                $"The host's key store already holds {masterKeyRef} ({_vault.Describe(masterKeyRef)}), e.g. from the key ceremony; refusing to replace it, since the ATM loaded with it would fail every sign-on. Register the ATM with that key ('host atms add --ceremony-key'), remove that key, or replace it explicitly (seed-demo --force).");
        }
    }

    /// <summary>All ATMs.</summary>
    public Task<IReadOnlyList<AtmRecord>> ListAtmsAsync(CancellationToken cancellationToken = default) =>
        _store.ReadAsync(r => r.ListAtms(), cancellationToken);

    /// <summary>Blocks or re-activates an ATM.</summary>
    public Task<AtmRecord> SetAtmStatusAsync(string atmId, AtmStatus status, CancellationToken cancellationToken = default) =>
        WriteAsync(
            w =>
            {
                var atm = w.GetAtm(atmId) ?? throw new StoreConflictException($"ATM '{atmId}' does not exist.");
                w.UpdateAtm(atm with { Status = status });
                w.AppendAudit("atm.status", atmId, null, $"ATM set to {status}");
                return w.GetAtm(atmId)!;
            },
            cancellationToken);

    /// <summary>
    /// Enrols a phone for an account as a DUKPT device: creates (once) the base derivation key in the
    /// vault, picks a fresh random device id and returns the initial key to inject into the phone.
    /// </summary>
    /// <param name="accountId">The account the phone may withdraw from.</param>
    /// <param name="bdkId">Upper-case hex naming the BDK: the KSN's leading bytes, 8 digits for AES DUKPT (default <c>0000B001</c>), 10 for TDES DUKPT (default <c>0000B00100</c>).</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <exception cref="HostAdministrationException">Unknown account or bad BDK id.</exception>
    public async Task<PhoneProvisioning> EnrolPhoneAsync(string accountId, string? bdkId = null, CancellationToken cancellationToken = default)
    {
        var kind = _profile.DukptKind;
        var idLength = kind == DukptKind.Aes ? 8 : 10;
        bdkId ??= kind == DukptKind.Aes ? "0000B001" : "0000B00100";
        if (await GetAccountAsync(accountId, cancellationToken) is null)
        {
            throw new HostAdministrationException($"Account '{accountId}' does not exist.");
        }

        if (bdkId.Length != idLength || !bdkId.All(c => char.IsAsciiDigit(c) || c is >= 'A' and <= 'F'))
        {
            throw new HostAdministrationException($"A BDK id for {kind} DUKPT is {idLength} upper-case hex digits.");
        }

        var bdkRef = "bdk-" + bdkId;
        if (!_vault.Contains(bdkRef))
        {
            using var fresh = SecretKey.Generate(_profile.BaseDerivationKeyAlgorithm);
            _vault.SaveKey(bdkRef, fresh);
        }

        KeySerialNumber initialKsn;
        if (kind == DukptKind.Aes)
        {
            initialKsn = KeySerialNumber.AesInitial(bdkId + Convert.ToHexString(RandomNumberGenerator.GetBytes(4)));
        }
        else
        {
            // TDES: the key set id (BDK id) in the first 5 bytes, a random device id, counter bits zero.
            var bytes = new byte[KeySerialNumber.TdesLength];
            Convert.FromHexString(bdkId).CopyTo(bytes, 0);
            RandomNumberGenerator.Fill(bytes.AsSpan(5, 3));
            bytes[7] &= 0xE0;
            initialKsn = KeySerialNumber.FromBytes(bytes);
        }

        SecretKey initialKey;
        using (var bdk = _vault.LoadKey(bdkRef))
        {
            initialKey = _profile.DeriveInitialKey(bdk, initialKsn);
        }

        try
        {
            var phone = new PhoneEnrolment(initialKsn.InitialKeyId, bdkRef, accountId, PhoneStatus.Active, null);
            var stored = await WriteAsync(
                w =>
                {
                    w.InsertPhone(phone);
                    w.AppendAudit("phone.enrolled", null, null, $"phone {phone.DeviceId} enrolled for account {Authorisation.LedgerDecisions.Mask(accountId)} under {bdkRef}");
                    return w.GetPhone(phone.DeviceId)!;
                },
                cancellationToken);
            return new PhoneProvisioning(stored, initialKsn, initialKey);
        }
        catch
        {
            initialKey.Dispose();
            throw;
        }
    }

    /// <summary>Revokes a phone (lost, stolen) or re-activates it; a revoked phone's requests are declined 63.</summary>
    /// <exception cref="HostAdministrationException">No such phone.</exception>
    public Task<PhoneEnrolment> SetPhoneStatusAsync(string deviceId, PhoneStatus status, CancellationToken cancellationToken = default) =>
        WriteAsync(
            w =>
            {
                w.UpdatePhoneStatus(deviceId, status);
                w.AppendAudit("phone.status", null, null, $"phone {deviceId} set to {status}");
                return w.GetPhone(deviceId)!;
            },
            cancellationToken);

    /// <summary>Per-ATM totals of one UTC business day (default: today).</summary>
    public Task<IReadOnlyList<AtmDayReport>> GetDayReportAsync(DateOnly? businessDay = null, CancellationToken cancellationToken = default)
    {
        var day = businessDay ?? DateOnly.FromDateTime(_time.GetUtcNow().UtcDateTime);
        return _store.ReadAsync(r => r.GetDayReport(day), cancellationToken);
    }

    /// <summary>Whole-ledger totals and whether they balance.</summary>
    public Task<LedgerTotals> GetLedgerTotalsAsync(CancellationToken cancellationToken = default) =>
        _store.ReadAsync(r => r.GetLedgerTotals(), cancellationToken);

    /// <summary>The newest audit entries.</summary>
    public Task<IReadOnlyList<AuditEntry>> GetRecentAuditAsync(int maxCount = 50, CancellationToken cancellationToken = default) =>
        _store.ReadAsync(r => r.GetRecentAudit(maxCount), cancellationToken);

    private async Task<T> WriteAsync<T>(Func<ILedgerWriter, T> work, CancellationToken cancellationToken)
    {
        try
        {
            return await _store.WriteAsync(work, cancellationToken);
        }
        catch (StoreConflictException ex)
        {
            throw new HostAdministrationException(ex.Message, ex);
        }
    }

    /// <summary>Checks an account id: 1-19 digits (the PIN block's account field).</summary>
    /// <exception cref="HostAdministrationException">It is not.</exception>
    public static void ValidateAccountId(string? accountId)
    {
        if (string.IsNullOrEmpty(accountId) || accountId.Length > 19 || !accountId.All(char.IsAsciiDigit))
        {
            throw new HostAdministrationException("An account id is 1-19 digits 0-9.");
        }
    }

    /// <summary>Checks an ATM id: exactly 8 characters A-Z, 0-9.</summary>
    /// <exception cref="HostAdministrationException">It is not.</exception>
    public static void ValidateAtmId(string? atmId)
    {
        if (atmId is null || atmId.Length != 8 || !atmId.All(c => char.IsAsciiDigit(c) || char.IsAsciiLetterUpper(c)))
        {
            throw new HostAdministrationException("An ATM id is exactly 8 characters A-Z or 0-9, e.g. ATM00001.");
        }
    }

    private static void ValidateCurrency(int currencyNumeric)
    {
        if (currencyNumeric is < 1 or > 999)
        {
            throw new HostAdministrationException($"A currency is an ISO 4217 numeric code 001-999, got {currencyNumeric}.");
        }
    }
}
