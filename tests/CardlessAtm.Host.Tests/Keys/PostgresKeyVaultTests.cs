using CardlessAtm.Host.Server;
using CardlessAtm.Host.Storage;
using CardlessAtm.Host.Storage.Postgres;
using CardlessAtm.Host.Tests.Support;
using CardlessAtm.Security;
using Npgsql;

namespace CardlessAtm.Host.Tests.Keys;

/// <summary>
/// The database key vault on the real PostgreSQL server: what the database holds (no plaintext key), what a swapped row
/// does, and the start-up refusals for the KEK file (missing, too open, not a key, not this database's), each naming
/// <c>Host:Keys:KekPath</c> and never a key.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // file modes; the PostgreSQL fleet runs on Linux
public sealed class PostgresKeyVaultTests : IRequiresPostgres, IDisposable
{
    private readonly PostgresTestServer _server = new();
    private readonly TempDirectory _dir = new();
    private readonly SecretKey _kek = SecretKey.Generate(KeyAlgorithm.Aes256);
    private string? _database;

    public void Dispose()
    {
        _kek.Dispose();
        _server.Dispose();
        _dir.Dispose();
    }

    private string Database()
    {
        if (_database is null)
        {
            _database = _server.CreateDatabase();
            PostgresHostStore.Open(_database).DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        return _database;
    }

    private PostgresKeyVault Open(string host = "a") => PostgresKeyVault.Open(Database(), KekFiles.Write(_dir, host, _kek));

    [StoreFact]
    public void No_plaintext_key_appears_anywhere_in_the_database_vault_tables()
    {
        using var tmk = SecretKey.FromHex(KeyAlgorithm.Aes128, "00112233445566778899AABBCCDDEEFF");
        using var bdk = SecretKey.Generate(KeyAlgorithm.Aes256);
        using (var vault = Open())
        {
            vault.SaveKey("tmk-ATM00001", tmk);
            vault.SaveKey("bdk-0000B001", bdk);
        }

        // Every byte of both tables as PostgreSQL stores them (binary COPY) and as text (the hex a dump would show).
        byte[] binary = [.. Copy("COPY vault_keys TO STDOUT (FORMAT binary)"), .. Copy("COPY vault_kek TO STDOUT (FORMAT binary)")];
        var text = CopyText("COPY vault_keys TO STDOUT") + CopyText("COPY vault_kek TO STDOUT");
        foreach (var key in (SecretKey[])[tmk, bdk, _kek])
        {
            var raw = Convert.FromHexString(HexOf(key));
            Assert.Equal(-1, binary.AsSpan().IndexOf(raw));
            Assert.DoesNotContain(HexOf(key), text, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(HexOf(key), System.Text.Encoding.ASCII.GetString(binary), StringComparison.OrdinalIgnoreCase);
        }

        Assert.Contains(tmk.CheckValue.ToString(), text, StringComparison.Ordinal); // what it does hold: names and KCVs
    }

    [StoreFact]
    public void Two_rows_whose_ciphertexts_are_swapped_are_refused_by_name_at_load_and_at_start_up()
    {
        using var first = SecretKey.Generate(KeyAlgorithm.Aes128);
        using var second = SecretKey.Generate(KeyAlgorithm.Aes128);
        using (var vault = Open())
        {
            vault.SaveKey("tmk-ATM00001", first);
            vault.SaveKey("tmk-ATM00002", second);
        }

        // An insider with write access to the table moves ATM 2's key (and its KCV) into ATM 1's row.
        PostgresTestServer.Execute(Database(), """
            UPDATE vault_keys AS t SET nonce = s.nonce, ciphertext = s.ciphertext, tag = s.tag, kcv = s.kcv
            FROM vault_keys AS s WHERE t.name = 'tmk-ATM00001' AND s.name = 'tmk-ATM00002'
            """);

        var startUp = Assert.Throws<ConfigurationException>(() => Open("b"));
        Assert.Equal(PostgresKeyVault.KekPathSetting, startUp.Setting);
        Assert.Contains("tmk-ATM00001", startUp.Message, StringComparison.Ordinal);
        Assert.Contains("failed authentication", startUp.Message, StringComparison.Ordinal);
        AssertNoKeyIn(startUp.Message, first, second);

        PostgresTestServer.Execute(Database(), "DELETE FROM vault_keys WHERE name = 'tmk-ATM00002'");
        PostgresTestServer.Execute(Database(), "UPDATE vault_keys SET row_version = row_version + 1 WHERE name = 'tmk-ATM00001'");
        Assert.Throws<ConfigurationException>(() => Open("c")); // any change of the bound row version fails the same way
    }

    [StoreFact]
    public void A_host_with_another_kek_is_refused_at_start_up_with_the_setting_named()
    {
        using (var vault = Open())
        {
            using var key = SecretKey.Generate(KeyAlgorithm.Aes128);
            vault.SaveKey("tmk-ATM00001", key);
        }

        using var wrong = SecretKey.Generate(KeyAlgorithm.Aes256);
        var path = KekFiles.Write(_dir, "stranger", wrong);
        var error = Assert.Throws<ConfigurationException>(() => PostgresKeyVault.Open(Database(), path));

        Assert.Equal("Host:Keys:KekPath", error.Setting);
        Assert.Contains("is not this database's key-encryption key", error.Message, StringComparison.Ordinal);
        Assert.Single(error.Message.Split('\n'));
        AssertNoKeyIn(error.Message, wrong, _kek);
    }

    [StoreFact]
    public void Rewrapping_under_a_new_kek_keeps_every_key_and_refuses_the_old_kek_afterwards()
    {
        using var tmk = SecretKey.Generate(KeyAlgorithm.Aes256);
        using var newKek = SecretKey.Generate(KeyAlgorithm.Aes256);
        var before = string.Empty;
        using (var vault = Open())
        {
            vault.SaveKey("tmk-ATM00001", tmk);
            before = CopyText("COPY (SELECT ciphertext FROM vault_keys) TO STDOUT");
            Assert.Equal(1, vault.Rewrap(newKek));
        }

        Assert.NotEqual(before, CopyText("COPY (SELECT ciphertext FROM vault_keys) TO STDOUT"));
        var old = Assert.Throws<ConfigurationException>(() => Open("old"));
        Assert.Contains("is not this database's key-encryption key", old.Message, StringComparison.Ordinal);
        using var rotated = PostgresKeyVault.Open(Database(), KekFiles.Write(_dir, "rotated", newKek));
        using var loaded = rotated.LoadKey("tmk-ATM00001");
        Assert.Equal(tmk, loaded);
    }

    [StoreFact]
    public void A_host_still_running_on_the_old_kek_after_a_rewrap_cannot_write_a_key_every_host_would_then_refuse()
    {
        using var tmk = SecretKey.Generate(KeyAlgorithm.Aes256);
        using var sessionKey = SecretKey.Generate(KeyAlgorithm.Aes128);
        using var newKek = SecretKey.Generate(KeyAlgorithm.Aes256);
        using var operatorVault = Open("operator");
        operatorVault.SaveKey("tmk-ATM00001", tmk);
        using var runningHost = Open("running"); // host B was not stopped before the rotation
        Assert.Equal(1, operatorVault.Rewrap(newKek));

        // Host B's next key change writes the new session key under the KEK it still holds in memory.
        var refused = Assert.Throws<KeyFileRejectedException>(() => runningHost.SaveKey("mac-ATM00001-v2", sessionKey));
        Assert.Contains("key-encryption key", refused.Message, StringComparison.Ordinal);
        AssertNoKeyIn(refused.Message, sessionKey, newKek, _kek);
        Assert.False(operatorVault.Contains("mac-ATM00001-v2"));

        // Nothing unreadable was left: a host given the new KEK file starts and reads every key.
        using var rotated = PostgresKeyVault.Open(Database(), KekFiles.Write(_dir, "rotated", newKek));
        using var loaded = rotated.LoadKey("tmk-ATM00001");
        Assert.Equal(tmk, loaded);
    }

    // Finding adv16: the tag binds name, row version, algorithm and KCV, but nothing in the row says which version is
    // current, so a table writer who saved a row before a re-key restores it whole. This host's high-water mark (it
    // wrote version 2) refuses the restored version 1 (docs/scale-out.md, Keys for a host fleet, "Rollback detection").
    [StoreFact]
    public void A_row_restored_whole_from_before_a_re_key_is_refused_rather_than_bringing_back_the_retired_key()
    {
        using var retired = SecretKey.Generate(KeyAlgorithm.Aes128);
        using var current = SecretKey.Generate(KeyAlgorithm.Aes128);
        using var vault = Open();
        vault.SaveKey("tmk-ATM00001", retired);
        PostgresTestServer.Execute(Database(), "CREATE TABLE stolen AS SELECT * FROM vault_keys");
        vault.SaveKey("tmk-ATM00001", current, overwrite: true);
        PostgresTestServer.Execute(Database(), """
            UPDATE vault_keys AS t SET row_version = s.row_version, kcv = s.kcv, nonce = s.nonce, ciphertext = s.ciphertext, tag = s.tag
            FROM stolen AS s WHERE t.name = s.name
            """);

        var refused = Assert.Throws<KeyRollbackException>(() => vault.LoadKey("tmk-ATM00001"));
        Assert.Equal(SecurityFailure.KeyRolledBack, refused.Failure);
        Assert.Equal("key 'tmk-ATM00001' in the database key vault is at row version 1, below the version 2 this host has already used (a row restored from before a re-key); refusing it", refused.Message);
        AssertNoKeyIn(refused.Message, retired, current, _kek);

        // At start-up the same row stops the host, naming the mark file's setting.
        var startUp = Assert.Throws<ConfigurationException>(() => Open());
        Assert.Equal("Host:Keys:HighWaterMarkPath", startUp.Setting);
        Assert.Contains("row version 1, below the version 2", startUp.Message, StringComparison.Ordinal);
    }

    [StoreFact]
    public void A_deleted_key_leaves_a_tombstone_so_a_re_created_name_continues_above_it_and_the_deleted_row_cannot_come_back()
    {
        using var first = SecretKey.Generate(KeyAlgorithm.Aes128);
        using var second = SecretKey.Generate(KeyAlgorithm.Aes128);
        using var vault = Open();
        vault.SaveKey("bdk-0000B001", first);
        PostgresTestServer.Execute(Database(), "CREATE TABLE stolen AS SELECT * FROM vault_keys");

        Assert.True(vault.Delete("bdk-0000B001"));
        Assert.False(vault.Delete("bdk-0000B001")); // a tombstone is not deleted twice
        Assert.False(vault.Contains("bdk-0000B001"));
        Assert.DoesNotContain("bdk-0000B001", vault.List());
        Assert.Throws<KeyFileRejectedException>(() => vault.LoadKey("bdk-0000B001"));
        Assert.Equal("2 true", Scalar("SELECT row_version || ' ' || (ciphertext IS NULL AND nonce IS NULL AND tag IS NULL AND kcv IS NULL) FROM vault_keys WHERE name = 'bdk-0000B001'"));

        vault.SaveKey("bdk-0000B001", second); // no --force needed over a tombstone
        Assert.Equal("3", Scalar("SELECT row_version FROM vault_keys WHERE name = 'bdk-0000B001'"));
        using (var loaded = vault.LoadKey("bdk-0000B001"))
        {
            Assert.Equal(second, loaded);
        }

        Assert.Equal(3, vault.HighWaterMarkOf("bdk-0000B001"));

        // The deleted version 1 put back whole (the tombstone overwritten) is refused.
        PostgresTestServer.Execute(Database(), """
            UPDATE vault_keys AS t SET row_version = s.row_version, algorithm = s.algorithm, kcv = s.kcv, nonce = s.nonce, ciphertext = s.ciphertext, tag = s.tag
            FROM stolen AS s WHERE t.name = s.name
            """);
        var refused = Assert.Throws<KeyRollbackException>(() => vault.LoadKey("bdk-0000B001"));
        Assert.Contains("row version 1, below the version 3", refused.Message, StringComparison.Ordinal);
    }

    [StoreFact]
    public void Deleting_a_session_key_version_prunes_the_tombstones_and_marks_of_its_lower_versions()
    {
        using var key = SecretKey.Generate(KeyAlgorithm.Aes128);
        using var vault = Open();
        foreach (var n in (int[])[1, 2, 3])
        {
            vault.SaveKey($"mac-ATM00001-v{n}", key);
        }

        vault.SaveKey("mac-ATM00002-v1", key);
        Assert.True(vault.Delete("mac-ATM00001-v1"));
        Assert.True(vault.Delete("mac-ATM00001-v2"));
        Assert.True(vault.Delete("mac-ATM00002-v1"));

        // v1's tombstone went with v2's delete (the name is never reused: n only rises); v2's stays until v3 goes.
        Assert.Equal("mac-ATM00001-v2 mac-ATM00002-v1", Scalar("SELECT string_agg(name, ' ' ORDER BY name) FROM vault_keys WHERE ciphertext IS NULL"));
        Assert.Equal(0, vault.HighWaterMarkOf("mac-ATM00001-v1"));
        Assert.Equal(2, vault.HighWaterMarkOf("mac-ATM00001-v2"));
        Assert.Equal(["mac-ATM00001-v3"], vault.List());
    }

    [StoreFact]
    public void A_missing_mark_file_is_created_empty_at_0600_and_records_each_version_this_host_reads_or_writes()
    {
        using var tmk = SecretKey.Generate(KeyAlgorithm.Aes128);
        var kekPath = KekFiles.Write(_dir, "fresh", _kek);
        var marks = PostgresKeyVault.HighWaterMarkPathFor(kekPath, null);
        Assert.Equal(Path.Combine(Path.GetDirectoryName(kekPath)!, "vault-marks"), marks);
        Assert.False(File.Exists(marks));

        using (var vault = PostgresKeyVault.Open(Database(), kekPath))
        {
            Assert.True(File.Exists(marks));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(marks));
            vault.SaveKey("tmk-ATM00001", tmk);
            vault.SaveKey("tmk-ATM00001", tmk, overwrite: true);
            Assert.Equal(2, vault.HighWaterMarkOf("tmk-ATM00001"));
        }

        var text = File.ReadAllText(marks);
        Assert.Contains("mark tmk-ATM00001 2\n", text, StringComparison.Ordinal);
        AssertNoKeyIn(text, tmk, _kek);

        // An explicit Host:Keys:HighWaterMarkPath in a directory that does not exist yet: created 0700, the file 0600.
        var elsewhere = _dir.File("marks-dir/host-a.marks");
        using (var vault = PostgresKeyVault.Open(Database(), kekPath, elsewhere))
        {
            using var loaded = vault.LoadKey("tmk-ATM00001");
            Assert.Equal(2, vault.HighWaterMarkOf("tmk-ATM00001"));
        }

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(elsewhere));
    }

    [StoreFact]
    public void A_mark_file_edited_down_malformed_or_too_open_is_refused_naming_the_setting()
    {
        using var tmk = SecretKey.Generate(KeyAlgorithm.Aes128);
        var kekPath = KekFiles.Write(_dir, "edited", _kek);
        var marks = PostgresKeyVault.HighWaterMarkPathFor(kekPath, null);
        using (var vault = PostgresKeyVault.Open(Database(), kekPath))
        {
            vault.SaveKey("tmk-ATM00001", tmk);
            vault.SaveKey("tmk-ATM00001", tmk, overwrite: true);
        }

        var original = File.ReadAllText(marks);

        // Edited down to let a restored version 1 through: the MAC (under a key derived from the KEK) fails.
        File.WriteAllText(marks, original.Replace("mark tmk-ATM00001 2", "mark tmk-ATM00001 1", StringComparison.Ordinal));
        var edited = Assert.Throws<ConfigurationException>(() => PostgresKeyVault.Open(Database(), kekPath));
        Assert.Equal("Host:Keys:HighWaterMarkPath", edited.Setting);
        Assert.Contains("fails its MAC", edited.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', edited.Message);
        AssertNoKeyIn(edited.Message, tmk, _kek);

        File.WriteAllText(marks, original.Replace("mark tmk-ATM00001 2", "mark tmk-ATM00001", StringComparison.Ordinal));
        var malformed = Assert.Throws<ConfigurationException>(() => PostgresKeyVault.Open(Database(), kekPath));
        Assert.Equal("Host:Keys:HighWaterMarkPath", malformed.Setting);
        Assert.Contains($"{marks}: line 3 is not 'mark <key name> <row version>'", malformed.Message, StringComparison.Ordinal);

        File.WriteAllText(marks, original);
        File.SetUnixFileMode(marks, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var open = Assert.Throws<ConfigurationException>(() => PostgresKeyVault.Open(Database(), kekPath));
        Assert.Equal("Host:Keys:HighWaterMarkPath", open.Setting);
        Assert.Contains($"chmod 600 {marks}", open.Message, StringComparison.Ordinal);

        File.SetUnixFileMode(marks, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        using var restored = PostgresKeyVault.Open(Database(), kekPath);
        Assert.Equal(2, restored.HighWaterMarkOf("tmk-ATM00001"));
    }

    [StoreFact]
    public void Two_hosts_each_with_its_own_mark_file_the_host_that_saw_the_re_key_refuses_the_restored_row_the_other_cannot_tell()
    {
        using var retired = SecretKey.Generate(KeyAlgorithm.Aes128);
        using var current = SecretKey.Generate(KeyAlgorithm.Aes128);
        using var hostA = Open("host-a");
        using var hostB = Open("host-b");
        hostA.SaveKey("tmk-ATM00001", retired);
        using (var seen = hostB.LoadKey("tmk-ATM00001"))
        {
            Assert.Equal(retired, seen);
        }

        PostgresTestServer.Execute(Database(), "CREATE TABLE stolen AS SELECT * FROM vault_keys");
        hostA.SaveKey("tmk-ATM00001", current, overwrite: true); // A re-keys; B does not read the new row
        PostgresTestServer.Execute(Database(), """
            UPDATE vault_keys AS t SET row_version = s.row_version, kcv = s.kcv, nonce = s.nonce, ciphertext = s.ciphertext, tag = s.tag
            FROM stolen AS s WHERE t.name = s.name
            """);

        Assert.Throws<KeyRollbackException>(() => hostA.LoadKey("tmk-ATM00001"));

        // Residual risk (docs/scale-out.md): B's mark is the version 1 it saw, so B cannot tell the restored row from the
        // current one and reads the retired key. Only a host that used the key since its re-key refuses it.
        Assert.Equal(1, hostB.HighWaterMarkOf("tmk-ATM00001"));
        using var accepted = hostB.LoadKey("tmk-ATM00001");
        Assert.Equal(retired, accepted);
    }

    [StoreFact]
    public void A_missing_kek_file_or_no_kek_setting_is_refused_with_the_setting_named()
    {
        var missing = Assert.Throws<ConfigurationException>(() => PostgresKeyVault.Open(Database(), _dir.File("nowhere/kek.key")));
        Assert.Equal("Host:Keys:KekPath", missing.Setting);
        Assert.Contains("does not exist", missing.Message, StringComparison.Ordinal);

        var unset = Assert.Throws<ConfigurationException>(() => HostServerOptionsValidator.ThrowIfInvalid(new HostServerOptions
        {
            Store = new HostStoreOptions { Kind = HostStoreKind.Postgres, ConnectionString = Database() },
        }));
        Assert.Equal("Host:Keys:KekPath", unset.Setting);
    }

    [StoreFact]
    public void A_kek_file_group_or_others_can_read_is_refused_with_the_chmod_fix()
    {
        var path = KekFiles.Write(_dir, "open", _kek);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);

        var error = Assert.Throws<ConfigurationException>(() => PostgresKeyVault.Open(Database(), path));

        Assert.Equal("Host:Keys:KekPath", error.Setting);
        Assert.Contains($"chmod 600 {path}", error.Message, StringComparison.Ordinal);
        AssertNoKeyIn(error.Message, _kek);
    }

    [StoreFact]
    public void A_kek_file_that_is_not_an_aes_256_key_file_is_refused()
    {
        var notAKey = _dir.File("garbage-kek/kek.key");
        FileKeyStore.CreatePrivateDirectory(Path.GetDirectoryName(notAKey)!);
        File.WriteAllText(notAKey, "this is not a key file\n");
        File.SetUnixFileMode(notAKey, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var garbage = Assert.Throws<ConfigurationException>(() => PostgresKeyVault.Open(Database(), notAKey));
        Assert.Equal("Host:Keys:KekPath", garbage.Setting);

        using var shortKey = SecretKey.Generate(KeyAlgorithm.Aes128);
        var aes128 = Assert.Throws<ConfigurationException>(() => PostgresKeyVault.Open(Database(), KekFiles.Write(_dir, "short", shortKey)));
        Assert.Contains("must be AES-256", aes128.Message, StringComparison.Ordinal);
        AssertNoKeyIn(aes128.Message, shortKey);
    }

    [StoreFact]
    public async Task A_postgres_host_starts_on_the_database_vault_and_writes_no_key_file()
    {
        var keys = _dir.File("unused-host-keys");
        var options = new HostServerOptions
        {
            Store = new HostStoreOptions { Kind = HostStoreKind.Postgres, ConnectionString = Database() },
            Keys = new HostKeyOptions { KekPath = KekFiles.Write(_dir, "host", _kek) },
            KeyVaultPath = keys,
        };

        await using var host = await HostServer.OpenAsync(options);

        Assert.IsType<PostgresKeyVault>(host.Vault);
        Assert.True(host.Vault.Contains(HostServer.PinKeyRef));
        Assert.False(Directory.Exists(keys));
    }

    private byte[] Copy(string sql)
    {
        using var connection = new NpgsqlConnection(Database());
        connection.Open();
        using var stream = connection.BeginRawBinaryCopy(sql);
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }

    private string? Scalar(string sql)
    {
        using var connection = new NpgsqlConnection(Database());
        connection.Open();
        using var cmd = new NpgsqlCommand(sql, connection);
        return cmd.ExecuteScalar()?.ToString();
    }

    private string CopyText(string sql)
    {
        using var connection = new NpgsqlConnection(Database());
        connection.Open();
        using var reader = connection.BeginTextExport(sql);
        return reader.ReadToEnd();
    }

    /// <summary>The key's material in hex, read back through the file format (the test has no access to the material otherwise).</summary>
    private string HexOf(SecretKey key)
    {
        var store = new FileKeyStore(_dir.File("hex"));
        var name = "k" + Guid.NewGuid().ToString("N");
        store.SaveKey(name, key);
        var line = File.ReadAllLines(store.PathOf(name)).Single(l => l.StartsWith("key=", StringComparison.Ordinal));
        store.Delete(name);
        return line["key=".Length..];
    }

    private void AssertNoKeyIn(string message, params SecretKey[] keys)
    {
        foreach (var key in keys)
        {
            Assert.DoesNotContain(HexOf(key), message, StringComparison.OrdinalIgnoreCase);
        }
    }
}
