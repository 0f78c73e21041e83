using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Channels;
using CardlessAtm.Network;
using CardlessAtm.Phone.Enrolment;
using CardlessAtm.Phone.Withdrawal;
using CardlessAtm.Qr.Payload;
using CardlessAtm.Qr.Rendering;
using CardlessAtm.Qr.Symbols;
using CardlessAtm.Security;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using SkiaSharp;

namespace CardlessAtm.Phone.Tests;

/// <summary>Stand-in for the ATM's QR MAC key (the phone never checks it): HMAC-SHA256 truncated to 8 bytes.</summary>
internal sealed class TestQrMac : IQrPayloadMac
{
    private static readonly byte[] Key = Encoding.ASCII.GetBytes("phone tests: QR MAC key, never in production");

    public void Compute(ReadOnlySpan<byte> canonicalForm, Span<byte> tag)
    {
        Span<byte> full = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HMACSHA256.HashData(Key, canonicalForm, full);
        full[..QrPayloadFormat.MacLength].CopyTo(tag);
    }

    public bool Verify(ReadOnlySpan<byte> canonicalForm, ReadOnlySpan<byte> tag)
    {
        Span<byte> expected = stackalloc byte[QrPayloadFormat.MacLength];
        Compute(canonicalForm, expected);
        return CryptographicOperations.FixedTimeEquals(expected, tag);
    }
}

/// <summary>Published DUKPT test keys (no key material of ours).</summary>
internal static class TestKeys
{
    /// <summary>ANSI X9.24-3:2017 test vectors: AES-128 BDK and initial key id.</summary>
    public const string AesBdk = "FEDCBA9876543210F1F1F1F1F1F1F1F1";

    public const string AesInitialKeyId = "1234567890123456";

    /// <summary>ANSI X9.24-1:2009 Annex A.4: TDES BDK and initial KSN.</summary>
    public const string TdesBdk = "0123456789ABCDEFFEDCBA9876543210";

    public const string TdesInitialKsn = "FFFF9876543210E00000";

    public const string AccountId = "4000123456789010";

    public const string Pin = "4321";
}

internal static class Fixtures
{
    public static readonly DateTimeOffset Start = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    public static readonly AtmId Atm = AtmId.Parse("ATM00042");

    public static QrSessionPayload Payload(long minorUnits = 5_000, string currency = "EUR", TimeSpan? validFor = null, AtmId? atm = null) =>
        QrPayloadFormat.Create(
            new QrSessionFields(atm ?? Atm, SessionNonce.CreateRandom(), Money.Of(minorUnits, currency), Start + (validFor ?? TimeSpan.FromMinutes(2))),
            new TestQrMac());

    public static byte[] Png(string text, int pixelsPerModule = 6) =>
        PngQrRenderer.Render(QrSymbolEncoder.Encode(text, QrErrorCorrection.M).Modules, pixelsPerModule);

    public static byte[] BlankPng(int width = 240, int height = 160)
    {
        using var bitmap = new SKBitmap(width, height);
        bitmap.Erase(SKColors.White);
        using var canvas = new SKCanvas(bitmap);
        using var paint = new SKPaint { Color = SKColors.Black };
        canvas.DrawRect(20, 20, 60, 40, paint);
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }
}

/// <summary>A temporary directory with a phone enrolled under a published test BDK.</summary>
internal sealed class PhoneFixture : IDisposable
{
    public PhoneFixture(SecurityProfileKind kind = SecurityProfileKind.Aes)
    {
        Directory = Path.Combine(Path.GetTempPath(), "cardless-phone-tests-" + Guid.NewGuid().ToString("N"));
        Profile = SecurityProfiles.Create(kind);
        Bdk = kind == SecurityProfileKind.Aes
            ? SecretKey.FromHex(KeyAlgorithm.Aes128, TestKeys.AesBdk)
            : SecretKey.FromHex(KeyAlgorithm.Tdes2Key, TestKeys.TdesBdk);
        InitialKsn = kind == SecurityProfileKind.Aes
            ? KeySerialNumber.AesInitial(TestKeys.AesInitialKeyId)
            : KeySerialNumber.Parse(TestKeys.TdesInitialKsn);
        EnrolmentPath = Path.Combine(Directory, "phone-dukpt.key");
        using var initialKey = Profile.DeriveInitialKey(Bdk, InitialKsn);
        Enrolment = PhoneEnrolment.Create(EnrolmentPath, Profile, initialKey, InitialKsn);
        Time = new FakeTimeProvider(Fixtures.Start);
    }

    public string Directory { get; }

    public ISecurityProfile Profile { get; }

    public SecretKey Bdk { get; }

    public KeySerialNumber InitialKsn { get; }

    public string EnrolmentPath { get; }

    public PhoneEnrolment Enrolment { get; }

    public FakeTimeProvider Time { get; }

    public CapturingLoggerProvider Logs { get; } = new();

    public CardlessWithdrawalClient Client(ProxyEndpoint proxy, Action<PhoneClientOptionsBuilder>? configure = null)
    {
        var builder = new PhoneClientOptionsBuilder();
        configure?.Invoke(builder);
        var options = new PhoneClientOptions(proxy) { Tls = builder.Tls, Insecure = builder.Tls is null, RequestTimeout = builder.RequestTimeout, ConnectTimeout = builder.ConnectTimeout };
        var loggers = LoggerFactory.Create(b => b.AddProvider(Logs).SetMinimumLevel(LogLevel.Trace));
        TimeProvider time = builder.FakeTimers ? Time : new RealTimersAt(Time);
        return new CardlessWithdrawalClient(options, PhoneEnrolment.Open(EnrolmentPath, Profile), Profile, time, loggers);
    }

    /// <summary>Everything the client logged, for a failure message.</summary>
    public string LogText() => string.Join(Environment.NewLine, Logs.Lines);

    public void Dispose()
    {
        Bdk.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

internal sealed class PhoneClientOptionsBuilder
{
    public System.Net.Security.SslClientAuthenticationOptions? Tls { get; set; }

    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The client's timers (connect and request timeouts, reconnect back-off) run on the fixture's fake clock, for tests
    /// that move time on to fire them. Otherwise they run on real time, so a transient connect failure is retried
    /// 250 ms later instead of waiting forever for fake time that never moves.
    /// </summary>
    public bool FakeTimers { get; set; }
}

/// <summary>The fixture's fake wall clock (QR expiry, field 7) with real timers and timestamps.</summary>
internal sealed class RealTimersAt(FakeTimeProvider clock) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => clock.GetUtcNow();
}

/// <summary>What the fake ATM saw of one 0200, after opening field 127 with the host-side opener.</summary>
internal sealed record ReceivedRequest(IsoMessage Message, KeySerialNumber Ksn, string AccountId, bool PinMatches);

/// <summary>
/// The proxy and ATM as the phone sees them: an <see cref="Iso8583Server"/> on loopback that opens field 127 with the
/// security module's host-side opener (published test BDK) and answers as told.
/// </summary>
internal sealed class FakeAtm : IAsyncDisposable, IBaseDerivationKeyProvider
{
    private readonly Iso8583Server _server;
    private readonly SecretKey _bdk;
    private readonly IPhoneRequestOpener _opener;

    public FakeAtm(ISecurityProfile profile, SecretKey bdk, Func<IsoMessage, CancellationToken, ValueTask<IsoMessage?>>? answer = null, System.Net.Security.SslServerAuthenticationOptions? tls = null)
    {
        _bdk = bdk;
        _opener = profile.CreatePhoneOpener(this);
        Answer = answer ?? ((request, _) => ValueTask.FromResult<IsoMessage?>(Approve(request)));
        _server = new Iso8583Server(new Iso8583ServerOptions { Spec = NetworkSpec.Messages, Port = 0, Tls = tls, RequestHandler = HandleAsync });
        _server.StartAsync().GetAwaiter().GetResult();
    }

    public Func<IsoMessage, CancellationToken, ValueTask<IsoMessage?>> Answer { get; set; }

    public ConcurrentQueue<ReceivedRequest> Received { get; } = new();

    public ConcurrentQueue<Exception> OpenFailures { get; } = new();

    public TaskCompletionSource RequestArrived { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ProxyEndpoint Endpoint => new("127.0.0.1", _server.LocalEndPoint.Port);

    public static IsoMessage Approve(IsoMessage request, string authCode = "A1B2C3")
    {
        var response = request.CreateResponse(ResponseCodes.Approved);
        response.AuthorizationCode = authCode;
        return response;
    }

    public SecretKey? FindBaseDerivationKey(KeySerialNumber ksn) => _bdk;

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    private async ValueTask<IsoMessage?> HandleAsync(IsoMessage request, Iso8583Connection connection, CancellationToken cancellationToken)
    {
        try
        {
            var binding = PhoneWithdrawalRequest.FromIso(request).Binding;
            using var opened = _opener.Open(request.ProtectedData!, binding);
            Received.Enqueue(new ReceivedRequest(request, opened.Ksn, opened.AccountId, opened.PinEquals(TestKeys.Pin)));
        }
        catch (Exception ex)
        {
            OpenFailures.Enqueue(ex);
            RequestArrived.TrySetResult();
            return request.CreateResponse(ResponseCodes.FormatError);
        }

        RequestArrived.TrySetResult();
        return await Answer(request, cancellationToken);
    }
}

internal sealed class CapturingLoggerProvider : ILoggerProvider
{
    public ConcurrentQueue<string> Lines { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(CapturingLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull
        {
            owner.Lines.Enqueue($"{category} scope: {Describe(state)}");
            return null;
        }

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Lines.Enqueue($"{category} {logLevel}: {formatter(state, exception)} {exception}");

        private static string Describe(object state) => state is IEnumerable<KeyValuePair<string, object>> pairs
            ? string.Join(", ", pairs.Select(p => $"{p.Key}={p.Value}"))
            : state.ToString() ?? string.Empty;
    }
}

internal static class TimeSteps
{
    /// <summary>Moves fake time on in steps until <paramref name="task"/> completes (bounded, so a bug fails instead of hanging).</summary>
    public static async Task<T> AdvanceUntilDone<T>(Task<T> task, FakeTimeProvider time, TimeSpan step, int maxSteps = 2000)
    {
        for (var i = 0; i < maxSteps && !task.IsCompleted; i++)
        {
            time.Advance(step);
            await Task.WhenAny(task, Task.Delay(5));
        }

        Assert.True(task.IsCompleted, "the operation did not finish while fake time advanced");
        return await task;
    }
}
