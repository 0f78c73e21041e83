namespace CardlessAtm.Host.Storage.Postgres;

/// <summary>
/// The PostgreSQL schema, as an append-only list of versioned steps (the same rule as <see cref="Sqlite.SqliteMigrations"/>:
/// a released step is never edited). Version 1 is the whole of SQLite's schema version 5 with the same tables, columns,
/// checks and unique keys, in PostgreSQL's types: times are <c>timestamptz</c>, business days <c>date</c>, flags
/// <c>boolean</c>, amounts <c>bigint</c>.
/// </summary>
internal static class PostgresMigrations
{
    internal sealed record Migration(int Version, string Description, string Sql);

    internal static readonly IReadOnlyList<Migration> All =
    [
        new(1, "accounts, PIN verification, phones, ATMs, sessions, transactions, reversals, ledger, audit, refusals, key changes, sign-ons", """
            CREATE TABLE accounts (
                account_id text PRIMARY KEY,
                holder_name text NOT NULL,
                currency integer NOT NULL CHECK (currency BETWEEN 1 AND 999),
                -- Never negative: a debit is an UPDATE ... WHERE balance_minor + amount >= 0, and this check backs it.
                balance_minor bigint NOT NULL CHECK (balance_minor >= 0),
                status text NOT NULL CHECK (status IN ('active', 'blocked', 'closed')),
                daily_amount_limit_minor bigint NOT NULL CHECK (daily_amount_limit_minor >= 0),
                daily_count_limit integer NOT NULL CHECK (daily_count_limit >= 0),
                created_utc timestamptz NOT NULL
            );

            CREATE TABLE pin_verification (
                account_id text PRIMARY KEY REFERENCES accounts (account_id),
                algorithm text NOT NULL,
                iterations integer NOT NULL CHECK (iterations > 0),
                salt bytea NOT NULL,
                hash bytea NOT NULL,
                failed_tries integer NOT NULL DEFAULT 0 CHECK (failed_tries >= 0),
                locked boolean NOT NULL DEFAULT false,
                updated_utc timestamptz NOT NULL
            );

            CREATE TABLE phones (
                device_id text PRIMARY KEY,
                bdk_id text NOT NULL,
                account_id text NOT NULL REFERENCES accounts (account_id),
                status text NOT NULL CHECK (status IN ('active', 'revoked')),
                last_counter bigint,
                enrolled_utc timestamptz NOT NULL
            );

            CREATE TABLE atms (
                atm_id text PRIMARY KEY CHECK (length(atm_id) = 8),
                location text NOT NULL,
                currency integer NOT NULL CHECK (currency BETWEEN 1 AND 999),
                status text NOT NULL CHECK (status IN ('active', 'blocked')),
                signed_on boolean NOT NULL DEFAULT false,
                master_key_ref text NOT NULL,
                session_key_ref text,
                session_key_version integer NOT NULL DEFAULT 0,
                session_key_kcv text,
                previous_session_key_ref text,
                previous_key_valid_until timestamptz,
                created_utc timestamptz NOT NULL,
                updated_utc timestamptz NOT NULL
            );

            -- One row per QR session nonce ever presented with valid MACs: the primary key makes a session single-use
            -- even when two host processes race for it.
            CREATE TABLE session_uses (
                nonce text PRIMARY KEY,
                atm_id text NOT NULL,
                used_utc timestamptz NOT NULL
            );

            CREATE TABLE transactions (
                transaction_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                atm_id text NOT NULL,
                stan text NOT NULL,
                transmission text NOT NULL,
                rrn text NOT NULL,
                account_id text,
                amount_minor bigint NOT NULL CHECK (amount_minor >= 0),
                currency integer NOT NULL,
                response_code text NOT NULL CHECK (length(response_code) = 2),
                auth_code text,
                reversed_minor bigint NOT NULL DEFAULT 0 CHECK (reversed_minor >= 0 AND reversed_minor <= amount_minor),
                session_nonce text,
                business_day date NOT NULL,
                created_utc timestamptz NOT NULL,
                -- The request key: a duplicate transmission finds the first decision.
                UNIQUE (atm_id, stan, transmission)
            );
            CREATE INDEX ix_transactions_account_day ON transactions (account_id, business_day);
            CREATE INDEX ix_transactions_day ON transactions (business_day, atm_id);

            CREATE TABLE reversals (
                reversal_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                atm_id text NOT NULL,
                orig_stan text NOT NULL,
                orig_transmission text NOT NULL,
                transaction_id bigint REFERENCES transactions (transaction_id),
                dispensed_minor bigint NOT NULL CHECK (dispensed_minor >= 0),
                credited_minor bigint NOT NULL CHECK (credited_minor >= 0),
                outcome text NOT NULL CHECK (outcome IN ('applied', 'no_effect', 'unmatched')),
                business_day date NOT NULL,
                created_utc timestamptz NOT NULL,
                reason_code text CHECK (reason_code IS NULL OR length(reason_code) = 2),
                suspect_minor bigint NOT NULL DEFAULT 0 CHECK (suspect_minor >= 0),
                -- One reversal per original: a repeated 0420/0421 credits nothing twice.
                UNIQUE (atm_id, orig_stan, orig_transmission)
            );
            CREATE INDEX ix_reversals_day ON reversals (business_day, atm_id);

            CREATE TABLE ledger_entries (
                entry_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                account_id text NOT NULL REFERENCES accounts (account_id),
                amount_minor bigint NOT NULL,
                kind text NOT NULL CHECK (kind IN ('opening', 'credit', 'withdrawal', 'reversal')),
                transaction_id bigint REFERENCES transactions (transaction_id),
                created_utc timestamptz NOT NULL
            );
            CREATE INDEX ix_ledger_account ON ledger_entries (account_id);

            CREATE TABLE audit (
                audit_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                at_utc timestamptz NOT NULL,
                event text NOT NULL,
                atm_id text,
                response_code text,
                detail text NOT NULL
            );

            CREATE TABLE refused_requests (
                refusal_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                atm_id text NOT NULL,
                stan text,
                response_code text NOT NULL CHECK (length(response_code) = 2),
                business_day date NOT NULL,
                created_utc timestamptz NOT NULL
            );
            CREATE INDEX ix_refused_requests_day ON refused_requests (business_day, atm_id);

            CREATE TABLE key_change_nonces (
                atm_id text NOT NULL,
                nonce text NOT NULL,
                key_version integer NOT NULL,
                used_utc timestamptz NOT NULL,
                PRIMARY KEY (atm_id, nonce)
            );

            CREATE TABLE accepted_sign_ons (
                atm_id text NOT NULL,
                mac_digest text NOT NULL,
                sent_utc timestamptz NOT NULL,
                PRIMARY KEY (atm_id, mac_digest)
            );

            CREATE TABLE previous_session_keys (
                atm_id text NOT NULL,
                key_version integer NOT NULL,
                key_ref text NOT NULL,
                valid_until timestamptz NOT NULL,
                PRIMARY KEY (atm_id, key_version)
            );
            """),
        new(2, "key vault: keys wrapped under each host's key-encryption key, and the KEK's check value", """
            -- One row per named key (tmk-<ATM>, mac-<ATM>-v<n>, tpk-<ATM>-v<n>, bdk-<id>, pvk), its material encrypted
            -- with AES-256-GCM under the key-encryption key that lives only in a 0600 file on each host (Host:Keys:KekPath).
            -- The tag covers the name, the row version, the algorithm and the KCV: a ciphertext moved to another row fails.
            CREATE TABLE vault_keys (
                name text PRIMARY KEY,
                row_version bigint NOT NULL CHECK (row_version > 0),
                algorithm text NOT NULL,
                kcv text NOT NULL,
                nonce bytea NOT NULL CHECK (length(nonce) = 12),
                ciphertext bytea NOT NULL,
                tag bytea NOT NULL CHECK (length(tag) = 16),
                updated_utc timestamptz NOT NULL
            );

            -- The check value of the KEK every host must hold (a KCV, not the KEK): a host started with another KEK is
            -- refused at start-up instead of reading garbage keys. One row.
            CREATE TABLE vault_kek (
                id smallint PRIMARY KEY CHECK (id = 1),
                kek_kcv text NOT NULL,
                created_utc timestamptz NOT NULL
            );
            """),
        new(3, "key vault tombstones: a deleted key keeps its row (no material, version bumped), so a name's row version only rises", """
            -- A delete leaves a tombstone: the row with its row_version bumped and no algorithm, KCV, nonce, ciphertext or
            -- tag; a save after it continues from its version. So a name's version never goes down legitimately, and each
            -- host's high-water mark (Host:Keys:HighWaterMarkPath) can refuse a row restored from before a re-key or delete.
            ALTER TABLE vault_keys
                ALTER COLUMN algorithm DROP NOT NULL,
                ALTER COLUMN kcv DROP NOT NULL,
                ALTER COLUMN nonce DROP NOT NULL,
                ALTER COLUMN ciphertext DROP NOT NULL,
                ALTER COLUMN tag DROP NOT NULL,
                ADD CONSTRAINT vault_keys_tombstone CHECK (
                    (algorithm IS NULL AND kcv IS NULL AND nonce IS NULL AND ciphertext IS NULL AND tag IS NULL)
                    OR (algorithm IS NOT NULL AND kcv IS NOT NULL AND nonce IS NOT NULL AND ciphertext IS NOT NULL AND tag IS NOT NULL));
            """),
    ];
}
