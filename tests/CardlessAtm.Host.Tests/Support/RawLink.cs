using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using CardlessAtm.Iso8583;
using CardlessAtm.Network;

namespace CardlessAtm.Host.Tests.Support;

/// <summary>
/// A bare socket speaking the host's framing (2-byte big-endian length): sends whatever message a test gives it, reads
/// one answer, never reconnects, never signs on. What an attacker's replay tool is.
/// </summary>
public sealed class RawLink : IAsyncDisposable
{
    private readonly TcpClient _client = new();
    private NetworkStream? _stream;

    public static async Task<RawLink> ConnectAsync(IPEndPoint host)
    {
        var link = new RawLink();
        await link._client.ConnectAsync(host);
        link._stream = link._client.GetStream();
        return link;
    }

    /// <summary>Sends the request and returns the answer, or null when the host closed the connection instead.</summary>
    public async Task<IsoMessage?> SendAsync(IsoMessage request, CancellationToken cancellationToken = default)
    {
        var packed = request.Pack();
        var frame = new byte[packed.Length + 2];
        BinaryPrimitives.WriteUInt16BigEndian(frame, (ushort)packed.Length);
        packed.CopyTo(frame, 2);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30)); // safety net only
        try
        {
            await _stream!.WriteAsync(frame, timeout.Token);
            var header = new byte[2];
            await _stream.ReadExactlyAsync(header, timeout.Token);
            var body = new byte[BinaryPrimitives.ReadUInt16BigEndian(header)];
            await _stream.ReadExactlyAsync(body, timeout.Token);
            return NetworkSpec.Unpack(body);
        }
        catch (Exception ex) when (ex is IOException or EndOfStreamException or SocketException or ObjectDisposedException)
        {
            return null;
        }
    }

    /// <summary>Whether the host has closed this socket (a read returns end of stream or fails), within the safety-net timeout.</summary>
    public async Task<bool> IsClosedByHostAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            var buffer = new byte[256];
            while (true)
            {
                if (await _stream!.ReadAsync(buffer, timeout.Token) == 0)
                {
                    return true;
                }
            }
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
        {
            return true;
        }
    }

    public ValueTask DisposeAsync()
    {
        _client.Dispose();
        return ValueTask.CompletedTask;
    }
}
