using System.Runtime.InteropServices;

namespace CardlessAtm.Devices;

/// <summary>
/// Writes that survive a power cut: a file is replaced atomically (temporary file in the same directory,
/// fsync, rename) and the directory is fsynced afterwards, so the rename itself is on the disk too.
/// </summary>
public static partial class DurableFile
{
    /// <summary>Replaces <paramref name="path"/> with <paramref name="content"/>; on return both the data and the name are on disk.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> content)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var full = Path.GetFullPath(path);
        var temporary = full + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            stream.Write(content);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, full, overwrite: true);
        FlushDirectory(Path.GetDirectoryName(full)!);
    }

    /// <summary>Forces a directory's entries (created, renamed, deleted files) to the disk. A no-op where the OS has no such call.</summary>
    /// <exception cref="IOException">The directory could not be opened or flushed.</exception>
    public static void FlushDirectory(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        if (OperatingSystem.IsWindows())
        {
            return; // NTFS journals renames; a directory cannot be opened for flushing without backup semantics.
        }

        var fd = Open(directory, 0 /* O_RDONLY: a directory opens read-only on Linux and macOS alike */);
        if (fd < 0)
        {
            throw new IOException($"Cannot open directory {directory} to flush it (errno {Marshal.GetLastPInvokeError()}).");
        }

        try
        {
            if (Fsync(fd) != 0)
            {
                throw new IOException($"Cannot flush directory {directory} to disk (errno {Marshal.GetLastPInvokeError()}).");
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
