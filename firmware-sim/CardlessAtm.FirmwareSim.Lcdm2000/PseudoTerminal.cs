using System.ComponentModel;
using System.Runtime.InteropServices;

namespace CardlessAtm.FirmwareSim.Lcdm2000;

/// <summary>
/// A Linux pseudo-terminal pair made with posix_openpt/grantpt/unlockpt/ptsname_r. The emulator
/// talks on the master; the driver opens <see cref="SlavePath"/> with <c>SerialPort</c> exactly as it
/// opens a real UART. The emulator keeps one slave descriptor open itself, in raw mode, so the line
/// discipline never echoes or edits bytes and the master never sees a hang-up between driver sessions.
/// </summary>
public sealed partial class PseudoTerminal : IDisposable
{
    private const int ORdwr = 0x2;
    private const int ONoctty = 0x100;
    private const int OCloexec = 0x80000;
    private const short PollIn = 0x1;
    private const int Eintr = 4;
    private const int Eagain = 11;
    private const int Eio = 5;

    private int _master;
    private int _slave;
    private string? _link;

    private PseudoTerminal(int master, int slave, string slavePath)
    {
        _master = master;
        _slave = slave;
        SlavePath = slavePath;
    }

    /// <summary>The slave device path, e.g. <c>/dev/pts/4</c>.</summary>
    public string SlavePath { get; }

    /// <summary>
    /// Creates a pair and, when <paramref name="linkPath"/> is given, a symbolic link to the slave there (a stable name such as
    /// <c>/tmp/lcdm2000</c>), replacing only an earlier link and removed again on <see cref="Dispose"/>.
    /// </summary>
    /// <exception cref="IOException"><paramref name="linkPath"/> exists and is not a symbolic link (it is left alone).</exception>
    public static PseudoTerminal Open(string? linkPath)
    {
        var pty = Open();
        if (linkPath is null)
        {
            return pty;
        }

        if (File.Exists(linkPath) || Directory.Exists(linkPath))
        {
            if (new FileInfo(linkPath).LinkTarget is null)
            {
                pty.Dispose();
                throw new IOException($"{linkPath} exists and is not a symbolic link; the emulator will not replace it.");
            }

            File.Delete(linkPath);
        }

        File.CreateSymbolicLink(linkPath, pty.SlavePath);
        pty._link = linkPath;
        return pty;
    }

    /// <summary>Creates a pair. Linux only.</summary>
    /// <exception cref="PlatformNotSupportedException">Not on Linux.</exception>
    /// <exception cref="Win32Exception">A libc call failed (errno in the message).</exception>
    public static unsafe PseudoTerminal Open()
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("The LCDM-2000 emulator needs Linux pseudo-terminals (posix_openpt).");
        }

        var master = Check(PosixOpenpt(ORdwr | ONoctty), "posix_openpt");
        try
        {
            Check(Grantpt(master), "grantpt");
            Check(Unlockpt(master), "unlockpt");
            var name = stackalloc byte[256];
            var rc = PtsnameR(master, name, 256);
            if (rc != 0)
            {
                throw new Win32Exception(rc, "ptsname_r failed");
            }

            var path = Marshal.PtrToStringUTF8((nint)name) ?? throw new Win32Exception("ptsname_r returned no name");
            var slave = Check(OpenFile(path, ORdwr | ONoctty | OCloexec), $"open {path}");
            var termios = stackalloc byte[256];
            if (Tcgetattr(slave, termios) == 0)
            {
                Cfmakeraw(termios);
                Tcsetattr(slave, 0, termios);
            }

            return new PseudoTerminal(master, slave, path);
        }
        catch
        {
            _ = CloseFd(master);
            throw;
        }
    }

    /// <summary>Waits up to <paramref name="timeoutMs"/> for bytes and reads what is there; 0 when none came.</summary>
    public unsafe int Read(Span<byte> buffer, int timeoutMs)
    {
        var fds = stackalloc PollFd[1];
        fds[0] = new PollFd { Fd = _master, Events = PollIn };
        var ready = Poll(fds, 1, timeoutMs);
        if (ready <= 0)
        {
            if (ready < 0 && Marshal.GetLastPInvokeError() is not Eintr)
            {
                throw new Win32Exception(Marshal.GetLastPInvokeError(), "poll on the pty master failed");
            }

            return 0;
        }

        fixed (byte* p = buffer)
        {
            var n = ReadFd(_master, p, buffer.Length);
            if (n < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                return errno is Eintr or Eagain or Eio ? 0 : throw new Win32Exception(errno, "read from the pty master failed");
            }

            return (int)n;
        }
    }

    /// <summary>Writes all bytes to the master (the driver reads them from the slave).</summary>
    public unsafe void Write(ReadOnlySpan<byte> bytes)
    {
        fixed (byte* p = bytes)
        {
            var done = 0;
            while (done < bytes.Length)
            {
                var n = WriteFd(_master, p + done, bytes.Length - done);
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno is Eintr or Eagain)
                    {
                        Thread.Sleep(1);
                        continue;
                    }

                    throw new Win32Exception(errno, "write to the pty master failed");
                }

                done += (int)n;
            }
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_slave >= 0)
        {
            _ = CloseFd(_slave);
            _slave = -1;
        }

        if (_master >= 0)
        {
            _ = CloseFd(_master);
            _master = -1;
        }

        if (_link is { } link && new FileInfo(link).LinkTarget is not null)
        {
            File.Delete(link);
        }

        _link = null;
    }

    private static int Check(int rc, string what) =>
        rc >= 0 ? rc : throw new Win32Exception(Marshal.GetLastPInvokeError(), $"{what} failed");

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", EntryPoint = "posix_openpt", SetLastError = true)]
    private static partial int PosixOpenpt(int flags);

    [LibraryImport("libc", EntryPoint = "grantpt", SetLastError = true)]
    private static partial int Grantpt(int fd);

    [LibraryImport("libc", EntryPoint = "unlockpt", SetLastError = true)]
    private static partial int Unlockpt(int fd);

    [LibraryImport("libc", EntryPoint = "ptsname_r")]
    private static unsafe partial int PtsnameR(int fd, byte* buffer, nint length);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenFile(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int CloseFd(int fd);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static unsafe partial nint ReadFd(int fd, byte* buffer, nint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static unsafe partial nint WriteFd(int fd, byte* buffer, nint count);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static unsafe partial int Poll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport("libc", EntryPoint = "tcgetattr", SetLastError = true)]
    private static unsafe partial int Tcgetattr(int fd, byte* termios);

    [LibraryImport("libc", EntryPoint = "tcsetattr", SetLastError = true)]
    private static unsafe partial int Tcsetattr(int fd, int action, byte* termios);

    [LibraryImport("libc", EntryPoint = "cfmakeraw")]
    private static unsafe partial void Cfmakeraw(byte* termios);
}
