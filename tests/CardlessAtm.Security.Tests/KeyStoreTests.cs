namespace CardlessAtm.Security.Tests;

public sealed class KeyStoreTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "cardless-keystore-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    [Fact]
    public void Saved_keys_are_owner_only_and_load_back()
    {
        var store = new FileKeyStore(_directory);
        using var key = SecretKey.Generate(KeyAlgorithm.Aes256);
        store.SaveKey("tmk-ATM00001", key);
        var path = store.PathOf("tmk-ATM00001");
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        }

        using var loaded = store.LoadKey("tmk-ATM00001");
        Assert.Equal(key, loaded);
        Assert.Equal(["tmk-ATM00001"], store.List());
        Assert.Equal("key", store.TypeOf("tmk-ATM00001"));
        Assert.Contains($"kcv={key.CheckValue}", File.ReadAllText(path), StringComparison.Ordinal);
    }

    [Fact]
    public void A_group_or_world_readable_key_file_is_refused_with_the_file_name_and_the_fix()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var store = new FileKeyStore(_directory);
        using var key = SecretKey.Generate(KeyAlgorithm.Tdes2Key);
        store.SaveKey("bdk-FFFF987654", key);
        var path = store.PathOf("bdk-FFFF987654");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var error = Assert.Throws<KeyFileRejectedException>(() => store.LoadKey("bdk-FFFF987654"));
        Assert.Equal(SecurityFailure.KeyFileRejected, error.Failure);
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains($"chmod 600 {path}", error.Message, StringComparison.Ordinal);
        Assert.Contains("0644", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToHexString(key.ExportBytes()), error.Message, StringComparison.Ordinal);

        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupWrite);
        Assert.Throws<KeyFileRejectedException>(() => store.LoadKey("bdk-FFFF987654"));
    }

    [Fact]
    public void A_key_that_does_not_match_its_recorded_KCV_is_refused()
    {
        var store = new FileKeyStore(_directory);
        using var key = SecretKey.Generate(KeyAlgorithm.Aes128);
        store.SaveKey("pvk", key);
        var path = store.PathOf("pvk");
        var lines = File.ReadAllLines(path);
        var keyLine = Array.FindIndex(lines, l => l.StartsWith("key=", StringComparison.Ordinal));
        var chars = lines[keyLine].ToCharArray();
        chars[4] = chars[4] == 'A' ? 'B' : 'A';
        lines[keyLine] = new string(chars);
        File.WriteAllLines(path, lines);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        var error = Assert.Throws<KeyCheckValueMismatchException>(() => store.LoadKey("pvk"));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Existing_keys_are_not_replaced_by_accident_and_names_cannot_escape_the_store()
    {
        var store = new FileKeyStore(_directory);
        using var key = SecretKey.Generate(KeyAlgorithm.Aes128);
        store.SaveKey("pvk", key);
        Assert.Throws<KeyFileRejectedException>(() => store.SaveKey("pvk", key));
        store.SaveKey("pvk", key, overwrite: true);
        Assert.Throws<ArgumentException>(() => store.SaveKey("../evil", key));
        Assert.Throws<ArgumentException>(() => store.SaveKey(".hidden", key));
        Assert.Throws<KeyFileRejectedException>(() => store.LoadKey("missing"));
    }

    [Fact]
    public void Dukpt_device_state_persists_and_continues_where_it_stopped()
    {
        var store = new FileKeyStore(_directory);
        var ksn = KeySerialNumber.AesInitial("1234567890123456");
        using var ik = SecretKey.FromHex(KeyAlgorithm.Aes128, Vectors.PublishedVectors.AesInitialKey128);
        using (var device = DukptDevice.LoadInitialKey(ik, ksn))
        {
            device.NextTransaction().Dispose();
            store.SaveDukptDevice("phone-dukpt", device);
        }

        using var loaded = store.LoadDukptDevice("phone-dukpt");
        using var second = loaded.NextTransaction();
        Assert.Equal(Vectors.PublishedVectors.Aes128TxnKeyVerify[1], Convert.ToHexString(second.TransactionKey.ExportBytes()));
        Assert.Throws<KeyFileRejectedException>(() => store.LoadKey("phone-dukpt"));
    }

    [Fact]
    public void A_captured_device_state_holds_neither_the_initial_key_nor_any_used_transaction_key()
    {
        // docs/security.md, "Captured phone": what a thief reads from the phone's key file cannot decrypt
        // or forge the requests it already sent.
        var store = new FileKeyStore(_directory);
        var ksn = KeySerialNumber.AesInitial("1234567890123456");
        using var ik = SecretKey.FromHex(KeyAlgorithm.Aes128, Vectors.PublishedVectors.AesInitialKey128);
        var used = new List<byte[]>();
        using (var device = DukptDevice.LoadInitialKey(ik, ksn))
        {
            for (var i = 0; i < 3; i++)
            {
                using var transaction = device.NextTransaction();
                used.Add(transaction.TransactionKey.ExportBytes());
            }

            store.SaveDukptDevice("phone-dukpt", device);
        }

        var file = File.ReadAllBytes(Directory.GetFiles(_directory, "phone-dukpt*").Single());
        var text = System.Text.Encoding.ASCII.GetString(file);
        foreach (var secret in used.Prepend(ik.ExportBytes()))
        {
            Assert.DoesNotContain(Convert.ToHexString(secret), text, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(Convert.ToBase64String(secret), text, StringComparison.Ordinal);
            Assert.Equal(-1, file.AsSpan().IndexOf(secret));
        }

        using var loaded = store.LoadDukptDevice("phone-dukpt");
        using var next = loaded.NextTransaction();
        Assert.Equal(Vectors.PublishedVectors.Aes128TxnKeyVerify[3], Convert.ToHexString(next.TransactionKey.ExportBytes()));
    }

    [Fact]
    public void Bdk_provider_finds_keys_by_the_id_in_the_ksn()
    {
        var store = new FileKeyStore(_directory);
        using var bdk = SecretKey.Generate(KeyAlgorithm.Aes128);
        var ksn = KeySerialNumber.Parse("A1B2C3D4000000420000002A");
        store.SaveKey(KeyStoreBaseDerivationKeyProvider.KeyNameFor(ksn), bdk);
        Assert.Equal("bdk-A1B2C3D4", KeyStoreBaseDerivationKeyProvider.KeyNameFor(ksn));
        Assert.Equal("bdk-FFFF987654", KeyStoreBaseDerivationKeyProvider.KeyNameFor(KeySerialNumber.Parse("FFFF9876543210E00001")));
        using var provider = new KeyStoreBaseDerivationKeyProvider(store);
        Assert.Equal(bdk, provider.FindBaseDerivationKey(ksn));
        Assert.Null(provider.FindBaseDerivationKey(KeySerialNumber.Parse("0000000100000042000000A1")));
    }

    [Theory]
    [InlineData("key=ZZ", "not a hex digit")]
    [InlineData("key=ABC", "odd number")]
    [InlineData("", "'key=' line is missing")]
    [InlineData("garbage", "is not 'name=value'")]
    public void Corrupt_key_files_are_refused_with_the_reason_and_no_secret(string keyLine, string expected)
    {
        var store = new FileKeyStore(_directory);
        var path = store.PathOf("broken");
        File.WriteAllText(path, $"# cardless-atm key file v1\ntype=key\nalgorithm=AES-128\nkcv=0000000000\n{keyLine}\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        var error = Assert.Throws<KeyFileRejectedException>(() => store.LoadKey("broken"));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }
}
