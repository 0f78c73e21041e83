using System.Net;
using System.Net.Sockets;
using CardlessAtm.Iso8583.Channels;

namespace CardlessAtm.Iso8583.Tests;

/// <summary>A raw TCP peer that speaks bytes, to send what a real client never would.</summary>
internal sealed class RawPeer : IAsyncDisposable
{
    private readonly TcpClient _tcp = new() { NoDelay = true };
    private NetworkStream? _stream;

    public static async Task<RawPeer> ConnectAsync(IPEndPoint endPoint)
    {
        var peer = new RawPeer();
        await peer._tcp.ConnectAsync(endPoint, Timeouts.Token());
        peer._stream = peer._tcp.GetStream();
        return peer;
    }

    public Task SendAsync(byte[] bytes) => _stream!.WriteAsync(bytes, Timeouts.Token()).AsTask();

    public Task SendFrameAsync(byte[] packed) => SendAsync(FrameFormat.Default.Frame(packed));

    /// <summary>Reads one 2-byte-length frame; null if the server closed the connection.</summary>
    public async Task<byte[]?> ReadFrameAsync()
    {
        var header = new byte[2];
        if (!await ReadExactlyOrEofAsync(header))
        {
            return null;
        }

        var body = new byte[(header[0] << 8) | header[1]];
        return await ReadExactlyOrEofAsync(body) ? body : null;
    }

    /// <summary>True when the server closed the connection (reads end), false if it sent something.</summary>
    public async Task<bool> ServerClosedAsync()
    {
        var one = new byte[1];
        try
        {
            return await _stream!.ReadAsync(one, Timeouts.Token()) == 0;
        }
        catch (IOException)
        {
            return true;
        }
    }

    public void Close() => _tcp.Close();

    public ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        return ValueTask.CompletedTask;
    }

    private async Task<bool> ReadExactlyOrEofAsync(byte[] buffer)
    {
        try
        {
            await _stream!.ReadExactlyAsync(buffer, Timeouts.Token());
            return true;
        }
        catch (EndOfStreamException)
        {
            return false;
        }
        catch (IOException)
        {
            return false;
        }
    }
}

/// <summary>Generous limits so a broken test fails instead of hanging; never used to measure speed.</summary>
internal static class Timeouts
{
    public static readonly TimeSpan Generous = TimeSpan.FromSeconds(30);

    public static CancellationToken Token() => new CancellationTokenSource(Generous).Token;

    /// <summary>Waits until the condition holds (polling), failing after the generous limit.</summary>
    public static async Task UntilAsync(Func<bool> condition, string what)
    {
        var token = Token();
        while (!condition())
        {
            if (token.IsCancellationRequested)
            {
                Assert.Fail($"gave up waiting: {what}");
            }

            await Task.Delay(5, CancellationToken.None);
        }
    }
}
