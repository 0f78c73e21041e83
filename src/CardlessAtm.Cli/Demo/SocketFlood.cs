using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace CardlessAtm.Lab;

/// <summary>
/// Many TCP sockets held open against one listener, as a connection-starvation attacker holds them: idle, or
/// sending a zero-length keep-alive frame (a 2-byte length of 0) now and then — over TLS when the flood is given
/// client options, so the frames reach a TLS listener's framing. The listener may close any of them; that is what a
/// defence does, and the flood does not reconnect. Used by <c>cardless-atm demo --scenario connection-flood</c> and the
/// host's and proxy's flood tests (one copy, linked into those test projects).
/// </summary>
internal sealed class SocketFlood : IAsyncDisposable
{
    private readonly List<Socket> _sockets;
    private readonly Dictionary<Socket, Stream> _streams;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _keepAlives;

    private SocketFlood(List<Socket> sockets, Dictionary<Socket, Stream> streams, int handshakesFailed, TimeSpan? keepAliveEvery)
    {
        _sockets = sockets;
        _streams = streams;
        HandshakesFailed = handshakesFailed;
        _keepAlives = keepAliveEvery is { } every ? Task.Run(() => SendKeepAlivesAsync(every)) : Task.CompletedTask;
    }

    /// <summary>How many sockets were connected (the listener may have closed some since).</summary>
    public int Count => _sockets.Count;

    /// <summary>TLS floods: sockets whose handshake the listener refused or cut (they are not in <see cref="Count"/>).</summary>
    public int HandshakesFailed { get; }

    /// <summary>Connects <paramref name="count"/> sockets to <paramref name="target"/>, 32 at a time so the listen backlog never overflows.</summary>
    /// <param name="target">The listener.</param>
    /// <param name="count">How many sockets.</param>
    /// <param name="keepAliveEvery">When set, every socket sends a keep-alive frame this often (real time).</param>
    /// <param name="cancellationToken">Bounds the whole flood.</param>
    /// <param name="tls">When set, each socket completes a TLS handshake with these options before it idles or sends keep-alives.</param>
    public static async Task<SocketFlood> StartAsync(IPEndPoint target, int count, TimeSpan? keepAliveEvery, CancellationToken cancellationToken, SslClientAuthenticationOptions? tls = null)
    {
        ArgumentNullException.ThrowIfNull(target);
        FileDescriptors.Require(count);
        var sockets = new List<Socket>(count);
        var streams = new Dictionary<Socket, Stream>();
        var handshakesFailed = 0;
        using var gate = new SemaphoreSlim(32);
        var connects = Enumerable.Range(0, count).Select(async _ =>
        {
            await gate.WaitAsync(cancellationToken);
            try
            {
                var socket = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    await socket.ConnectAsync(target, cancellationToken);
                }
                catch (SocketException)
                {
                    socket.Dispose(); // refused outright by the listener's backlog: counts as a socket the attacker did not get
                    return;
                }

                if (tls is not null)
                {
                    var ssl = new SslStream(new NetworkStream(socket, ownsSocket: true), leaveInnerStreamOpen: false);
                    try
                    {
                        await ssl.AuthenticateAsClientAsync(tls, cancellationToken);
                    }
                    catch (Exception ex) when (ex is IOException or System.Security.Authentication.AuthenticationException or SocketException)
                    {
                        await ssl.DisposeAsync(); // refused in the handshake (no client certificate) or evicted during it
                        Interlocked.Increment(ref handshakesFailed);
                        return;
                    }

                    lock (sockets)
                    {
                        streams[socket] = ssl;
                    }
                }

                lock (sockets)
                {
                    sockets.Add(socket);
                }
            }
            finally
            {
                gate.Release();
            }
        });
        await Task.WhenAll(connects);
        return new SocketFlood(sockets, streams, handshakesFailed, keepAliveEvery);
    }

    /// <summary>Sockets the listener has closed (a read returns end of stream or an error right away).</summary>
    public int CountClosedByListener()
    {
        var closed = 0;
        var probe = new byte[1];
        lock (_sockets)
        {
            foreach (var socket in _sockets)
            {
                try
                {
                    if (socket.Poll(0, SelectMode.SelectRead) && socket.Receive(probe, SocketFlags.Peek) == 0)
                    {
                        closed++;
                    }
                }
                catch (SocketException)
                {
                    closed++;
                }
            }
        }

        return closed;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _keepAlives;
        lock (_sockets)
        {
            foreach (var socket in _sockets)
            {
                if (_streams.TryGetValue(socket, out var stream))
                {
                    stream.Dispose();
                }

                socket.Dispose();
            }
        }

        _stop.Dispose();
    }

    private async Task SendKeepAlivesAsync(TimeSpan every)
    {
        byte[] keepAlive = [0x00, 0x00];
        while (!_stop.IsCancellationRequested)
        {
            Socket[] sockets;
            lock (_sockets)
            {
                sockets = [.. _sockets];
            }

            foreach (var socket in sockets)
            {
                try
                {
                    Stream? stream;
                    lock (_sockets)
                    {
                        _streams.TryGetValue(socket, out stream);
                    }

                    if (stream is null)
                    {
                        socket.Send(keepAlive, SocketFlags.None);
                    }
                    else
                    {
                        await stream.WriteAsync(keepAlive, _stop.Token);
                    }
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException)
                {
                    // Closed by the listener: the attacker does not care.
                }
            }

            try
            {
                await Task.Delay(every, _stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}

/// <summary>
/// The process's open-file limit: a flood of N sockets needs about 2N descriptors in one test process (client and
/// listener side), so the soft limit is raised up to the hard limit when it is lower.
/// </summary>
internal static partial class FileDescriptors
{
    private const int ResourceOpenFiles = 7; // RLIMIT_NOFILE on Linux

    /// <summary>Null when <paramref name="sockets"/> client sockets and their listener side fit; otherwise why not, for a skip message.</summary>
    public static string? WhyNot(int sockets)
    {
        var needed = (ulong)(2 * sockets) + 512; // + the test host's own files, the other tests' sockets
        if (!OperatingSystem.IsLinux())
        {
            return null; // other systems: the test finds out by itself
        }

        if (GetLimit(ResourceOpenFiles, out var limit) != 0)
        {
            return null;
        }

        if (limit.Current >= needed)
        {
            return null;
        }

        if (limit.Maximum < needed)
        {
            return $"needs {needed} open files for {sockets} sockets, but the hard limit (ulimit -Hn) is {limit.Maximum}; raise it to run this test.";
        }

        var raised = limit with { Current = needed };
        return SetLimit(ResourceOpenFiles, in raised) == 0 ? null : $"needs {needed} open files, and raising the soft limit from {limit.Current} failed (errno {Marshal.GetLastPInvokeError()}).";
    }

    /// <summary>Raises the soft limit for <paramref name="sockets"/> sockets, or throws naming what is missing.</summary>
    public static void Require(int sockets)
    {
        if (WhyNot(sockets) is { } reason)
        {
            throw new InvalidOperationException(reason);
        }
    }

    [LibraryImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
    private static partial int GetLimit(int resource, out ResourceLimit limit);

    [LibraryImport("libc", EntryPoint = "setrlimit", SetLastError = true)]
    private static partial int SetLimit(int resource, in ResourceLimit limit);

    [StructLayout(LayoutKind.Sequential)]
    private record struct ResourceLimit(ulong Current, ulong Maximum);
}
