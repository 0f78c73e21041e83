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

    // Open finding (adv16): the tag binds name, row version, algorithm and KCV, but nothing outside the row says which
    // version is current, so a table writer who saved a row before a re-key restores it whole and the host uses the
    // retired (perhaps compromised) terminal master key again. Fails today; skipped until the vault detects rollback —
    // the design (a per-host 0600 high-water mark of row versions, tombstones so versions never go down) is in
    // docs/scale-out.md, Keys for a host fleet, "Rollback detection".
    [StoreFact(Skip = "Open finding: a whole vault_keys row restored from before a re-key is accepted (no rollback detection; design in docs/scale-out.md)")]
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

        Assert.ThrowsAny<SecurityException>(() => vault.LoadKey("tmk-ATM00001"));
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
