using System.Runtime.InteropServices;

namespace CardlessAtm.Devices.RaspberryPi.Doctor;

/// <summary>
/// What the doctor reads of the machine: files under a root (<c>/</c> on the Pi, a prepared directory in tests),
/// whether this process may read and write a device node, and whether a native library loads.
/// </summary>
/// <param name="root">The file-system root the absolute paths are read under.</param>
/// <param name="canReadWrite">True when this process may open the path for reading and writing (without opening it).</param>
/// <param name="canLoadLibrary">True when the native library of that name loads.</param>
public sealed partial class PiMachine(string root, Func<string, bool> canReadWrite, Func<string, bool> canLoadLibrary)
{
    private const int ReadAndWrite = 4 | 2; // R_OK | W_OK

    /// <summary>This machine: <c>/</c>, <c>access(2)</c>, <see cref="NativeLibrary.TryLoad(string, out IntPtr)"/>.</summary>
    public static PiMachine Current { get; } = new("/", AccessReadWrite, LoadLibrary);

    /// <summary>The root the paths are read under.</summary>
    public string Root { get; } = Path.GetFullPath(root);

    /// <summary>The machine's path of <paramref name="absolute"/> (e.g. <c>/dev/spidev0.0</c>).</summary>
    public string Resolve(string absolute) => Path.Combine(Root, absolute.TrimStart('/'));

    /// <summary>True when the node or file exists.</summary>
    public bool Exists(string absolute) => File.Exists(Resolve(absolute)) || Directory.Exists(Resolve(absolute));

    /// <summary>True when this process may read and write it.</summary>
    public bool CanReadWrite(string absolute) => canReadWrite(Resolve(absolute));

    /// <summary>True when the library loads.</summary>
    public bool CanLoad(string library) => canLoadLibrary(library);

    /// <summary>A text file's content, or null when it is missing or unreadable.</summary>
    public string? ReadText(string absolute)
    {
        try
        {
            return File.ReadAllText(Resolve(absolute));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The names of the entries of a directory matching <paramref name="pattern"/>, as absolute machine paths, sorted.</summary>
    public IReadOnlyList<string> List(string absoluteDirectory, string pattern)
    {
        var directory = Resolve(absoluteDirectory);
        if (!Directory.Exists(directory))
        {
            return [];
        }

        return Directory.EnumerateFileSystemEntries(directory, pattern)
            .Select(p => absoluteDirectory.TrimEnd('/') + "/" + Path.GetFileName(p))
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>The group names this process belongs to (from <c>/proc/self/status</c> and <c>/etc/group</c>); empty when unknown.</summary>
    public IReadOnlySet<string> GroupNames()
    {
        var status = ReadText("/proc/self/status");
        var groups = ReadText("/etc/group");
        if (status is null || groups is null)
        {
            return new HashSet<string>();
        }

        var ids = status.Split('\n')
            .Where(l => l.StartsWith("Groups:", StringComparison.Ordinal))
            .SelectMany(l => l["Groups:".Length..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries))
            .ToHashSet(StringComparer.Ordinal);
        return groups.Split('\n')
            .Select(l => l.Split(':'))
            .Where(f => f.Length >= 3 && ids.Contains(f[2]))
            .Select(f => f[0])
            .ToHashSet(StringComparer.Ordinal);
    }

    private static bool AccessReadWrite(string path) => !OperatingSystem.IsWindows() && Access(path, ReadAndWrite) == 0;

    private static bool LoadLibrary(string name)
    {
        if (!NativeLibrary.TryLoad(name, out var handle))
        {
            return false;
        }

        NativeLibrary.Free(handle);
        return true;
    }

    [LibraryImport("libc", EntryPoint = "access", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Access(string path, int mode);
}
