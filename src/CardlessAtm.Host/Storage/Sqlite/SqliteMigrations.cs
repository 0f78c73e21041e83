namespace CardlessAtm.Host.Storage.Sqlite;

/// <summary>
/// The schema, as an append-only list of versioned steps. A step is never edited once released:
/// changes go in a new step, so every existing database can be brought forward at start-up.
/// </summary>
internal static class SqliteMigrations
{
    internal sealed record Migration(int Version, string Description, string Sql);

    internal static readonly IReadOnlyList<Migration> All =
    [
        new(1, "accounts, PIN verification, phones, ATMs, sessions, transactions, reversals, ledger, audit", """
            CREATE TABLE accounts (
                account_id TEXT PRIMARY KEY,
                holder_name TEXT NOT NULL,
                currency INTEGER NOT NULL CHECK (currency BETWEEN 1 AND 999),
                balance_minor INTEGER NOT NULL CHECK (balance_minor >= 0),
                status TEXT NOT NULL CHECK (status IN ('active', 'blocked', 'closed')),
                daily_amount_limit_minor INTEGER NOT NULL CHECK (daily_amount_limit_minor >= 0),
                daily_count_limit INTEGER NOT NULL CHECK (daily_count_limit >= 0),
                created_utc TEXT NOT NULL
            ) STRICT;

            CREATE TABLE pin_verification (
                account_id TEXT PRIMARY KEY REFERENCES accounts (account_id),
                algorithm TEXT NOT NULL,
                iterations INTEGER NOT NULL CHECK (iterations > 0),
                salt BLOB NOT NULL,
                hash BLOB NOT NULL,
                failed_tries INTEGER NOT NULL DEFAULT 0 CHECK (failed_tries >= 0),
                locked INTEGER NOT NULL DEFAULT 0 CHECK (locked IN (0, 1)),
                updated_utc TEXT NOT NULL
            ) STRICT;

            CREATE TABLE phones (
                device_id TEXT PRIMARY KEY,
                bdk_id TEXT NOT NULL,
                account_id TEXT NOT NULL REFERENCES accounts (account_id),
                status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
                last_counter INTEGER,
                enrolled_utc TEXT NOT NULL
            ) STRICT;

            CREATE TABLE atms (
                atm_id TEXT PRIMARY KEY CHECK (length(atm_id) = 8),
                location TEXT NOT NULL,
                currency INTEGER NOT NULL CHECK (currency BETWEEN 1 AND 999),
                status TEXT NOT NULL CHECK (status IN ('active', 'blocked')),
                signed_on INTEGER NOT NULL DEFAULT 0 CHECK (signed_on IN (0, 1)),
                master_key_ref TEXT NOT NULL,
                session_key_ref TEXT,
                session_key_version INTEGER NOT NULL DEFAULT 0,
                session_key_kcv TEXT,
                created_utc TEXT NOT NULL,
                updated_utc TEXT NOT NULL
            ) STRICT;

            -- One row per QR session nonce ever presented with valid MACs: the primary key is what
            -- makes a session single-use even when two requests race.
            CREATE TABLE session_uses (
                nonce TEXT PRIMARY KEY,
                atm_id TEXT NOT NULL,
                used_utc TEXT NOT NULL
            ) STRICT;

            CREATE TABLE transactions (
                transaction_id INTEGER PRIMARY KEY AUTOINCREMENT,
                atm_id TEXT NOT NULL,
                stan TEXT NOT NULL,
                transmission TEXT NOT NULL,
                rrn TEXT NOT NULL,
                account_id TEXT,
                amount_minor INTEGER NOT NULL CHECK (amount_minor >= 0),
                currency INTEGER NOT NULL,
                response_code TEXT NOT NULL CHECK (length(response_code) = 2),
                auth_code TEXT,
                reversed_minor INTEGER NOT NULL DEFAULT 0 CHECK (reversed_minor >= 0 AND reversed_minor <= amount_minor),
                session_nonce TEXT,
                business_day TEXT NOT NULL,
                created_utc TEXT NOT NULL,
                UNIQUE (atm_id, stan, transmission)
            ) STRICT;
            CREATE INDEX ix_transactions_account_day ON transactions (account_id, business_day);
            CREATE INDEX ix_transactions_day ON transactions (business_day, atm_id);

            CREATE TABLE reversals (
                reversal_id INTEGER PRIMARY KEY AUTOINCREMENT,
                atm_id TEXT NOT NULL,
                orig_stan TEXT NOT NULL,
                orig_transmission TEXT NOT NULL,
                transaction_id INTEGER REFERENCES transactions (transaction_id),
                dispensed_minor INTEGER NOT NULL CHECK (dispensed_minor >= 0),
                credited_minor INTEGER NOT NULL CHECK (credited_minor >= 0),
                outcome TEXT NOT NULL CHECK (outcome IN ('applied', 'no_effect', 'unmatched')),
                business_day TEXT NOT NULL,
                created_utc TEXT NOT NULL,
                UNIQUE (atm_id, orig_stan, orig_transmission)
            ) STRICT;
            CREATE INDEX ix_reversals_day ON reversals (business_day, atm_id);

            -- Every balance change, so a balance can always be explained.
            CREATE TABLE ledger_entries (
                entry_id INTEGER PRIMARY KEY AUTOINCREMENT,
                account_id TEXT NOT NULL REFERENCES accounts (account_id),
                amount_minor INTEGER NOT NULL,
                kind TEXT NOT NULL CHECK (kind IN ('opening', 'credit', 'withdrawal', 'reversal')),
                transaction_id INTEGER REFERENCES transactions (transaction_id),
                created_utc TEXT NOT NULL
            ) STRICT;
            CREATE INDEX ix_ledger_account ON ledger_entries (account_id);

            CREATE TABLE audit (
                audit_id INTEGER PRIMARY KEY AUTOINCREMENT,
                at_utc TEXT NOT NULL,
                event TEXT NOT NULL,
                atm_id TEXT,
                response_code TEXT,
                detail TEXT NOT NULL
            ) STRICT;
            """),
        new(2, "reversal reason code and suspect amount; requests refused before a transaction row", """
            -- Field 39 of the 0420/0421 (null: an ordinary reversal) and, for 22 (suspected malfunction),
            -- the credited amount the ATM's cash count has to settle.
            ALTER TABLE reversals ADD COLUMN reason_code TEXT CHECK (reason_code IS NULL OR length(reason_code) = 2);
            ALTER TABLE reversals ADD COLUMN suspect_minor INTEGER NOT NULL DEFAULT 0 CHECK (suspect_minor >= 0);

            -- One row per 0200 from a known ATM declined without a transaction row (bad MAC, QR session
            -- refused, phone revoked, ...), so the day report counts every decline the ATM showed.
            CREATE TABLE refused_requests (
                refusal_id INTEGER PRIMARY KEY AUTOINCREMENT,
                atm_id TEXT NOT NULL,
                stan TEXT,
                response_code TEXT NOT NULL CHECK (length(response_code) = 2),
                business_day TEXT NOT NULL,
                created_utc TEXT NOT NULL
            ) STRICT;
            CREATE INDEX ix_refused_requests_day ON refused_requests (business_day, atm_id);
            """),
        new(3, "previous session key kept for messages in flight; key-change nonces (single use)", """
            -- The key set the last key change replaced, accepted until previous_key_valid_until (UTC, ISO 8601).
            ALTER TABLE atms ADD COLUMN previous_session_key_ref TEXT;
            ALTER TABLE atms ADD COLUMN previous_key_valid_until TEXT;

            -- One row per authenticated 0800/101: the primary key makes a terminal nonce single-use, so a
            -- captured key-change request replayed later changes nothing.
            CREATE TABLE key_change_nonces (
                atm_id TEXT NOT NULL,
                nonce TEXT NOT NULL,
                key_version INTEGER NOT NULL,
                used_utc TEXT NOT NULL,
                PRIMARY KEY (atm_id, nonce)
            ) STRICT;
            """),
        new(4, "accepted sign-ons (single use across host restarts)", """
            -- One row per accepted 0800/001 (a digest of its MAC) until its field 7 (sent_utc) is older than the
            -- sign-on freshness window: a sign-on recorded before a host restart is still refused after it.
            CREATE TABLE accepted_sign_ons (
                atm_id TEXT NOT NULL,
                mac_digest TEXT NOT NULL,
                sent_utc TEXT NOT NULL,
                PRIMARY KEY (atm_id, mac_digest)
            ) STRICT;
            """),
        new(5, "every replaced session key version kept for its own grace period", """
            -- One row per session key version a key change replaced, accepted for messages in flight until
            -- valid_until (UTC, ISO 8601) counted from its own supersession; a later key change does not cut it short.
            CREATE TABLE previous_session_keys (
                atm_id TEXT NOT NULL,
                key_version INTEGER NOT NULL,
                key_ref TEXT NOT NULL,
                valid_until TEXT NOT NULL,
                PRIMARY KEY (atm_id, key_version)
            ) STRICT;
            -- The version the last key change before this migration replaced keeps its grace.
            INSERT INTO previous_session_keys (atm_id, key_version, key_ref, valid_until)
                SELECT atm_id, session_key_version - 1, previous_session_key_ref, previous_key_valid_until FROM atms
                WHERE previous_session_key_ref IS NOT NULL AND previous_key_valid_until IS NOT NULL AND session_key_version > 0;
            """),
    ];
}
