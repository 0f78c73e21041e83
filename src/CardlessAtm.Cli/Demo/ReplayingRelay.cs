using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using CardlessAtm.Iso8583;
using CardlessAtm.Network;

namespace CardlessAtm.Cli.Demo;

/// <summary>
/// An attacker on the wire between an ATM and its host, for <c>demo --scenario replayed-approval</c>: it relays
/// every frame (2-byte length framing, plain TCP), keeps the first approved 0210 it sees and, once armed,
/// answers the ATM's next 0200 with that old approval instead of the host's real answer. So the old answer is
/// not dropped as unmatched, it rewrites field 11 to the new request's STAN; everything else — amount, time,
/// retrieval reference, auth code and the host's MAC — is the recording's.
/// </summary>
internal sealed class ReplayingRelay : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _host;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _pumps = [];
    private readonly Lock _gate = new();
    private readonly Task _accepting;
    private byte[]? _recordedApproval;
    private bool _armed;

    private ReplayingRelay(IPEndPoint host)
    {
        _host = host;
        _listener.Start();
        _accepting = AcceptAsync(_stop.Token);
    }

    /// <summary>The port the ATM dials instead of the host's.</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>The STAN of the recorded approval; null until one passed.</summary>
    public int? RecordedStan { get; private set; }

    /// <summary>How many old approvals were sent in place of the host's answer.</summary>
    public int Replayed { get; private set; }

    /// <summary>Starts relaying to the host on loopback <paramref name="hostPort"/>.</summary>
    public static ReplayingRelay Start(int hostPort) => new(new IPEndPoint(IPAddress.Loopback, hostPort));

    /// <summary>From now on the next 0210 the host sends is replaced by the recorded approval.</summary>
    /// <exception cref="InvalidOperationException">No approval has passed the relay yet.</exception>
    public void ArmReplay()
    {
        lock (_gate)
        {
            _armed = _recordedApproval is not null
                ? true
                : throw new InvalidOperationException("the relay has no recorded approval to replay yet: run one approved withdrawal through it first.");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await Task.WhenAll([_accepting, .. _pumps]).ContinueWith(_ => { }, TaskScheduler.Default);
        _stop.Dispose();
    }

    private async Task AcceptAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            TcpClient atm;
            try
            {
                atm = await _listener.AcceptTcpClientAsync(cancellationToken);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _pumps.Add(RelayAsync(atm, cancellationToken));
        }
    }

    private async Task RelayAsync(TcpClient atm, CancellationToken cancellationToken)
    {
        using (atm)
        using (var host = new TcpClient())
        {
            try
            {
                await host.ConnectAsync(_host, cancellationToken);
                using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                var upstream = PumpAsync(atm.GetStream(), host.GetStream(), frame => frame, either.Token);
                var downstream = PumpAsync(host.GetStream(), atm.GetStream(), Tamper, either.Token);
                await Task.WhenAny(upstream, downstream);
                await either.CancelAsync(); // one side closed: close the other, as a dropped connection would
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or IOException)
            {
            }
        }
    }

    /// <summary>Copies frames from one side to the other, each through <paramref name="change"/>.</summary>
    private static async Task PumpAsync(NetworkStream from, NetworkStream to, Func<byte[], byte[]> change, CancellationToken cancellationToken)
    {
        var header = new byte[2];
        try
        {
            while (true)
            {
                await from.ReadExactlyAsync(header, cancellationToken);
                var payload = new byte[BinaryPrimitives.ReadUInt16BigEndian(header)];
                await from.ReadExactlyAsync(payload, cancellationToken);
                var sent = change(payload);
                BinaryPrimitives.WriteUInt16BigEndian(header, checked((ushort)sent.Length));
                await to.WriteAsync(header, cancellationToken);
                await to.WriteAsync(sent, cancellationToken);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or EndOfStreamException or IOException or ObjectDisposedException)
        {
        }
    }

    /// <summary>What the attacker does to each frame from the host: record the first approval, replay it once armed.</summary>
    private byte[] Tamper(byte[] payload)
    {
        if (payload.Length == 0 || !IsoMessage.TryUnpack(payload, NetworkSpec.Messages, out var message, out _) || message.Mti != Mti.FinancialResponse)
        {
            return payload;
        }

        lock (_gate)
        {
            if (_recordedApproval is null && message.ResponseCode == ResponseCodes.Approved)
            {
                _recordedApproval = payload;
                RecordedStan = message.Stan;
                return payload;
            }

            if (!_armed)
            {
                return payload;
            }

            _armed = false;
            Replayed++;
            var replay = NetworkSpec.Unpack(_recordedApproval!);
            replay.Stan = message.Stan; // the only change: so the ATM's channel matches it to the waiting request
            return replay.Pack();
        }
    }
}
