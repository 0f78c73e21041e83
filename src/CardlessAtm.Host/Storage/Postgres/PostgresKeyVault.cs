using System.Text;
using System.Text.RegularExpressions;
using CardlessAtm.Network;
using CardlessAtm.Security;
using Npgsql;

namespace CardlessAtm.Host.Storage.Postgres;

/// <summary>
/// The key vault of a host fleet on one PostgreSQL database (<c>Host:Store:Kind = Postgres</c>): each key is a row of
/// <c>vault_keys</c>, its material encrypted with AES-256-GCM (<see cref="AesGcmKeyWrap"/>) under the key-encryption key
/// (KEK) that lives only in a 0600 key file on each host (<see cref="KekPathSetting"/>), never in the database or the
/// configuration. The tag binds the row's name, row version, algorithm and KCV, so a ciphertext copied into another
/// row fails authentication; the KEK's check value in <c>vault_kek</c> makes a host with another KEK stop at start-up.
/// Every call goes to the database, so a key written by one host (a key change) is read by the next call on any other.
/// A delete leaves a tombstone (the row kept without material, its version bumped), so a name's row version only rises,
/// and every version read or written is checked against, then recorded in, this host's high-water mark file
/// (<see cref="HighWaterMarkPathSetting"/>): a row restored from before a re-key or delete is refused
/// (<see cref="KeyRollbackException"/>). Thread-safe.
/// </summary>
public sealed partial class PostgresKeyVault : IKeyVault, IDisposable
{
    /// <summary>The setting that names the KEK file.</summary>
    public const string KekPathSetting = "Host:Keys:KekPath";

    /// <summary>The setting that names this host's high-water mark file (default <c>vault-marks</c> beside the KEK file).</summary>
    public const string HighWaterMarkPathSetting = VaultHighWaterMarks.Setting;

    /// <summary>Only live rows: a tombstone (a deleted key) has no ciphertext.</summary>
    private const string Live = "ciphertext IS NOT NULL";

    private readonly NpgsqlDataSource _dataSource;
    private readonly SecretKey _kek;
    private readonly TimeProvider _time;
    private readonly VaultHighWaterMarks _marks;

    private PostgresKeyVault(NpgsqlDataSource dataSource, SecretKey kek, VaultHighWaterMarks marks, TimeProvider time)
    {
        _dataSource = dataSource;
        _kek = kek;
        _marks = marks;
        _time = time;
    }

    /// <summary>The high-water mark file's path for <paramref name="highWaterMarkPath"/> (the setting) and <paramref name="kekPath"/>.</summary>
    public static string HighWaterMarkPathFor(string kekPath, string? highWaterMarkPath) =>
        string.IsNullOrWhiteSpace(highWaterMarkPath) ? VaultHighWaterMarks.DefaultPathFor(kekPath) : Path.GetFullPath(highWaterMarkPath);

    /// <summary>This host's mark of <paramref name="name"/>: the highest row version it has read or written (0 when none).</summary>
    public long HighWaterMarkOf(string name) => _marks.MarkOf(ValidateName(name));

    /// <summary>
    /// Loads the KEK from <paramref name="kekPath"/>, checks it against the database's KEK check value (recording it
    /// when the vault is new) and authenticates every row, so a bad KEK or a tampered row stops start-up.
    /// The store must have been opened (migrated) first.
    /// </summary>
    /// <exception cref="ConfigurationException">
    /// The KEK file is missing, group/other-readable, not an AES-256 key file, or not this database's KEK; or a row fails
    /// authentication (named by key name). The message names <see cref="KekPathSetting"/> and holds no key material.
    /// The high-water mark file is too open, malformed or fails its MAC, or a row is below its mark: names
    /// <see cref="HighWaterMarkPathSetting"/>.
    /// </exception>
    public static PostgresKeyVault Open(string connectionString, string? kekPath, string? highWaterMarkPath = null, TimeProvider? time = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var kek = LoadKek(kekPath);
        VaultHighWaterMarks marks;
        try
        {
            marks = VaultHighWaterMarks.Open(HighWaterMarkPathFor(kekPath!, highWaterMarkPath), kek);
        }
        catch
        {
            kek.Dispose();
            throw;
        }

        var dataSource = NpgsqlDataSource.Create(connectionString);
        var vault = new PostgresKeyVault(dataSource, kek, marks, time ?? TimeProvider.System);
        try
        {
            vault.CheckKek(kekPath!);
            vault.AuthenticateAll();
            return vault;
        }
        catch (NpgsqlException ex)
        {
            vault.Dispose();
            throw new ConfigurationException(PostgresHostStore.ConnectionStringSetting, $"cannot read the key vault table: {ex.Message.ReplaceLineEndings(" ")}");
        }
        catch
        {
            vault.Dispose();
            throw;
        }
    }

    /// <summary>Reads the KEK file: an AES-256 key in the key-file format, 0600, its KCV checked.</summary>
    /// <exception cref="ConfigurationException">Missing, too open, malformed or not AES-256; names <see cref="KekPathSetting"/>.</exception>
    public static SecretKey LoadKek(string? kekPath) => ConfiguredKeyFile.LoadAes256(
        kekPath,
        KekPathSetting,
        "is required when Host:Store:Kind is Postgres: it names this host's 0600 key-encryption key file (make one with 'cardless-atm host keys kek --out FILE', then copy it to every host)",
        "a key-encryption key");

    /// <summary>The KEK's check value (what <c>vault_kek</c> holds), for an operator to compare between hosts.</summary>
    public string KekCheckValue => _kek.CheckValue.ToString();

    /// <inheritdoc/>
    public bool Contains(string name)
    {
        using var cmd = _dataSource.CreateCommand($"SELECT COUNT(*) FROM vault_keys WHERE name = @n AND {Live}");
        cmd.Parameters.AddWithValue("n", ValidateName(name));
        return (long)cmd.ExecuteScalar()! > 0;
    }

    /// <inheritdoc/>
    public IReadOnlyList<string> List()
    {
        using var cmd = _dataSource.CreateCommand($"SELECT name FROM vault_keys WHERE {Live} ORDER BY name COLLATE \"C\"");
        using var reader = cmd.ExecuteReader();
        var names = new List<string>();
        while (reader.Read())
        {
            names.Add(reader.GetString(0));
        }

        return names;
    }

    /// <inheritdoc/>
    /// <exception cref="KeyFileRejectedException">No such key (or only its tombstone), or its row fails authentication or its KCV.</exception>
    /// <exception cref="KeyRollbackException">The row is below this host's high-water mark of the name (restored from before a re-key).</exception>
    public SecretKey LoadKey(string name)
    {
        long version;
        SecretKey key;
        using (var cmd = _dataSource.CreateCommand($"SELECT row_version, algorithm, kcv, nonce, ciphertext, tag FROM vault_keys WHERE name = @n AND {Live}"))
        {
            cmd.Parameters.AddWithValue("n", ValidateName(name));
            using var reader = cmd.ExecuteReader();
            if (!reader.Read())
            {
                throw new KeyFileRejectedException($"{Describe(name)} does not exist.");
            }

            version = reader.GetInt64(0);
            key = Unwrap(name, version, reader.GetString(1), reader.GetString(2), (byte[])reader[3], (byte[])reader[4], (byte[])reader[5]);
        }

        try
        {
            // Checked and recorded durably before the key leaves the vault, so a later restore of an older row is refused.
            _marks.Observe([(name, version)]);
            return key;
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public void SaveKey(string name, SecretKey key, bool overwrite = false)
    {
        ArgumentNullException.ThrowIfNull(key);
        ValidateName(name);
        using var connection = _dataSource.OpenConnection();
        using var tx = connection.BeginTransaction(System.Data.IsolationLevel.ReadCommitted);

        // A host still running on the KEK a rewrap replaced would write a row no host with the new KEK can read (and
        // that stops every host's start-up): the KEK's check value is checked under a share lock that a rewrap's waits for.
        RequireCurrentKek(connection, tx, lockMode: "FOR SHARE", $"{Describe(name)} was not written");

        // The row version is part of the associated data, so it is chosen (under the row's lock) before encrypting.
        long version;
        using (var select = new NpgsqlCommand($"SELECT row_version, {Live} FROM vault_keys WHERE name = @n FOR UPDATE", connection, tx))
        {
            select.Parameters.AddWithValue("n", name);
            using var reader = select.ExecuteReader();
            var current = reader.Read() ? reader.GetInt64(0) : 0;
            if (current > 0 && reader.GetBoolean(1) && !overwrite)
            {
                throw new KeyFileRejectedException($"{Describe(name)} already exists; refusing to replace it (remove it first or pass --force).");
            }

            // Above the row (live or tombstone) and above this host's mark: a name's version only rises.
            version = Math.Max(current, _marks.MarkOf(name)) + 1;
        }

        var algorithm = key.Algorithm.DisplayName();
        var kcv = key.CheckValue.ToString();
        var wrapped = AesGcmKeyWrap.Wrap(_kek, key, AssociatedData(name, version, algorithm, kcv));
        using (var upsert = new NpgsqlCommand(
            """
            INSERT INTO vault_keys (name, row_version, algorithm, kcv, nonce, ciphertext, tag, updated_utc)
            VALUES (@n, @v, @a, @k, @nonce, @c, @t, @now)
            ON CONFLICT (name) DO UPDATE SET row_version = EXCLUDED.row_version, algorithm = EXCLUDED.algorithm, kcv = EXCLUDED.kcv,
                nonce = EXCLUDED.nonce, ciphertext = EXCLUDED.ciphertext, tag = EXCLUDED.tag, updated_utc = EXCLUDED.updated_utc
            """,
            connection,
            tx))
        {
            upsert.Parameters.AddWithValue("n", name);
            upsert.Parameters.AddWithValue("v", version);
            upsert.Parameters.AddWithValue("a", algorithm);
            upsert.Parameters.AddWithValue("k", kcv);
            upsert.Parameters.AddWithValue("nonce", wrapped.Nonce);
            upsert.Parameters.AddWithValue("c", wrapped.Ciphertext);
            upsert.Parameters.AddWithValue("t", wrapped.Tag);
            upsert.Parameters.AddWithValue("now", _time.GetUtcNow().UtcDateTime);
            upsert.ExecuteNonQuery();
        }

        try
        {
            tx.Commit();
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation && !overwrite)
        {
            // Another host inserted the same name between our SELECT (which found no row to lock) and our INSERT.
            throw new KeyFileRejectedException($"{Describe(name)} already exists; refusing to replace it (remove it first or pass --force).");
        }

        _marks.Observe([(name, version)]);
    }

    /// <inheritdoc/>
    /// <remarks>
    /// Leaves a tombstone: the row with its version bumped and no material, so a re-created name continues above it.
    /// Deleting a session key version <c>mac-&lt;ATM&gt;-v&lt;n&gt;</c> (or <c>tpk-</c>) also removes, for good, the
    /// tombstones of the same ATM's lower versions and this host's marks of them: a session key name is never reused
    /// (<c>n</c> only rises), so those tombstones stay bounded (about one per ATM and kind).
    /// </remarks>
    public bool Delete(string name)
    {
        ValidateName(name);
        using var connection = _dataSource.OpenConnection();
        using var tx = connection.BeginTransaction(System.Data.IsolationLevel.ReadCommitted);
        long version;
        using (var cmd = new NpgsqlCommand(
            $"UPDATE vault_keys SET row_version = row_version + 1, algorithm = NULL, kcv = NULL, nonce = NULL, ciphertext = NULL, tag = NULL, updated_utc = @now WHERE name = @n AND {Live} RETURNING row_version",
            connection,
            tx))
        {
            cmd.Parameters.AddWithValue("n", name);
            cmd.Parameters.AddWithValue("now", _time.GetUtcNow().UtcDateTime);
            if (cmd.ExecuteScalar() is not long bumped)
            {
                return false;
            }

            version = bumped;
        }

        var pruned = new List<string>();
        if (SessionKeyName().Match(name) is { Success: true } session)
        {
            var prefix = session.Groups["prefix"].Value;
            var deleted = long.Parse(session.Groups["n"].Value, System.Globalization.CultureInfo.InvariantCulture);
            using (var select = new NpgsqlCommand($"SELECT name FROM vault_keys WHERE NOT ({Live}) AND starts_with(name, @p)", connection, tx))
            {
                select.Parameters.AddWithValue("p", prefix);
                using var reader = select.ExecuteReader();
                while (reader.Read())
                {
                    var other = SessionKeyName().Match(reader.GetString(0));
                    if (other.Success && other.Groups["prefix"].Value == prefix && long.TryParse(other.Groups["n"].Value, System.Globalization.CultureInfo.InvariantCulture, out var n) && n < deleted)
                    {
                        pruned.Add(reader.GetString(0));
                    }
                }
            }

            using var prune = new NpgsqlCommand($"DELETE FROM vault_keys WHERE name = ANY(@names) AND NOT ({Live})", connection, tx);
            prune.Parameters.AddWithValue("names", pruned.ToArray());
            prune.ExecuteNonQuery();
        }

        tx.Commit();
        _marks.Observe([(name, version)]);
        _marks.Forget(pruned);
        return true;
    }

    /// <summary>A session key version's name: <c>mac-&lt;ATM&gt;-v&lt;n&gt;</c> or <c>tpk-&lt;ATM&gt;-v&lt;n&gt;</c>.</summary>
    [GeneratedRegex("^(?<prefix>(?:mac|tpk)-[A-Za-z0-9]+-v)(?<n>[0-9]{1,18})$", RegexOptions.CultureInvariant)]
    private static partial Regex SessionKeyName();

    /// <summary>
    /// Rotates the KEK: in one transaction (the rows locked), every key is unwrapped under the current KEK and wrapped
    /// again under <paramref name="newKek"/>, and <c>vault_kek</c> takes its check value. Hosts still holding the old KEK
    /// file are refused at their next start (check value mismatch): replace the file on every host, then restart them.
    /// </summary>
    /// <returns>How many keys were re-wrapped.</returns>
    /// <exception cref="InvalidKeyException">The new KEK is not AES-256.</exception>
    /// <exception cref="KeyFileRejectedException">A row fails authentication under the current KEK: nothing changed.</exception>
    public int Rewrap(SecretKey newKek)
    {
        ArgumentNullException.ThrowIfNull(newKek);
        if (newKek.Algorithm != KeyAlgorithm.Aes256)
        {
            throw new InvalidKeyException($"A key-encryption key must be AES-256, not {newKek.Algorithm.DisplayName()}.");
        }

        using var connection = _dataSource.OpenConnection();
        using var tx = connection.BeginTransaction(System.Data.IsolationLevel.ReadCommitted);

        // Locked first: a key written meanwhile by a running host waits, then sees the new check value and is refused,
        // instead of landing after the SELECT below under the old KEK.
        RequireCurrentKek(connection, tx, lockMode: "FOR UPDATE", "nothing was re-wrapped");
        var rows = new List<(string Name, long Version, string Algorithm, string Kcv, byte[] Nonce, byte[] Ciphertext, byte[] Tag)>();
        using (var select = new NpgsqlCommand($"SELECT name, row_version, algorithm, kcv, nonce, ciphertext, tag FROM vault_keys WHERE {Live} ORDER BY name FOR UPDATE", connection, tx))
        using (var reader = select.ExecuteReader())
        {
            while (reader.Read())
            {
                rows.Add((reader.GetString(0), reader.GetInt64(1), reader.GetString(2), reader.GetString(3), (byte[])reader[4], (byte[])reader[5], (byte[])reader[6]));
            }
        }

        foreach (var row in rows)
        {
            using var key = Unwrap(row.Name, row.Version, row.Algorithm, row.Kcv, row.Nonce, row.Ciphertext, row.Tag);
            var version = row.Version + 1;
            var wrapped = AesGcmKeyWrap.Wrap(newKek, key, AssociatedData(row.Name, version, row.Algorithm, row.Kcv));
            using var update = new NpgsqlCommand("UPDATE vault_keys SET row_version = @v, nonce = @nonce, ciphertext = @c, tag = @t, updated_utc = @now WHERE name = @n", connection, tx);
            update.Parameters.AddWithValue("n", row.Name);
            update.Parameters.AddWithValue("v", version);
            update.Parameters.AddWithValue("nonce", wrapped.Nonce);
            update.Parameters.AddWithValue("c", wrapped.Ciphertext);
            update.Parameters.AddWithValue("t", wrapped.Tag);
            update.Parameters.AddWithValue("now", _time.GetUtcNow().UtcDateTime);
            update.ExecuteNonQuery();
        }

        using (var kek = new NpgsqlCommand("UPDATE vault_kek SET kek_kcv = @k, created_utc = @now WHERE id = 1", connection, tx))
        {
            kek.Parameters.AddWithValue("k", newKek.CheckValue.ToString());
            kek.Parameters.AddWithValue("now", _time.GetUtcNow().UtcDateTime);
            kek.ExecuteNonQuery();
        }

        tx.Commit();
        _marks.Observe([.. rows.Select(row => (row.Name, row.Version + 1))]);
        return rows.Count;
    }

    /// <inheritdoc/>
    public string Describe(string name) => $"key '{name}' in the database key vault (table vault_keys)";

    /// <summary>The table only.</summary>
    public override string ToString() => "database key vault (table vault_keys)";

    /// <summary>Zeroes the KEK and closes the connections.</summary>
    public void Dispose()
    {
        _kek.Dispose();
        _marks.Dispose();
        _dataSource.Dispose();
    }

    /// <summary>What the tag binds besides the ciphertext: a row's ciphertext is valid under its own name and version only.</summary>
    private static byte[] AssociatedData(string name, long version, string algorithm, string kcv) =>
        Encoding.UTF8.GetBytes(FormattableString.Invariant($"cardless-atm vault key v1\n{name}\n{version}\n{algorithm}\n{kcv}"));

    private static string ValidateName(string name) => FileKeyStore.ValidateName(name);

    private SecretKey Unwrap(string name, long version, string algorithmText, string kcvText, byte[] nonce, byte[] ciphertext, byte[] tag)
    {
        KeyAlgorithm algorithm;
        KeyCheckValue kcv;
        try
        {
            algorithm = KeyAlgorithms.Parse(algorithmText);
            kcv = KeyCheckValue.Parse(kcvText);
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or SecurityException)
        {
            throw new KeyFileRejectedException($"{Describe(name)}: the row is malformed ({ex.GetType().Name}).");
        }

        SecretKey key;
        try
        {
            key = AesGcmKeyWrap.Unwrap(_kek, algorithm, new WrappedKey(nonce, ciphertext, tag), AssociatedData(name, version, algorithmText, kcvText), Describe(name));
        }
        catch (SecurityException ex)
        {
            throw new KeyFileRejectedException(ex.Message);
        }

        try
        {
            kcv.Verify(key, Describe(name));
            return key;
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }

    /// <summary>Refuses a write when <c>vault_kek</c> no longer holds this host's KEK (a rewrap since this host started).</summary>
    private void RequireCurrentKek(NpgsqlConnection connection, NpgsqlTransaction tx, string lockMode, string consequence)
    {
        using var select = new NpgsqlCommand($"SELECT kek_kcv FROM vault_kek WHERE id = 1 {lockMode}", connection, tx);
        var recorded = select.ExecuteScalar() as string;
        if (!string.Equals(recorded, KekCheckValue, StringComparison.OrdinalIgnoreCase))
        {
            throw new KeyFileRejectedException(
                $"{consequence}: the database key vault is now wrapped under the key-encryption key with check value {recorded ?? "(none)"}, not this host's {KekCheckValue} ('host keys rewrap' ran since this host started); install the new KEK file as {KekPathSetting} and restart this host.");
        }
    }

    /// <summary>Records the KEK's check value in a new vault, or refuses a KEK whose check value differs from the recorded one.</summary>
    private void CheckKek(string kekPath)
    {
        using var insert = _dataSource.CreateCommand("INSERT INTO vault_kek (id, kek_kcv, created_utc) VALUES (1, @k, @now) ON CONFLICT (id) DO NOTHING");
        insert.Parameters.AddWithValue("k", KekCheckValue);
        insert.Parameters.AddWithValue("now", _time.GetUtcNow().UtcDateTime);
        insert.ExecuteNonQuery();
        using var select = _dataSource.CreateCommand("SELECT kek_kcv FROM vault_kek WHERE id = 1");
        var recorded = (string)select.ExecuteScalar()!;
        if (!string.Equals(recorded, KekCheckValue, StringComparison.OrdinalIgnoreCase))
        {
            throw new ConfigurationException(
                KekPathSetting,
                $"{Path.GetFullPath(kekPath)} is not this database's key-encryption key (its check value {KekCheckValue} differs from the {recorded} the key vault was created with); copy the fleet's KEK file to this host");
        }
    }

    /// <summary>
    /// Authenticates every row once, so a tampered or swapped row stops start-up with its name rather than failing one
    /// request later, then checks every row against this host's marks (a row below its mark stops start-up naming
    /// <see cref="HighWaterMarkPathSetting"/>) and records their versions.
    /// </summary>
    private void AuthenticateAll()
    {
        var rows = new List<(string Name, long Version)>();
        using (var cmd = _dataSource.CreateCommand($"SELECT name, row_version, algorithm, kcv, nonce, ciphertext, tag FROM vault_keys WHERE {Live} ORDER BY name"))
        using (var reader = cmd.ExecuteReader())
        {
            while (reader.Read())
            {
                var name = reader.GetString(0);
                try
                {
                    using var key = Unwrap(name, reader.GetInt64(1), reader.GetString(2), reader.GetString(3), (byte[])reader[4], (byte[])reader[5], (byte[])reader[6]);
                }
                catch (SecurityException ex)
                {
                    throw new ConfigurationException(KekPathSetting, ex.Message.TrimEnd('.'));
                }

                rows.Add((name, reader.GetInt64(1)));
            }
        }

        try
        {
            _marks.Observe(rows);
        }
        catch (KeyRollbackException ex)
        {
            throw new ConfigurationException(HighWaterMarkPathSetting, ex.Message);
        }
    }
}
