namespace CardlessAtm.Host.Storage;

/// <summary>
/// The host's durable store. Every write runs inside one atomic database transaction: either all
/// of a <see cref="WriteAsync{T}"/> callback's changes are durable when its task completes, or none
/// are. Decision logic lives outside the store (see <see cref="Processing.HostProcessor"/>),
/// so a second engine (PostgreSQL) implements only these primitives and runs the same tests.
/// </summary>
public interface IHostStore : IAsyncDisposable
{
    /// <summary>Runs <paramref name="work"/> in one atomic, durable transaction.</summary>
    /// <remarks>
    /// If <paramref name="work"/> throws, its changes are rolled back and the exception is rethrown.
    /// The returned task completes only after the commit is on disk. The callback may be run again
    /// by an engine that retries serialisation failures, so it must not have side effects outside
    /// the store.
    /// </remarks>
    Task<T> WriteAsync<T>(Func<ILedgerWriter, T> work, CancellationToken cancellationToken = default);

    /// <summary>Runs <paramref name="work"/> against a consistent snapshot.</summary>
    Task<T> ReadAsync<T>(Func<ILedgerReader, T> work, CancellationToken cancellationToken = default);
}

/// <summary>Read-only queries.</summary>
public interface ILedgerReader
{
    /// <summary>The account, or null.</summary>
    AccountRecord? GetAccount(string accountId);

    /// <summary>The account's PIN verification record, or null.</summary>
    PinRecord? GetPinRecord(string accountId);

    /// <summary>The ATM, or null.</summary>
    AtmRecord? GetAtm(string atmId);

    /// <summary>All ATMs, ordered by id.</summary>
    IReadOnlyList<AtmRecord> ListAtms();

    /// <summary>The phone enrolment with this DUKPT device id, or null.</summary>
    PhoneEnrolment? GetPhone(string deviceId);

    /// <summary>The transaction the ATM numbered so, or null.</summary>
    TransactionRecord? FindTransaction(RequestKey key);

    /// <summary>The reversal of the transaction the ATM numbered so, or null.</summary>
    ReversalRecord? FindReversal(RequestKey original);

    /// <summary>Withdrawal usage of the account on the given day.</summary>
    DailyUsage GetDailyUsage(string accountId, DateOnly businessDay);

    /// <summary>Whole-ledger totals.</summary>
    LedgerTotals GetLedgerTotals();

    /// <summary>Per-ATM totals of one business day, ordered by ATM id.</summary>
    IReadOnlyList<AtmDayReport> GetDayReport(DateOnly businessDay);

    /// <summary>The newest audit entries, newest first.</summary>
    IReadOnlyList<AuditEntry> GetRecentAudit(int maxCount);

    /// <summary>Whether the ATM's sign-on with this MAC digest was accepted (and is not yet forgotten as stale).</summary>
    bool IsSignOnAccepted(string atmId, string macDigest);

    /// <summary>The ATM's replaced session key versions still recorded, newest first.</summary>
    IReadOnlyList<PreviousSessionKey> GetPreviousSessionKeys(string atmId);
}

/// <summary>Writes, available only inside <see cref="IHostStore.WriteAsync{T}"/>.</summary>
public interface ILedgerWriter : ILedgerReader
{
    /// <summary>Time of the transaction (from the store's <see cref="TimeProvider"/>).</summary>
    DateTimeOffset UtcNow { get; }

    /// <summary>Creates an account with an opening balance (posted as an opening ledger entry).</summary>
    /// <exception cref="StoreConflictException">The account id exists.</exception>
    void InsertAccount(AccountRecord account);

    /// <summary>Sets the account's status.</summary>
    void UpdateAccountStatus(string accountId, AccountStatus status);

    /// <summary>Adds a signed amount to the balance and writes the matching ledger entry.</summary>
    /// <param name="accountId">The account.</param>
    /// <param name="amountMinor">Positive for a credit, negative for a debit.</param>
    /// <param name="kind">Why: <see cref="LedgerEntryKind"/>.</param>
    /// <param name="transactionId">The related transaction, if any.</param>
    /// <exception cref="StoreConflictException">The balance would go negative.</exception>
    void PostLedgerEntry(string accountId, long amountMinor, LedgerEntryKind kind, long? transactionId);

    /// <summary>Creates or replaces the PIN verification record.</summary>
    void UpsertPinRecord(PinRecord record);

    /// <summary>Sets the try counter and lock flag.</summary>
    void UpdatePinTries(string accountId, int failedTries, bool locked);

    /// <summary>Adds an ATM.</summary>
    /// <exception cref="StoreConflictException">The ATM id exists.</exception>
    void InsertAtm(AtmRecord atm);

    /// <summary>Updates an ATM's status, sign-on flag and key references.</summary>
    void UpdateAtm(AtmRecord atm);

    /// <summary>Enrols a phone.</summary>
    /// <exception cref="StoreConflictException">The device id is already enrolled.</exception>
    void InsertPhone(PhoneEnrolment phone);

    /// <summary>Revokes or re-activates a phone enrolment.</summary>
    /// <exception cref="StoreConflictException">No such phone.</exception>
    void UpdatePhoneStatus(string deviceId, PhoneStatus status);

    /// <summary>Records the highest DUKPT counter seen from this phone.</summary>
    void UpdatePhoneCounter(string deviceId, long counter);

    /// <summary>
    /// Marks a QR session nonce as used. Returns false when it was used before: the database's
    /// unique constraint decides, so two racing requests cannot both succeed.
    /// </summary>
    bool TryConsumeSessionNonce(string nonce, string atmId);

    /// <summary>
    /// Records an authorisation decision. Returns null when the ATM already sent a request with
    /// the same <see cref="RequestKey"/> (a duplicate transmission).
    /// </summary>
    TransactionRecord? TryInsertTransaction(TransactionRecord transaction, string? sessionNonce);

    /// <summary>Adds to the amount reversals gave back on a transaction.</summary>
    void AddReversedAmount(long transactionId, long amountMinor);

    /// <summary>Records a reversal. Returns null when this original was already reversed.</summary>
    ReversalRecord? TryInsertReversal(ReversalRecord reversal);

    /// <summary>
    /// Marks an ATM's key-change nonce as used. Returns false when it was used before (a replayed 0800/101): the
    /// primary key decides, inside the same transaction as the key version.
    /// </summary>
    bool TryRecordKeyChangeNonce(string atmId, string nonce, int keyVersion);

    /// <summary>
    /// Records an accepted 0800/001 by its MAC digest and field 7, forgetting the ATM's sign-ons sent before
    /// <paramref name="forgetBefore"/> (stale anyway). Returns false when this sign-on was recorded before: a sign-on stays
    /// single-use across host restarts.
    /// </summary>
    bool TryRecordSignOn(string atmId, string macDigest, DateTimeOffset sentAt, DateTimeOffset forgetBefore);

    /// <summary>
    /// Records that a key change replaced <paramref name="key"/>, then forgets the ATM's replaced versions whose grace
    /// ended by <see cref="UtcNow"/> and all but the newest <paramref name="keep"/>. Returns the versions still kept.
    /// </summary>
    IReadOnlyList<int> AddPreviousSessionKey(string atmId, PreviousSessionKey key, int keep);

    /// <summary>Appends to the audit trail. The caller guarantees <paramref name="detail"/> holds no secret.</summary>
    void AppendAudit(string eventName, string? atmId, string? responseCode, string detail);

    /// <summary>
    /// Counts a withdrawal request declined without a transaction row (MAC, QR session, phone, replay
    /// checks) in the ATM's day report.
    /// </summary>
    /// <param name="atmId">The ATM (known to the host).</param>
    /// <param name="stan">Field 11 as received, if readable.</param>
    /// <param name="responseCode">The field 39 sent.</param>
    void RecordRefusedRequest(string atmId, string? stan, string responseCode);
}

/// <summary>Why a ledger entry was posted.</summary>
public enum LedgerEntryKind
{
    /// <summary>Opening balance when the account was created.</summary>
    Opening,

    /// <summary>Operator credit.</summary>
    Credit,

    /// <summary>Approved cash withdrawal (negative).</summary>
    Withdrawal,

    /// <summary>Reversal of a withdrawal (positive).</summary>
    Reversal,
}

/// <summary>A write broke a uniqueness or consistency rule; nothing was changed.</summary>
public sealed class StoreConflictException : Exception
{
    /// <summary>Creates the exception.</summary>
    public StoreConflictException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public StoreConflictException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception.</summary>
    public StoreConflictException()
    {
    }
}

/// <summary>The store could not be opened or migrated, or a commit failed.</summary>
public sealed class StoreUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public StoreUnavailableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public StoreUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception.</summary>
    public StoreUnavailableException()
    {
    }
}
