using BenchmarkDotNet.Attributes;
using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Channels;
using CardlessAtm.Network;

namespace CardlessAtm.Benchmarks.Iso8583;

/// <summary>
/// Matched 0200/0210 round trips over loopback on ONE connection, pipelined (up to 256 in flight, the default
/// unanswered-request limit). Each invocation sends 2,000 requests; the result is per request. Target ≥ 30,000/s.
/// Run: dotnet run -c Release --project benchmarks/CardlessAtm.Benchmarks -- --filter '*Iso8583Channel*' --job short
/// </summary>
[MemoryDiagnoser]
public class Iso8583ChannelBenchmarks
{
    private const int Batch = 2000;
    private Iso8583Server _server = null!;
    private Iso8583Client _client = null!;
    private IsoMessage[] _requests = null!;

    [GlobalSetup]
    public async Task Setup()
    {
        _server = new Iso8583Server(new Iso8583ServerOptions
        {
            Spec = NetworkSpec.Messages,
            RequestHandler = static (request, _, _) => ValueTask.FromResult<IsoMessage?>(request.CreateResponse(ResponseCodes.Approved)),
        });
        await _server.StartAsync();
        _client = new Iso8583Client(new Iso8583ClientOptions { Spec = NetworkSpec.Messages, Host = "127.0.0.1", Port = _server.LocalEndPoint.Port });
        await _client.StartAsync();
        await _client.WaitUntilConnectedAsync();
        // Every invocation waits for all its responses, so the same STANs can be reused by the next one.
        _requests = new IsoMessage[Batch];
        for (var i = 0; i < Batch; i++)
        {
            _requests[i] = Iso8583CodecBenchmarks.TypicalWithdrawal(stan: i + 1);
        }
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        await _client.DisposeAsync();
        await _server.DisposeAsync();
    }

    [Benchmark(OperationsPerInvoke = Batch, Description = "Round trip 0200/0210, pipelined, one connection")]
    public async Task PipelinedRoundTrips()
    {
        var pending = new Task<IsoMessage>[Batch];
        for (var i = 0; i < Batch; i++)
        {
            pending[i] = _client.SendRequestAsync(_requests[i]);
        }

        await Task.WhenAll(pending);
    }

    [Benchmark(OperationsPerInvoke = 200, Description = "Round trip 0200/0210, one at a time")]
    public async Task SequentialRoundTrips()
    {
        for (var i = 0; i < 200; i++)
        {
            await _client.SendRequestAsync(_requests[i]);
        }
    }
}
