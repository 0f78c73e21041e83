using CardlessAtm.Security;

namespace CardlessAtm.EndToEnd.Tests;

/// <summary>
/// The database key vault through the real <c>cardless-atm host</c> process on the real PostgreSQL server: a KEK file
/// made by <c>host keys kek</c>, a SQLite host's key directory imported, the demo seeded into the database vault, and
/// every bad KEK stopping <c>host run</c> with exit code 2 and one line naming <c>Host:Keys:KekPath</c>.
/// </summary>
[Collection("processes")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // file modes are the POSIX ones
public sealed class KeyVaultProcessTests : IDisposable
{
    private readonly Host.Tests.Support.PostgresTestServer _server = new();
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("cardless-atm-kek-");

    public void Dispose()
    {
        _server.Dispose();
        _directory.Delete(recursive: true);
    }

    private string PathOf(string name) => Path.Combine(_directory.FullName, name);

    private Task<(int ExitCode, string Output)> HostAsync(string database, string kekPath, params string[] args) =>
        CliRun.RunAsync(_directory.FullName, [
            "host", .. args,
            "--set", "Host:Store:Kind=Postgres",
            "--set", "Host:Store:ConnectionString=" + database,
            "--set", "Host:Keys:KekPath=" + kekPath,
            "--set", "Host:Insecure=true"]);

    private async Task<string> MakeKekAsync(string name)
    {
        var path = PathOf($"{name}/kek.key");
        var made = await CliRun.RunAsync(_directory.FullName, "host", "keys", "kek", "--out", path);
        Assert.True(made.ExitCode == 0, made.Output);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        return path;
    }

    [PostgresFact]
    public async Task A_sqlite_hosts_keys_import_into_the_database_vault_and_the_demo_seeds_there_without_key_files()
    {
        var database = _server.CreateDatabase();
        var kek = await MakeKekAsync("host-a");
        var fileKeys = PathOf("sqlite-keys");
        var added = await CliRun.RunAsync(_directory.FullName, "host", "atms", "add", "--db", PathOf("old.db"), "--keys", fileKeys, "--atm", "ATM00007", "--export-to", PathOf("atm-keys"));
        Assert.True(added.ExitCode == 0, added.Output);

        var imported = await HostAsync(database, kek, "keys", "import", "--from", fileKeys);
        Assert.True(imported.ExitCode == 0, imported.Output);
        Assert.Contains("tmk-ATM00007  KCV", imported.Output, StringComparison.Ordinal);
        using (var tmk = new FileKeyStore(fileKeys).LoadKey("tmk-ATM00007"))
        {
            Assert.Contains(tmk.CheckValue.ToString(), imported.Output, StringComparison.Ordinal);
        }

        var again = await HostAsync(database, kek, "keys", "import", "--from", fileKeys);
        Assert.NotEqual(0, again.ExitCode); // refused before writing anything
        Assert.Contains("already holds", again.Output, StringComparison.Ordinal);

        var seeded = await HostAsync(database, kek, "seed-demo", "--atm-keys", PathOf("demo-atm-keys"), "--phone-keys", PathOf("demo-phone-keys"));
        Assert.True(seeded.ExitCode == 0, seeded.Output);
        var listed = await HostAsync(database, kek, "keys", "list");
        Assert.True(listed.ExitCode == 0, listed.Output);
        foreach (var name in (string[])["pvk", "tmk-ATM00007", "tmk-ATM00001"])
        {
            Assert.Contains(name, listed.Output.Split('\n', StringSplitOptions.TrimEntries));
        }

        Assert.False(Directory.Exists(PathOf("host-keys"))); // the default Host:KeyVaultPath: unused with Postgres
    }

    [PostgresFact]
    public async Task Host_run_with_a_missing_too_open_non_key_or_foreign_kek_exits_2_with_one_line_naming_host_keys_kek_path()
    {
        var database = _server.CreateDatabase();
        var kek = await MakeKekAsync("fleet");
        var seeded = await HostAsync(database, kek, "atms", "list"); // records the fleet KEK's check value
        Assert.True(seeded.ExitCode == 0, seeded.Output);

        var foreign = await MakeKekAsync("stranger");
        var open = await MakeKekAsync("open");
        File.SetUnixFileMode(open, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var garbage = PathOf("garbage/kek.key");
        Directory.CreateDirectory(Path.GetDirectoryName(garbage)!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        await File.WriteAllTextAsync(garbage, "not a key\n");
        File.SetUnixFileMode(garbage, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        foreach (var (path, says) in (ValueTuple<string, string>[])[
            (PathOf("missing/kek.key"), "does not exist"),
            (open, "chmod 600"),
            (garbage, "kek.key"),
            (foreign, "is not this database's key-encryption key")])
        {
            var (exit, output) = await HostAsync(database, path, "run", "--port", "0");

            Assert.True(exit == 2, $"{path}: exit {exit}, output:\n{output}");
            var line = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            Assert.Contains("Host:Keys:KekPath", line, StringComparison.Ordinal);
            Assert.Contains(says, line, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
            Assert.DoesNotContain("key=", output, StringComparison.Ordinal);
        }
    }
}
