using CardlessAtm.Host.Storage.Postgres;
using CardlessAtm.Host.Tests.Support;
using CardlessAtm.Security;

namespace CardlessAtm.Host.Tests.Keys;

/// <summary>
/// What the host asks of a key vault (<see cref="IKeyVault"/>), written once and run on the file store (the SQLite
/// host's) and on the database vault (the PostgreSQL host fleet's).
/// </summary>
public abstract class KeyVaultContractTests : IDisposable
{
    protected TempDirectory Dir { get; } = new();

    /// <summary>A vault; each call on one test gives another view of the same keys (another host, for the database).</summary>
    protected abstract IKeyVault OpenVault();

    public virtual void Dispose()
    {
        Dir.Dispose();
        GC.SuppressFinalize(this);
    }

    [StoreFact]
    public void A_saved_key_loads_back_equal_and_is_listed_and_contained()
    {
        var vault = OpenVault();
        using var key = SecretKey.Generate(KeyAlgorithm.Aes128);
        using var tdes = SecretKey.Generate(KeyAlgorithm.Tdes2Key);
        vault.SaveKey("tmk-ATM00001", key);
        vault.SaveKey("bdk-0000B001", tdes);

        using var loaded = OpenVault().LoadKey("tmk-ATM00001");
        using var loadedTdes = vault.LoadKey("bdk-0000B001");
        Assert.Equal(key, loaded);
        Assert.Equal(tdes, loadedTdes);
        Assert.Equal(["bdk-0000B001", "tmk-ATM00001"], vault.List());
        Assert.True(vault.Contains("tmk-ATM00001"));
        Assert.False(vault.Contains("tmk-ATM00002"));
    }

    [StoreFact]
    public void Saving_over_an_existing_key_is_refused_unless_overwrite_and_leaves_the_old_key()
    {
        var vault = OpenVault();
        using var first = SecretKey.Generate(KeyAlgorithm.Aes256);
        using var second = SecretKey.Generate(KeyAlgorithm.Aes256);
        vault.SaveKey("pvk", first);

        var error = Assert.Throws<KeyFileRejectedException>(() => vault.SaveKey("pvk", second));
        Assert.Contains("already exists", error.Message, StringComparison.Ordinal);
        using (var kept = vault.LoadKey("pvk"))
        {
            Assert.Equal(first, kept);
        }

        vault.SaveKey("pvk", second, overwrite: true);
        using var replaced = OpenVault().LoadKey("pvk");
        Assert.Equal(second, replaced);
    }

    [StoreFact]
    public void A_deleted_key_is_gone_for_every_reader_and_a_second_delete_says_so()
    {
        var vault = OpenVault();
        using var key = SecretKey.Generate(KeyAlgorithm.Aes128);
        vault.SaveKey("mac-ATM00001-v1", key);
        var other = OpenVault();
        Assert.True(other.Contains("mac-ATM00001-v1"));

        Assert.True(vault.Delete("mac-ATM00001-v1"));

        Assert.False(other.Contains("mac-ATM00001-v1"));
        Assert.Throws<KeyFileRejectedException>(() => other.LoadKey("mac-ATM00001-v1"));
        Assert.False(vault.Delete("mac-ATM00001-v1"));
    }

    [StoreFact]
    public void A_missing_key_is_refused_naming_it()
    {
        var error = Assert.Throws<KeyFileRejectedException>(() => OpenVault().LoadKey("tmk-ATM00009"));
        Assert.Contains("tmk-ATM00009", error.Message, StringComparison.Ordinal);
    }

    [StoreFact]
    public void A_name_outside_the_key_name_alphabet_is_refused()
    {
        var vault = OpenVault();
        using var key = SecretKey.Generate(KeyAlgorithm.Aes128);
        Assert.Throws<ArgumentException>(() => vault.SaveKey("../tmk", key));
        Assert.Throws<ArgumentException>(() => vault.Contains("a b"));
    }
}

/// <summary>The contract on the file store (the SQLite host's vault).</summary>
public sealed class FileKeyVaultContractTests : KeyVaultContractTests
{
    protected override IKeyVault OpenVault() => new FileKeyStore(Dir.File("keys"));
}

/// <summary>The contract on the database vault, each <see cref="OpenVault"/> another host with its own copy of the KEK file.</summary>
public sealed class PostgresKeyVaultContractTests : KeyVaultContractTests, IRequiresPostgres
{
    private readonly PostgresTestServer _server = new();
    private readonly List<PostgresKeyVault> _vaults = [];
    private readonly SecretKey _kek = SecretKey.Generate(KeyAlgorithm.Aes256);
    private string? _database;

    protected override IKeyVault OpenVault()
    {
        if (_database is null)
        {
            _database = _server.CreateDatabase();
            PostgresHostStore.Open(_database).DisposeAsync().AsTask().GetAwaiter().GetResult(); // the migrations
        }

        var kekPath = KekFiles.Write(Dir, $"host{_vaults.Count}", _kek);
        var vault = PostgresKeyVault.Open(_database, kekPath);
        _vaults.Add(vault);
        return vault;
    }

    public override void Dispose()
    {
        foreach (var vault in _vaults)
        {
            vault.Dispose();
        }

        _kek.Dispose();
        _server.Dispose();
        base.Dispose();
    }
}

/// <summary>KEK files as an operator makes them: one 0600 copy per host, in a 0700 directory of its own.</summary>
internal static class KekFiles
{
    public static string Write(TempDirectory dir, string host, SecretKey kek)
    {
        var store = new FileKeyStore(dir.File($"{host}-kek"));
        store.SaveKey("kek", kek, overwrite: true);
        return store.PathOf("kek");
    }
}
