using System.Text;
using CardlessAtm.Devices.Dispenser;

namespace CardlessAtm.Devices.Tests;

public sealed class DurableFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cardless-durable-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_write_replaces_the_whole_content_and_leaves_no_temporary_file()
    {
        var path = Path.Combine(_dir, "counters.json");
        DurableFile.WriteAllBytes(path, Encoding.UTF8.GetBytes("first content, the longer of the two"));
        DurableFile.WriteAllBytes(path, Encoding.UTF8.GetBytes("second"));

        Assert.Equal("second", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFiles(_dir));
    }

    [Fact]
    public async Task Written_files_are_owner_only_even_over_a_leftover_temporary_file_others_could_read()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var path = Path.Combine(_dir, "reversal.json");
        DurableFile.WriteAllBytes(path, Encoding.UTF8.GetBytes("{}"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));

        var temporary = DurableFile.TemporaryPathOf(path);
        File.WriteAllText(temporary, "left by an older version");
        File.SetUnixFileMode(temporary, (UnixFileMode)Convert.ToInt32("644", 8));
        await DurableFile.WriteAllBytesAsync(path, Encoding.UTF8.GetBytes("{\"next\":1}"));

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal("{\"next\":1}", File.ReadAllText(path));
    }

    [Fact]
    public async Task A_leftover_temporary_file_from_a_crash_breaks_neither_the_read_nor_the_next_write()
    {
        var path = Path.Combine(_dir, "state.json");
        await DurableFile.WriteAllBytesAsync(path, Encoding.UTF8.GetBytes("committed"));

        // A crash after writing half of the next temporary file, before the rename.
        File.WriteAllText(DurableFile.TemporaryPathOf(path), "{ half writ");
        Assert.Equal("committed", File.ReadAllText(path));

        await DurableFile.WriteAllBytesAsync(path, Encoding.UTF8.GetBytes("next"));
        Assert.Equal("next", File.ReadAllText(path));
        Assert.False(File.Exists(DurableFile.TemporaryPathOf(path)));
    }

    [Fact]
    public void The_directory_is_created_when_missing()
    {
        var path = Path.Combine(_dir, "a", "b", "file.bin");
        DurableFile.WriteAllBytes(path, new byte[] { 1, 2, 3 });
        Assert.Equal(new byte[] { 1, 2, 3 }, File.ReadAllBytes(path));
    }

    [Fact]
    public void Flushing_a_directory_really_opens_it_and_a_missing_one_is_an_error_naming_it()
    {
        DurableFile.FlushDirectory(_dir);
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var missing = Path.Combine(_dir, "no-such-directory");
        var error = Assert.Throws<IOException>(() => DurableFile.FlushDirectory(missing));
        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
        Assert.Contains("errno 2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_cash_unit_store_saves_through_it_and_a_corrupt_file_names_its_path_and_line()
    {
        var path = Path.Combine(_dir, "cash-units.json");
        var store = new JsonFileCashUnitStore(path);
        await store.SaveAsync(TestUnits.Standard(), CancellationToken.None);
        Assert.Equal(TestUnits.Standard().Count, (await store.LoadAsync(CancellationToken.None))!.Count);
        Assert.False(File.Exists(DurableFile.TemporaryPathOf(path)));

        await File.WriteAllTextAsync(path, "[\n  { \"Id\": \"CASS1\",\n    oops }\n]");
        var error = await Assert.ThrowsAsync<CashUnitStoreException>(() => store.LoadAsync(CancellationToken.None));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("line 3", error.Message, StringComparison.Ordinal);
    }
}
