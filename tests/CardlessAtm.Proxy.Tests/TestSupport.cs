using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Security;
using System.Threading.Channels;
using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Channels;
using CardlessAtm.Network;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace CardlessAtm.Proxy.Tests;

/// <summary>Bounds every wait in a test so that a bug fails the test instead of hanging it; never a speed assertion.</summary>
internal static class Deadline
{
    public static CancellationToken Token => new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token;
}

/// <summary>Waits for something that happens just after an event the test can await (e.g. a log line written after a state change).</summary>
internal static class Eventually
{
    public static async Task TrueAsync(Func<bool> condition)
    {
        var deadline = Deadline.Token;
        while (!condition())
        {
            await Task.Delay(10, deadline);
        }
    }
}

/// <summary>A proxy on free loopback ports with a fake clock, a log recorder and a metrics recorder.</summary>
internal sealed class ProxyFixture : IAsyncDisposable
{
    private ProxyFixture(ProxyServer proxy, FakeTimeProvider time, LogRecorder logs, MetricsRecorder metrics)
    {
        Proxy = proxy;
        Time = time;
        Logs = logs;
        Metrics = metrics;
    }

    public ProxyServer Proxy { get; }

    public FakeTimeProvider Time { get; }

    public LogRecorder Logs { get; }

    public MetricsRecorder Metrics { get; }

    public static ProxyOptions LoopbackOptions(Action<ProxyOptions>? configure = null)
    {
        var options = new ProxyOptions
        {
            Atm = new ProxyListenerOptions { Port = 0, Insecure = true }, // plain TCP unless a test sets up the ATM PKI (AtmPki)
            Phone = new ProxyListenerOptions { Port = 0, Insecure = true }, // plain TCP unless a test configures Phone.Tls
        };
        configure?.Invoke(options);
        return options;
    }

    public static async Task<ProxyFixture> StartAsync(Action<ProxyOptions>? configure = null, FakeTimeProvider? time = null)
    {
        time ??= new FakeTimeProvider(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));
        var logs = new LogRecorder();
        var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Trace));
        var proxy = await ProxyServer.StartAsync(LoopbackOptions(configure), loggerFactory, time);
        return new ProxyFixture(proxy, time, logs, new MetricsRecorder(proxy.Metrics.Meter));
    }

    public async ValueTask DisposeAsync()
    {
        await Proxy.DisposeAsync();
        Metrics.Dispose();
    }
}

/// <summary>An ATM that dials the proxy, signs on with its id and answers forwarded 0200s.</summary>
internal sealed class FakeAtm : IAsyncDisposable
{
    private readonly ConcurrentQueue<IsoMessage> _received = new();
    private readonly Channel<IsoMessage> _arrivals = Channel.CreateUnbounded<IsoMessage>();

    private FakeAtm(string atmId, IPEndPoint proxy, SslClientAuthenticationOptions? tls)
    {
        AtmId = atmId;
        Client = new Iso8583Client(new Iso8583ClientOptions
        {
            Spec = NetworkSpec.Messages,
            Host = proxy.Address.ToString(),
            Port = proxy.Port,
            Tls = tls,
            TerminalId = atmId,
            ReconnectInitialDelay = TimeSpan.FromMilliseconds(20),
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(200),
            SignOn = SignOnAsync,
            RequestHandler = HandleAsync,
        });
    }

    public string AtmId { get; }

    public Iso8583Client Client { get; }

    /// <summary>How the ATM answers a forwarded request; default: approved with auth code <c>AUTH01</c>.</summary>
    public Func<IsoMessage, CancellationToken, Task<IsoMessage?>> Answer { get; set; } = (request, _) =>
    {
        var response = request.CreateResponse(ResponseCodes.Approved);
        response.AuthorizationCode = "AUTH01";
        return Task.FromResult<IsoMessage?>(response);
    };

    public IReadOnlyCollection<IsoMessage> Received => _received.ToArray();

    public static async Task<FakeAtm> StartAsync(string atmId, IPEndPoint proxy, SslClientAuthenticationOptions? tls = null)
    {
        var atm = new FakeAtm(atmId, proxy, tls);
        await atm.Client.StartAsync();
        await atm.Client.WaitUntilConnectedAsync(Deadline.Token);
        return atm;
    }

    public static IsoMessage SignOnRequest(string atmId, int stan, string code = NetworkManagementCodes.SignOn)
    {
        var request = new IsoMessage(NetworkSpec.Messages, Mti.NetworkManagementRequest) { Stan = stan, TerminalId = atmId, NetworkManagementCode = code };
        request.SetTransmissionDateTime(DateTimeOffset.UtcNow);
        return request;
    }

    /// <summary>Completes with the next request forwarded to this ATM (each request is delivered once, in order).</summary>
    public async Task<IsoMessage> NextRequestAsync() => await _arrivals.Reader.ReadAsync(Deadline.Token);

    public async ValueTask DisposeAsync() => await Client.DisposeAsync();

    private async Task SignOnAsync(Iso8583Connection connection, CancellationToken cancellationToken)
    {
        var response = await connection.SendRequestAsync(SignOnRequest(AtmId, Random.Shared.Next(1, 999_999)), cancellationToken);
        if (response.ResponseCode != ResponseCodes.Approved)
        {
            throw new InvalidOperationException($"sign-on refused with {response.ResponseCode}");
        }
    }

    private async ValueTask<IsoMessage?> HandleAsync(IsoMessage request, Iso8583Connection connection, CancellationToken cancellationToken)
    {
        _received.Enqueue(request);
        _arrivals.Writer.TryWrite(request);
        return await Answer(request, cancellationToken);
    }
}

/// <summary>A phone: a plain ISO 8583 client to the proxy's phone port.</summary>
internal sealed class FakePhone : IAsyncDisposable
{
    private FakePhone(IPEndPoint proxy, SslClientAuthenticationOptions? tls)
    {
        Client = new Iso8583Client(new Iso8583ClientOptions
        {
            Spec = NetworkSpec.Messages,
            Host = proxy.Address.ToString(),
            Port = proxy.Port,
            Tls = tls,
            ReconnectInitialDelay = TimeSpan.FromMilliseconds(20),
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(200),
        });
    }

    public Iso8583Client Client { get; }

    public static byte[] ProtectedData { get; } = Convert.FromHexString("00112233445566778899AABBCCDDEEFF0123456789ABCDEFFEDCBA9876543210A1B2C3D4");

    public static async Task<FakePhone> StartAsync(IPEndPoint proxy, SslClientAuthenticationOptions? tls = null)
    {
        var phone = new FakePhone(proxy, tls);
        await phone.Client.StartAsync();
        await phone.Client.WaitUntilConnectedAsync(Deadline.Token);
        return phone;
    }

    /// <summary>A phone's 0200 as the contract says: 3, 4, 7, 11, 41, 48, 49, 127.</summary>
    public static IsoMessage Withdrawal(string atmId, int stan, string session = "CQ1.ATM00001.JIPQZHS3PURWRIHT.000000005000.978.1795608120.SKC3VXN37KFTG")
    {
        var request = new IsoMessage(NetworkSpec.Messages, Mti.FinancialRequest)
        {
            ProcessingCode = "010000",
            AmountMinor = 5000,
            Stan = stan,
            TerminalId = atmId,
            SessionPayload = session,
            CurrencyCode = 978,
            ProtectedData = ProtectedData,
        };
        request.SetTransmissionDateTime(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));
        return request;
    }

    public async Task<IsoMessage> SendAsync(IsoMessage request)
    {
        var connection = await Client.WaitUntilConnectedAsync(Deadline.Token);
        return await connection.SendRequestAsync(request, Deadline.Token);
    }

    public async ValueTask DisposeAsync() => await Client.DisposeAsync();
}

/// <summary>Collects log lines (formatted text and structured values).</summary>
internal sealed class LogRecorder : ILoggerProvider
{
    private readonly ConcurrentQueue<LogLine> _lines = new();

    public IReadOnlyList<LogLine> Lines => _lines.ToArray();

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _lines);

    public void Dispose()
    {
    }

    internal sealed record LogLine(string Category, LogLevel Level, int EventId, string Text, IReadOnlyDictionary<string, object?> Values);

    private sealed class Logger(string category, ConcurrentQueue<LogLine> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var values = new Dictionary<string, object?>(StringComparer.Ordinal);
            if (state is IEnumerable<KeyValuePair<string, object?>> pairs)
            {
                foreach (var (key, value) in pairs)
                {
                    values[key] = value;
                }
            }

            lines.Enqueue(new LogLine(category, logLevel, eventId.Id, formatter(state, exception) + (exception is null ? string.Empty : " " + exception), values));
        }
    }
}

/// <summary>Records the measurements of one proxy's meter.</summary>
internal sealed class MetricsRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<Measurement> _measurements = new();

    public MetricsRecorder(Meter meter)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, meter))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Add(i, v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Add(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Add(i, v, tags));
        _listener.Start();
    }

    public IReadOnlyList<Measurement> Measurements => _measurements.ToArray();

    public IReadOnlyList<Measurement> Of(string instrument) => Measurements.Where(m => m.Instrument == instrument).ToArray();

    public double Observe(string instrument)
    {
        _listener.RecordObservableInstruments();
        return Of(instrument)[^1].Value;
    }

    public void Dispose() => _listener.Dispose();

    private void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var dictionary = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var tag in tags)
        {
            dictionary[tag.Key] = tag.Value?.ToString();
        }

        _measurements.Enqueue(new Measurement(instrument.Name, value, dictionary));
    }

    internal sealed record Measurement(string Instrument, double Value, IReadOnlyDictionary<string, string?> Tags);
}
