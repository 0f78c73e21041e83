using System.Globalization;
using Microsoft.Data.Sqlite;

namespace CardlessAtm.Host.Storage.Sqlite;

/// <summary>The ledger primitives as SQL against one connection and its current transaction.</summary>
internal sealed class SqliteLedger(SqliteConnection connection, TimeProvider time, bool cacheStatements = false) : ILedgerWriter
{
    // The writer runs the same dozen statements for every request: keeping them prepared saves
    // SQLite a parse per statement per request. Only the single writer thread uses this cache.
    private readonly Dictionary<string, SqliteCommand>? _prepared = cacheStatements ? new(StringComparer.Ordinal) : null;

    private const int SqliteConstraint = 19;

    private SqliteTransaction? _transaction;
    private DateTimeOffset _now;

    public DateTimeOffset UtcNow => _now;

    public void Begin(SqliteTransaction transaction)
    {
        _transaction = transaction;
        _now = time.GetUtcNow();
    }

    public void End() => _transaction = null;

    private SqliteCommand Command(string sql, params (string Name, object? Value)[] parameters)
    {
        var transaction = _transaction ?? throw new InvalidOperationException("Ledger used outside a transaction.");
        if (_prepared is not null && _prepared.TryGetValue(sql, out var cached))
        {
            cached.Transaction = transaction;
            foreach (var (name, value) in parameters)
            {
                cached.Parameters[name].Value = value ?? DBNull.Value;
            }

            return cached;
        }

        var cmd = connection.CreateCommand();
        cmd.Transaction = transaction;
        cmd.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        _prepared?.Add(sql, cmd);
        return cmd;
    }

    private void Release(SqliteCommand cmd)
    {
        if (_prepared is null)
        {
            cmd.Dispose();
        }
    }

    private int NonQuery(string sql, params (string Name, object? Value)[] parameters)
    {
        var cmd = Command(sql, parameters);
        try
        {
            return cmd.ExecuteNonQuery();
        }
        finally
        {
            Release(cmd);
        }
    }

    private long Scalar(string sql, params (string Name, object? Value)[] parameters)
    {
        var cmd = Command(sql, parameters);
        try
        {
            var value = cmd.ExecuteScalar();
            return value is null or DBNull ? 0 : Convert.ToInt64(value, CultureInfo.InvariantCulture);
        }
        finally
        {
            Release(cmd);
        }
    }

    private List<T> Query<T>(string sql, Func<SqliteDataReader, T> map, params (string Name, object? Value)[] parameters)
    {
        var cmd = Command(sql, parameters);
        try
        {
            using var reader = cmd.ExecuteReader();
            var list = new List<T>();
            while (reader.Read())
            {
                list.Add(map(reader));
            }

            return list;
        }
        finally
        {
            Release(cmd);
        }
    }

    /// <summary>Drops the prepared statements (before the connection closes).</summary>
    public void DisposeStatements()
    {
        if (_prepared is null)
        {
            return;
        }

        foreach (var cmd in _prepared.Values)
        {
            cmd.Dispose();
        }

        _prepared.Clear();
    }

    private string Now => _now.ToString("O", CultureInfo.InvariantCulture);

    private static string Day(DateOnly day) => day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    private static string? NullableString(SqliteDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    private static string StatusText(AccountStatus s) => s switch
    {
        AccountStatus.Active => "active",
        AccountStatus.Blocked => "blocked",
        AccountStatus.Closed => "closed",
        _ => throw new ArgumentOutOfRangeException(nameof(s), s, "Unknown account status."),
    };

    private static string StatusText(AtmStatus s) => s == AtmStatus.Active ? "active" : "blocked";

    private static string KindText(LedgerEntryKind k) => k switch
    {
        LedgerEntryKind.Opening => "opening",
        LedgerEntryKind.Credit => "credit",
        LedgerEntryKind.Withdrawal => "withdrawal",
        LedgerEntryKind.Reversal => "reversal",
        _ => throw new ArgumentOutOfRangeException(nameof(k), k, "Unknown ledger entry kind."),
    };

    private static string OutcomeText(ReversalOutcomeKind k) => k switch
    {
        ReversalOutcomeKind.Applied => "applied",
        ReversalOutcomeKind.NoEffect => "no_effect",
        ReversalOutcomeKind.Unmatched => "unmatched",
        _ => throw new ArgumentOutOfRangeException(nameof(k), k, "Unknown reversal outcome."),
    };

    public AccountRecord? GetAccount(string accountId) => Query(
        "SELECT account_id, holder_name, currency, balance_minor, status, daily_amount_limit_minor, daily_count_limit FROM accounts WHERE account_id = $id;",
        r => new AccountRecord(
            r.GetString(0),
            r.GetString(1),
            r.GetInt32(2),
            r.GetInt64(3),
            r.GetString(4) switch { "active" => AccountStatus.Active, "blocked" => AccountStatus.Blocked, _ => AccountStatus.Closed },
            r.GetInt64(5),
            r.GetInt32(6)),
        ("$id", accountId)).FirstOrDefault();

    public PinRecord? GetPinRecord(string accountId) => Query(
        "SELECT account_id, algorithm, iterations, salt, hash, failed_tries, locked FROM pin_verification WHERE account_id = $id;",
        r => new PinRecord(
            r.GetString(0),
            r.GetString(1),
            r.GetInt32(2),
            (byte[])r.GetValue(3),
            (byte[])r.GetValue(4),
            r.GetInt32(5),
            r.GetInt64(6) != 0),
        ("$id", accountId)).FirstOrDefault();

    private const string AtmColumns = "atm_id, location, currency, status, signed_on, master_key_ref, session_key_ref, session_key_version, session_key_kcv, previous_session_key_ref, previous_key_valid_until";

    private static AtmRecord MapAtm(SqliteDataReader r) => new(
        r.GetString(0),
        r.GetString(1),
        r.GetInt32(2),
        r.GetString(3) == "active" ? AtmStatus.Active : AtmStatus.Blocked,
        r.GetInt64(4) != 0,
        r.GetString(5),
        NullableString(r, 6),
        r.GetInt32(7),
        NullableString(r, 8),
        NullableString(r, 9),
        r.IsDBNull(10) ? null : DateTimeOffset.Parse(r.GetString(10), CultureInfo.InvariantCulture));

    public AtmRecord? GetAtm(string atmId) =>
        Query($"SELECT {AtmColumns} FROM atms WHERE atm_id = $id;", MapAtm, ("$id", atmId)).FirstOrDefault();

    public IReadOnlyList<AtmRecord> ListAtms() =>
        Query($"SELECT {AtmColumns} FROM atms ORDER BY atm_id;", MapAtm);

    public PhoneEnrolment? GetPhone(string deviceId) => Query(
        "SELECT device_id, bdk_id, account_id, status, last_counter FROM phones WHERE device_id = $id;",
        r => new PhoneEnrolment(
            r.GetString(0),
            r.GetString(1),
            r.GetString(2),
            r.GetString(3) == "active" ? PhoneStatus.Active : PhoneStatus.Revoked,
            r.IsDBNull(4) ? null : r.GetInt64(4)),
        ("$id", deviceId)).FirstOrDefault();

    private const string TransactionColumns =
        "transaction_id, atm_id, stan, transmission, rrn, account_id, amount_minor, currency, response_code, auth_code, reversed_minor, business_day, created_utc";

    private static TransactionRecord MapTransaction(SqliteDataReader r) => new(
        r.GetInt64(0),
        new RequestKey(r.GetString(1), r.GetString(2), r.GetString(3)),
        r.GetString(4),
        NullableString(r, 5),
        new Money(r.GetInt64(6), Currency.FromNumericCode(r.GetInt32(7))),
        r.GetString(8),
        NullableString(r, 9),
        r.GetInt64(10),
        DateOnly.ParseExact(r.GetString(11), "yyyy-MM-dd", CultureInfo.InvariantCulture),
        DateTimeOffset.Parse(r.GetString(12), CultureInfo.InvariantCulture));

    public TransactionRecord? FindTransaction(RequestKey key) => Query(
        $"SELECT {TransactionColumns} FROM transactions WHERE atm_id = $a AND stan = $s AND transmission = $t;",
        MapTransaction,
        ("$a", key.AtmId),
        ("$s", key.Stan),
        ("$t", key.TransmissionDateTime)).FirstOrDefault();

    private TransactionRecord GetTransaction(long id) => Query(
        $"SELECT {TransactionColumns} FROM transactions WHERE transaction_id = $id;", MapTransaction, ("$id", id)).Single();

    private const string ReversalColumns =
        "reversal_id, atm_id, orig_stan, orig_transmission, transaction_id, dispensed_minor, credited_minor, outcome, created_utc, reason_code, suspect_minor";

    private static ReversalRecord MapReversal(SqliteDataReader r) => new(
        r.GetInt64(0),
        new RequestKey(r.GetString(1), r.GetString(2), r.GetString(3)),
        r.IsDBNull(4) ? null : r.GetInt64(4),
        r.GetInt64(5),
        r.GetInt64(6),
        r.GetString(7) switch { "applied" => ReversalOutcomeKind.Applied, "no_effect" => ReversalOutcomeKind.NoEffect, _ => ReversalOutcomeKind.Unmatched },
        DateTimeOffset.Parse(r.GetString(8), CultureInfo.InvariantCulture),
        NullableString(r, 9),
        r.GetInt64(10));

    public ReversalRecord? FindReversal(RequestKey original) => Query(
        $"SELECT {ReversalColumns} FROM reversals WHERE atm_id = $a AND orig_stan = $s AND orig_transmission = $t;",
        MapReversal,
        ("$a", original.AtmId),
        ("$s", original.Stan),
        ("$t", original.TransmissionDateTime)).FirstOrDefault();

    public DailyUsage GetDailyUsage(string accountId, DateOnly businessDay) => Query(
        """
        SELECT COALESCE(SUM(amount_minor - reversed_minor), 0),
               COALESCE(SUM(CASE WHEN reversed_minor < amount_minor THEN 1 ELSE 0 END), 0)
        FROM transactions
        WHERE account_id = $a AND business_day = $d AND response_code = '00';
        """,
        r => new DailyUsage(r.GetInt64(0), r.GetInt32(1)),
        ("$a", accountId),
        ("$d", Day(businessDay))).Single();

    public LedgerTotals GetLedgerTotals()
    {
        var balances = Scalar("SELECT COALESCE(SUM(balance_minor), 0) FROM accounts;");
        var openingAndCredits = Scalar("SELECT COALESCE(SUM(amount_minor), 0) FROM ledger_entries WHERE kind IN ('opening', 'credit');");
        var approved = Scalar("SELECT COALESCE(SUM(amount_minor), 0) FROM transactions WHERE response_code = '00';");
        var reversed = Scalar("SELECT COALESCE(SUM(credited_minor), 0) FROM reversals;");
        var mismatchedAccounts = Scalar(
            """
            SELECT COUNT(*) FROM accounts a
            WHERE a.balance_minor <> (SELECT COALESCE(SUM(e.amount_minor), 0) FROM ledger_entries e WHERE e.account_id = a.account_id);
            """);
        var ledgerWithdrawals = -Scalar("SELECT COALESCE(SUM(amount_minor), 0) FROM ledger_entries WHERE kind = 'withdrawal';");
        var ledgerReversals = Scalar("SELECT COALESCE(SUM(amount_minor), 0) FROM ledger_entries WHERE kind = 'reversal';");
        var reversedOnTransactions = Scalar("SELECT COALESCE(SUM(reversed_minor), 0) FROM transactions;");
        var consistent = mismatchedAccounts == 0
            && ledgerWithdrawals == approved
            && ledgerReversals == reversed
            && reversedOnTransactions == reversed;
        return new LedgerTotals(balances, openingAndCredits, approved, reversed, consistent);
    }

    public IReadOnlyList<AtmDayReport> GetDayReport(DateOnly businessDay)
    {
        var day = Day(businessDay);
        var lines = Query(
            """
            SELECT atm_id, currency,
                   SUM(CASE WHEN response_code = '00' THEN 1 ELSE 0 END),
                   SUM(CASE WHEN response_code = '00' THEN amount_minor ELSE 0 END),
                   SUM(CASE WHEN response_code <> '00' THEN 1 ELSE 0 END)
            FROM transactions WHERE business_day = $d GROUP BY atm_id, currency;
            """,
            r => new AtmDayReport(r.GetString(0), r.GetInt32(1), r.GetInt32(2), r.GetInt64(3), r.GetInt32(4), 0, 0, 0),
            ("$d", day)).ToDictionary(l => l.AtmId, StringComparer.Ordinal);

        // Declines refused before a transaction row (MAC, QR session, phone checks) count too: the
        // customer saw them at the ATM all the same.
        var refusals = Query(
            """
            SELECT f.atm_id, COALESCE(a.currency, 0), COUNT(*)
            FROM refused_requests f LEFT JOIN atms a ON a.atm_id = f.atm_id
            WHERE f.business_day = $d GROUP BY f.atm_id;
            """,
            r => (AtmId: r.GetString(0), Currency: r.GetInt32(1), Count: r.GetInt32(2)),
            ("$d", day));
        foreach (var refused in refusals)
        {
            var line = lines.TryGetValue(refused.AtmId, out var existing)
                ? existing
                : new AtmDayReport(refused.AtmId, refused.Currency, 0, 0, 0, 0, 0, 0);
            lines[refused.AtmId] = line with { DeclinedCount = line.DeclinedCount + refused.Count };
        }

        var reversals = Query(
            """
            SELECT r.atm_id, COALESCE(t.currency, a.currency, 0),
                   SUM(CASE WHEN r.outcome = 'applied' THEN 1 ELSE 0 END),
                   SUM(r.credited_minor),
                   SUM(CASE WHEN r.outcome = 'unmatched' THEN 1 ELSE 0 END),
                   SUM(CASE WHEN r.suspect_minor > 0 THEN 1 ELSE 0 END),
                   SUM(r.suspect_minor)
            FROM reversals r
            LEFT JOIN transactions t ON t.transaction_id = r.transaction_id
            LEFT JOIN atms a ON a.atm_id = r.atm_id
            WHERE r.business_day = $d GROUP BY r.atm_id;
            """,
            r => (AtmId: r.GetString(0), Currency: r.GetInt32(1), Count: r.GetInt32(2), Amount: r.GetInt64(3), Unmatched: r.GetInt32(4), SuspectCount: r.GetInt32(5), Suspect: r.GetInt64(6)),
            ("$d", day));
        foreach (var rev in reversals)
        {
            var line = lines.TryGetValue(rev.AtmId, out var existing)
                ? existing
                : new AtmDayReport(rev.AtmId, rev.Currency, 0, 0, 0, 0, 0, 0);
            lines[rev.AtmId] = line with
            {
                ReversedCount = rev.Count,
                ReversedMinor = rev.Amount,
                UnmatchedReversals = rev.Unmatched,
                SuspectCount = rev.SuspectCount,
                SuspectMinor = rev.Suspect,
            };
        }

        return [.. lines.Values.OrderBy(l => l.AtmId, StringComparer.Ordinal)];
    }

    public IReadOnlyList<AuditEntry> GetRecentAudit(int maxCount) => Query(
        "SELECT audit_id, at_utc, event, atm_id, response_code, detail FROM audit ORDER BY audit_id DESC LIMIT $n;",
        r => new AuditEntry(
            r.GetInt64(0),
            DateTimeOffset.Parse(r.GetString(1), CultureInfo.InvariantCulture),
            r.GetString(2),
            NullableString(r, 3),
            NullableString(r, 4),
            r.GetString(5)),
        ("$n", maxCount));

    public void InsertAccount(AccountRecord account)
    {
        ArgumentNullException.ThrowIfNull(account);
        var inserted = NonQuery(
            """
            INSERT OR IGNORE INTO accounts (account_id, holder_name, currency, balance_minor, status, daily_amount_limit_minor, daily_count_limit, created_utc)
            VALUES ($id, $name, $cur, 0, $status, $lim, $cnt, $now);
            """,
            ("$id", account.AccountId),
            ("$name", account.HolderName),
            ("$cur", account.CurrencyNumeric),
            ("$status", StatusText(account.Status)),
            ("$lim", account.DailyAmountLimitMinor),
            ("$cnt", account.DailyCountLimit),
            ("$now", Now));
        if (inserted == 0)
        {
            throw new StoreConflictException($"Account '{account.AccountId}' already exists.");
        }

        if (account.BalanceMinor != 0)
        {
            PostLedgerEntry(account.AccountId, account.BalanceMinor, LedgerEntryKind.Opening, null);
        }
    }

    public void UpdateAccountStatus(string accountId, AccountStatus status)
    {
        if (NonQuery("UPDATE accounts SET status = $s WHERE account_id = $id;", ("$s", StatusText(status)), ("$id", accountId)) == 0)
        {
            throw new StoreConflictException($"Account '{accountId}' does not exist.");
        }
    }

    public void PostLedgerEntry(string accountId, long amountMinor, LedgerEntryKind kind, long? transactionId)
    {
        try
        {
            if (NonQuery("UPDATE accounts SET balance_minor = balance_minor + $a WHERE account_id = $id;", ("$a", amountMinor), ("$id", accountId)) == 0)
            {
                throw new StoreConflictException($"Account '{accountId}' does not exist.");
            }
        }
        catch (SqliteException ex) when (ex.SqliteErrorCode == SqliteConstraint)
        {
            throw new StoreConflictException($"Posting {amountMinor} to account '{accountId}' would make its balance negative.", ex);
        }

        NonQuery(
            "INSERT INTO ledger_entries (account_id, amount_minor, kind, transaction_id, created_utc) VALUES ($id, $a, $k, $t, $now);",
            ("$id", accountId),
            ("$a", amountMinor),
            ("$k", KindText(kind)),
            ("$t", transactionId),
            ("$now", Now));
    }

    public void UpsertPinRecord(PinRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        NonQuery(
            """
            INSERT INTO pin_verification (account_id, algorithm, iterations, salt, hash, failed_tries, locked, updated_utc)
            VALUES ($id, $alg, $it, $salt, $hash, $tries, $locked, $now)
            ON CONFLICT (account_id) DO UPDATE SET algorithm = excluded.algorithm, iterations = excluded.iterations,
                salt = excluded.salt, hash = excluded.hash, failed_tries = excluded.failed_tries,
                locked = excluded.locked, updated_utc = excluded.updated_utc;
            """,
            ("$id", record.AccountId),
            ("$alg", record.Algorithm),
            ("$it", record.Iterations),
            ("$salt", record.Salt),
            ("$hash", record.Hash),
            ("$tries", record.FailedTries),
            ("$locked", record.Locked ? 1 : 0),
            ("$now", Now));
    }

    public void UpdatePinTries(string accountId, int failedTries, bool locked) => NonQuery(
        "UPDATE pin_verification SET failed_tries = $t, locked = $l, updated_utc = $now WHERE account_id = $id;",
        ("$t", failedTries),
        ("$l", locked ? 1 : 0),
        ("$now", Now),
        ("$id", accountId));

    public void InsertAtm(AtmRecord atm)
    {
        ArgumentNullException.ThrowIfNull(atm);
        var inserted = NonQuery(
            $"""
            INSERT OR IGNORE INTO atms ({AtmColumns}, created_utc, updated_utc)
            VALUES ($id, $loc, $cur, $status, $on, $mk, $sk, $ver, $kcv, $psk, $pvu, $now, $now);
            """,
            AtmParameters(atm));
        if (inserted == 0)
        {
            throw new StoreConflictException($"ATM '{atm.AtmId}' already exists.");
        }
    }

    public void UpdateAtm(AtmRecord atm)
    {
        ArgumentNullException.ThrowIfNull(atm);
        var updated = NonQuery(
            """
            UPDATE atms SET location = $loc, currency = $cur, status = $status, signed_on = $on, master_key_ref = $mk,
                session_key_ref = $sk, session_key_version = $ver, session_key_kcv = $kcv,
                previous_session_key_ref = $psk, previous_key_valid_until = $pvu, updated_utc = $now
            WHERE atm_id = $id;
            """,
            AtmParameters(atm));
        if (updated == 0)
        {
            throw new StoreConflictException($"ATM '{atm.AtmId}' does not exist.");
        }
    }

    private (string, object?)[] AtmParameters(AtmRecord atm) =>
    [
        ("$id", atm.AtmId),
        ("$loc", atm.Location),
        ("$cur", atm.CurrencyNumeric),
        ("$status", StatusText(atm.Status)),
        ("$on", atm.SignedOn ? 1 : 0),
        ("$mk", atm.MasterKeyRef),
        ("$sk", atm.SessionKeyRef),
        ("$ver", atm.SessionKeyVersion),
        ("$kcv", atm.SessionKeyCheckValue),
        ("$psk", atm.PreviousSessionKeyRef),
        ("$pvu", atm.PreviousKeyValidUntil?.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture)),
        ("$now", Now),
    ];

    public IReadOnlyList<PreviousSessionKey> GetPreviousSessionKeys(string atmId) => Query(
        "SELECT key_version, key_ref, valid_until FROM previous_session_keys WHERE atm_id = $a ORDER BY key_version DESC;",
        r => new PreviousSessionKey(r.GetInt32(0), r.GetString(1), DateTimeOffset.Parse(r.GetString(2), CultureInfo.InvariantCulture)),
        ("$a", atmId));

    public IReadOnlyList<int> AddPreviousSessionKey(string atmId, PreviousSessionKey key, int keep)
    {
        ArgumentNullException.ThrowIfNull(key);
        NonQuery(
            "INSERT OR REPLACE INTO previous_session_keys (atm_id, key_version, key_ref, valid_until) VALUES ($a, $v, $r, $u);",
            ("$a", atmId),
            ("$v", key.Version),
            ("$r", key.KeyRef),
            ("$u", key.ValidUntil.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture)));
        NonQuery(
            """
            DELETE FROM previous_session_keys WHERE atm_id = $a AND (valid_until <= $now
                OR key_version NOT IN (SELECT key_version FROM previous_session_keys WHERE atm_id = $a ORDER BY key_version DESC LIMIT $keep));
            """,
            ("$a", atmId),
            ("$now", Now),
            ("$keep", keep));
        return GetPreviousSessionKeys(atmId).Select(k => k.Version).ToList();
    }

    public bool IsSignOnAccepted(string atmId, string macDigest) => Scalar(
        "SELECT count(*) FROM accepted_sign_ons WHERE atm_id = $a AND mac_digest = $d;",
        ("$a", atmId),
        ("$d", macDigest)) > 0;

    public bool TryRecordSignOn(string atmId, string macDigest, DateTimeOffset sentAt, DateTimeOffset forgetBefore)
    {
        NonQuery(
            "DELETE FROM accepted_sign_ons WHERE atm_id = $a AND sent_utc < $before;",
            ("$a", atmId),
            ("$before", forgetBefore.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture)));
        return NonQuery(
            "INSERT OR IGNORE INTO accepted_sign_ons (atm_id, mac_digest, sent_utc) VALUES ($a, $d, $s);",
            ("$a", atmId),
            ("$d", macDigest),
            ("$s", sentAt.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture))) == 1;
    }

    public bool TryRecordKeyChangeNonce(string atmId, string nonce, int keyVersion) => NonQuery(
        "INSERT OR IGNORE INTO key_change_nonces (atm_id, nonce, key_version, used_utc) VALUES ($a, $n, $v, $now);",
        ("$a", atmId),
        ("$n", nonce),
        ("$v", keyVersion),
        ("$now", Now)) == 1;

    public void InsertPhone(PhoneEnrolment phone)
    {
        ArgumentNullException.ThrowIfNull(phone);
        var inserted = NonQuery(
            """
            INSERT OR IGNORE INTO phones (device_id, bdk_id, account_id, status, last_counter, enrolled_utc)
            VALUES ($id, $bdk, $acct, $status, $ctr, $now);
            """,
            ("$id", phone.DeviceId),
            ("$bdk", phone.BdkId),
            ("$acct", phone.AccountId),
            ("$status", phone.Status == PhoneStatus.Active ? "active" : "revoked"),
            ("$ctr", phone.LastCounter),
            ("$now", Now));
        if (inserted == 0)
        {
            throw new StoreConflictException($"Phone device '{phone.DeviceId}' is already enrolled.");
        }
    }

    public void UpdatePhoneStatus(string deviceId, PhoneStatus status)
    {
        if (NonQuery("UPDATE phones SET status = $s WHERE device_id = $id;", ("$s", status == PhoneStatus.Active ? "active" : "revoked"), ("$id", deviceId)) == 0)
        {
            throw new StoreConflictException($"Phone device '{deviceId}' is not enrolled.");
        }
    }

    public void UpdatePhoneCounter(string deviceId, long counter) => NonQuery(
        "UPDATE phones SET last_counter = $c WHERE device_id = $id AND (last_counter IS NULL OR last_counter < $c);",
        ("$c", counter),
        ("$id", deviceId));

    public bool TryConsumeSessionNonce(string nonce, string atmId) => NonQuery(
        "INSERT OR IGNORE INTO session_uses (nonce, atm_id, used_utc) VALUES ($n, $a, $now);",
        ("$n", nonce),
        ("$a", atmId),
        ("$now", Now)) == 1;

    public TransactionRecord? TryInsertTransaction(TransactionRecord transaction, string? sessionNonce)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        var inserted = NonQuery(
            """
            INSERT OR IGNORE INTO transactions (atm_id, stan, transmission, rrn, account_id, amount_minor, currency, response_code, auth_code, reversed_minor, session_nonce, business_day, created_utc)
            VALUES ($a, $s, $t, $rrn, $acct, $amt, $cur, $rc, $auth, 0, $nonce, $day, $now);
            """,
            ("$a", transaction.Key.AtmId),
            ("$s", transaction.Key.Stan),
            ("$t", transaction.Key.TransmissionDateTime),
            ("$rrn", transaction.Rrn),
            ("$acct", transaction.AccountId),
            ("$amt", transaction.Amount.MinorUnits),
            ("$cur", transaction.Amount.Currency.NumericCode),
            ("$rc", transaction.ResponseCode),
            ("$auth", transaction.AuthCode),
            ("$nonce", sessionNonce),
            ("$day", Day(transaction.BusinessDay)),
            ("$now", Now));
        return inserted == 0 ? null : GetTransaction(Scalar("SELECT last_insert_rowid();"));
    }

    public void AddReversedAmount(long transactionId, long amountMinor)
    {
        try
        {
            NonQuery(
                "UPDATE transactions SET reversed_minor = reversed_minor + $a WHERE transaction_id = $id;",
                ("$a", amountMinor),
                ("$id", transactionId));
        }
        catch (SqliteException ex) when (ex.SqliteErrorCode == SqliteConstraint)
        {
            throw new StoreConflictException($"Reversing {amountMinor} would exceed transaction {transactionId}'s amount.", ex);
        }
    }

    public ReversalRecord? TryInsertReversal(ReversalRecord reversal)
    {
        ArgumentNullException.ThrowIfNull(reversal);
        var inserted = NonQuery(
            """
            INSERT OR IGNORE INTO reversals (atm_id, orig_stan, orig_transmission, transaction_id, dispensed_minor, credited_minor, outcome, business_day, created_utc, reason_code, suspect_minor)
            VALUES ($a, $s, $t, $tx, $disp, $cred, $out, $day, $now, $reason, $suspect);
            """,
            ("$a", reversal.Original.AtmId),
            ("$s", reversal.Original.Stan),
            ("$t", reversal.Original.TransmissionDateTime),
            ("$tx", reversal.TransactionId),
            ("$disp", reversal.DispensedMinor),
            ("$cred", reversal.CreditedMinor),
            ("$out", OutcomeText(reversal.Outcome)),
            ("$day", Day(DateOnly.FromDateTime(_now.UtcDateTime))),
            ("$now", Now),
            ("$reason", reversal.ReasonCode),
            ("$suspect", reversal.SuspectMinor));
        return inserted == 0 ? null : FindReversal(reversal.Original);
    }

    public void AppendAudit(string eventName, string? atmId, string? responseCode, string detail) => NonQuery(
        "INSERT INTO audit (at_utc, event, atm_id, response_code, detail) VALUES ($now, $e, $a, $rc, $d);",
        ("$now", Now),
        ("$e", eventName),
        ("$a", atmId),
        ("$rc", responseCode),
        ("$d", detail));

    public void RecordRefusedRequest(string atmId, string? stan, string responseCode) => NonQuery(
        "INSERT INTO refused_requests (atm_id, stan, response_code, business_day, created_utc) VALUES ($a, $s, $rc, $day, $now);",
        ("$a", atmId),
        ("$s", stan),
        ("$rc", responseCode),
        ("$day", Day(DateOnly.FromDateTime(_now.UtcDateTime))),
        ("$now", Now));
}
