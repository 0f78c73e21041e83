using System.Runtime.InteropServices;

namespace CardlessAtm;

/// <summary>
/// Replaces a file's content so that a crash or power cut leaves either the old or the new content, and a
/// completed write survives: the bytes go to <c>path.tmp</c> (mode 0600) in the same directory, which is fsynced, renamed
/// over <c>path</c>, and then the directory itself is fsynced so the rename is on disk too.
/// </summary>
/// <remarks>
/// A leftover <c>path.tmp</c> from a crash is ignored by readers of <c>path</c> and overwritten by the next
/// write. Writers of one path must not run concurrently (they share the temporary file name). On Windows the
/// directory step is a no-op: NTFS journals the rename's metadata and a directory cannot be flushed there.
/// </remarks>
public static partial class DurableFile
{
    /// <summary>The temporary file a write of <paramref name="path"/> goes through.</summary>
    /// <param name="path">The target file.</param>
    /// <returns><c>path.tmp</c>.</returns>
    public static string TemporaryPathOf(string path) => Path.GetFullPath(path) + ".tmp";

    /// <summary>Durably replaces <paramref name="path"/> with <paramref name="bytes"/>.</summary>
    /// <param name="path">The file to replace (its directory is created if missing).</param>
    /// <param name="bytes">The whole new content.</param>
    /// <exception cref="IOException">A step failed; <paramref name="path"/> still holds its previous content.</exception>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var (full, temporary, directory) = Prepare(path);
        using (var stream = OpenTemporary(temporary, FileOptions.None))
        {
            RandomAccess.Write(stream.SafeFileHandle, bytes, 0);
            RandomAccess.FlushToDisk(stream.SafeFileHandle);
        }

        File.Move(temporary, full, overwrite: true);
        FlushDirectory(directory);
    }

    /// <summary>Durably replaces <paramref name="path"/> with <paramref name="bytes"/>.</summary>
    /// <param name="path">The file to replace (its directory is created if missing).</param>
    /// <param name="bytes">The whole new content.</param>
    /// <param name="cancellationToken">Cancels before the rename; the old content then stays.</param>
    /// <returns>A task that completes when the new content and the rename are on disk.</returns>
    /// <exception cref="IOException">A step failed; <paramref name="path"/> still holds its previous content.</exception>
    public static async Task WriteAllBytesAsync(string path, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default)
    {
        var (full, temporary, directory) = Prepare(path);
        using (var stream = OpenTemporary(temporary, FileOptions.Asynchronous))
        {
            await RandomAccess.WriteAsync(stream.SafeFileHandle, bytes, 0, cancellationToken).ConfigureAwait(false);
            RandomAccess.FlushToDisk(stream.SafeFileHandle);
        }

        cancellationToken.ThrowIfCancellationRequested();
        File.Move(temporary, full, overwrite: true);
        FlushDirectory(directory);
    }

    /// <summary>
    /// Fsyncs a directory, so that entries created, renamed or removed in it are on disk. .NET cannot open a
    /// directory as a file, so on Unix this calls <c>open(2)</c> read-only and <c>fsync(2)</c>; no-op on Windows.
    /// </summary>
    /// <param name="directory">The directory.</param>
    /// <exception cref="IOException">It cannot be opened or flushed (the message names it and the errno).</exception>
    public static void FlushDirectory(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var fd = Native.Open(directory, OpenReadOnly);
        if (fd < 0)
        {
            throw new IOException($"Cannot open directory {directory} to fsync it: errno {Marshal.GetLastPInvokeError()}.");
        }

        try
        {
            if (Native.Fsync(fd) != 0)
            {
                var errno = Marshal.GetLastPInvokeError();

                // EINVAL: the file system cannot sync a directory (some FUSE and network mounts); nothing more can be done.
                if (errno != Einval)
                {
                    throw new IOException($"Cannot fsync directory {directory}: errno {errno}.");
                }
            }
        }
        finally
        {
            _ = Native.Close(fd);
        }
    }

    private const int OpenReadOnly = 0;
    private const int Einval = 22;

    /// <summary>
    /// The temporary file, created owner-only (0600) on Unix: what goes through here is money and device state
    /// (reversals, cash counts, the STAN), no business of other local users. The rename keeps the mode.
    /// </summary>
    private static FileStream OpenTemporary(string temporary, FileOptions options)
    {
        var open = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.None, Options = options, BufferSize = 0 };
        if (!OperatingSystem.IsWindows())
        {
            open.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        var stream = new FileStream(temporary, open);
        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(stream.SafeFileHandle) & ~(UnixFileMode.UserRead | UnixFileMode.UserWrite)) != 0)
        {
            // A leftover temporary file from an older version keeps its mode through FileMode.Create.
            File.SetUnixFileMode(stream.SafeFileHandle, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        return stream;
    }

    private static (string Full, string Temporary, string Directory) Prepare(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(full) ?? throw new ArgumentException($"{full} has no directory.", nameof(path));
        Directory.CreateDirectory(directory);
        return (full, full + ".tmp", directory);
    }

    private static partial class Native
    {
        [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int Open(string path, int flags);

        [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
        internal static partial int Fsync(int fd);

        [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
        internal static partial int Close(int fd);
    }
}
