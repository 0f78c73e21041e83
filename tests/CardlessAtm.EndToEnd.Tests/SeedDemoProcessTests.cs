using CardlessAtm.Host.Storage.Sqlite;
using CardlessAtm.Security;

namespace CardlessAtm.EndToEnd.Tests;

/// <summary>
/// issue 13 item 1: <c>host seed-demo</c> after a key ceremony. It must not silently replace the ceremony's
/// <c>tmk-ATM00001</c>, and what it writes must be what the terminal and the phone load.
/// </summary>
[Collection("processes")]
public sealed class SeedDemoProcessTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("cardless-seed-");

    public void Dispose() => _directory.Delete(recursive: true);

    private string HostKeys => Path.Combine(_directory.FullName, "host-keys");

    private string AtmKeys => Path.Combine(_directory.FullName, "atm-keys");

    private string PhoneKeys => Path.Combine(_directory.FullName, "phone-keys");

    private string HostDb => Path.Combine(_directory.FullName, "host.db");

    [Fact]
    public async Task Seeding_over_a_ceremony_key_is_refused_without_force_and_changes_nothing()
    {
        var ceremony = new FileKeyStore(HostKeys);
        using (var key = SecretKey.Generate(KeyAlgorithm.Aes256))
        {
            ceremony.SaveKey("tmk-ATM00001", key, overwrite: false);
        }

        var before = File.ReadAllBytes(ceremony.PathOf("tmk-ATM00001"));

        var (exit, output) = await SeedAsync();

        Assert.True(exit == 1, $"exit {exit}:\n{output}");
        Assert.Contains("tmk-ATM00001", output, StringComparison.Ordinal);
        Assert.Contains("--force", output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllBytes(ceremony.PathOf("tmk-ATM00001")));
        Assert.False(new FileKeyStore(AtmKeys).Contains("tmk"));
        await using var store = SqliteHostStore.Open(HostDb);
        Assert.Null(await store.ReadAsync(r => r.GetAccount("100000000001")));
    }

    [Fact]
    public async Task With_force_the_ATM_key_is_written_under_the_name_the_terminal_loads_and_phones_by_device_id()
    {
        using (var key = SecretKey.Generate(KeyAlgorithm.Aes256))
        {
            new FileKeyStore(HostKeys).SaveKey("tmk-ATM00001", key, overwrite: false);
        }

        var (exit, output) = await SeedAsync("--force");

        Assert.True(exit == 0, $"exit {exit}:\n{output}");
        var host = new FileKeyStore(HostKeys);
        var atm = new FileKeyStore(AtmKeys);
        using var hostCopy = host.LoadKey("tmk-ATM00001");
        using var atmCopy = atm.LoadKey("tmk");
        Assert.Equal(hostCopy.CheckValue, atmCopy.CheckValue);
        var phones = Directory.GetFiles(PhoneKeys, "*.key").Select(Path.GetFileNameWithoutExtension).ToList();
        Assert.Equal(3, phones.Count);
        Assert.All(phones, name => Assert.Matches("^[0-9A-F]{16}$", name!));
        Assert.DoesNotContain("100000000001", output, StringComparison.Ordinal);
        Assert.Contains("********0001", output, StringComparison.Ordinal);
    }

    private Task<(int ExitCode, string Output)> SeedAsync(params string[] extra) =>
        CliRun.RunAsync(_directory.FullName, ["host", "--db", HostDb, "--keys", HostKeys, "seed-demo", "--atm-keys", AtmKeys, "--phone-keys", PhoneKeys, .. extra]);
}
