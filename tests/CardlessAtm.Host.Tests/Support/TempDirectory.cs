namespace CardlessAtm.Host.Tests.Support;

/// <summary>A fresh directory under the system temp folder, deleted on dispose.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        // Owner-only (0700), as the key files and TLS keys the tests write into it require.
        Path = Directory.CreateTempSubdirectory("cardless-host-tests-").FullName;
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A file still open on a slow runner: leave it to the OS temp cleaner.
        }
    }
}
