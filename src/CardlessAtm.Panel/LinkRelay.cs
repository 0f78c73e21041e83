using System.Net;
using System.Net.Sockets;

namespace CardlessAtm.Panel;

/// <summary>
/// A TCP relay on loopback between the terminal and one of its peers (host or proxy): the wire the panel's "link down"
/// switches cut. Bytes pass through untouched (TLS runs end to end through it); while down, every open connection is
/// closed and new ones are closed as soon as they arrive, as when a cable is pulled.
/// </summary>
public sealed class LinkRelay : IPanelLink, IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private readonly List<(TcpClient In, TcpClient Out)> _pairs = [];
    private readonly Task _accepting;
    private volatile bool _down;

    private LinkRelay(IPEndPoint target)
    {
        _target = target;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _accepting = AcceptAsync();
    }

    /// <summary>The loopback port the terminal dials instead of its peer's.</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <inheritdoc />
    public bool IsDown => _down;

    /// <summary>Starts a relay to <paramref name="target"/>.</summary>
    public static LinkRelay Start(IPEndPoint target) => new(target ?? throw new ArgumentNullException(nameof(target)));

    /// <inheritdoc />
    public void SetDown(bool down)
    {
        _down = down;
        if (down)
        {
            List<(TcpClient In, TcpClient Out)> open;
            lock (_gate)
            {
                open = [.. _pairs];
                _pairs.Clear();
            }

            foreach (var (a, b) in open)
            {
                a.Dispose();
                b.Dispose();
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        SetDown(true);
        try
        {
            await _accepting;
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient incoming;
            try
            {
                incoming = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            if (_down)
            {
                incoming.Dispose();
                continue;
            }

            _ = RelayAsync(incoming);
        }
    }

    private async Task RelayAsync(TcpClient incoming)
    {
        var outgoing = new TcpClient();
        try
        {
            await outgoing.ConnectAsync(_target, _stop.Token);
            lock (_gate)
            {
                _pairs.Add((incoming, outgoing));
            }

            var a = incoming.GetStream();
            var b = outgoing.GetStream();
            await Task.WhenAny(a.CopyToAsync(b, _stop.Token), b.CopyToAsync(a, _stop.Token));
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The peer or the switch closed the wire.
        }
        finally
        {
            lock (_gate)
            {
                _pairs.Remove((incoming, outgoing));
            }

            incoming.Dispose();
            outgoing.Dispose();
        }
    }
}
