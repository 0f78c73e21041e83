using System.Security.Cryptography;
using System.Text;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using CardlessAtm.Qr.Payload;
using CardlessAtm.Qr.Rendering;
using CardlessAtm.Qr.Sessions;
using CardlessAtm.Qr.Symbols;

namespace CardlessAtm.Benchmarks.Qr;

/// <summary>
/// Step B's CPU cost on a 240x320 ILI9341 panel: session payload → QR matrix (QRCoder) → big-endian RGB565
/// pixels. Target ≤ 1 ms per QR. The SPI columns give the bytes the panel must receive and the time that
/// takes at common Pi SPI clocks — the floor no CPU work can beat.
/// Run: dotnet run -c Release --project benchmarks/CardlessAtm.Benchmarks -- --filter '*Qr*' --job short
/// </summary>
[MemoryDiagnoser]
[Config(typeof(SpiColumnsConfig))]
public class QrRenderBenchmarks
{
    internal const int PanelWidth = 240;
    internal const int PanelHeight = 320;

    private QrSessionIssuer _issuer = null!;
    private QrSessionPayload _payload = null!;
    private ModuleMatrix _modules = null!;
    private QrFrameRenderer _renderer = null!;
    private byte[] _frame = null!;
    private byte[] _window = null!;

    [GlobalSetup]
    public void Setup()
    {
        var mac = new BenchmarkMac(Encoding.ASCII.GetBytes("benchmark key, not a real one"));
        _issuer = new QrSessionIssuer(AtmId.Parse("ATM00001"), mac, TimeProvider.System, new QrSessionOptions());
        _payload = _issuer.Issue(Money.Of(5000, "EUR"));
        _modules = QrSymbolEncoder.Encode(_payload).Modules;
        _renderer = QrFrameRenderer.Create("ILI9341 240x320", PanelWidth, PanelHeight);
        _frame = new byte[PanelWidth * PanelHeight * 2];
        _window = new byte[_renderer.SymbolSpiBytes(_modules)];
    }

    /// <summary>The whole of step B's drawing work: payload text → matrix → the full 240x320 RGB565 frame.</summary>
    [Benchmark(Baseline = true)]
    public QrPlacement PayloadToRgb565Frame()
    {
        var modules = QrSymbolEncoder.Encode(_payload).Modules;
        return _renderer.DrawRgb565BigEndian(modules, _frame);
    }

    /// <summary>As above, but only the 205x205 symbol window the driver sends over SPI.</summary>
    [Benchmark]
    public QrPlacement PayloadToRgb565SymbolWindow()
    {
        var modules = QrSymbolEncoder.Encode(_payload).Modules;
        return _renderer.DrawSymbolRgb565BigEndian(modules, _window);
    }

    /// <summary>Opening a session too: CSPRNG nonce, MAC (HMAC-SHA256 stand-in), then matrix and frame.</summary>
    [Benchmark]
    public QrPlacement IssueToRgb565Frame()
    {
        var modules = QrSymbolEncoder.Encode(_issuer.Issue(Money.Of(5000, "EUR"))).Modules;
        return _renderer.DrawRgb565BigEndian(modules, _frame);
    }

    /// <summary>Opening a session alone: CSPRNG nonce, payload text, MAC.</summary>
    [Benchmark]
    public QrSessionPayload IssuePayload() => _issuer.Issue(Money.Of(5000, "EUR"));

    /// <summary>QRCoder alone: payload text → module matrix.</summary>
    [Benchmark]
    public ModuleMatrix PayloadToMatrix() => QrSymbolEncoder.Encode(_payload).Modules;

    /// <summary>Our rasteriser alone: matrix → full 240x320 big-endian RGB565 frame.</summary>
    [Benchmark]
    public QrPlacement MatrixToRgb565Frame() => _renderer.DrawRgb565BigEndian(_modules, _frame);

    private sealed class BenchmarkMac(byte[] key) : IQrPayloadMac
    {
        public void Compute(ReadOnlySpan<byte> canonicalForm, Span<byte> tag)
        {
            Span<byte> full = stackalloc byte[HMACSHA256.HashSizeInBytes];
            HMACSHA256.HashData(key, canonicalForm, full);
            full[..QrPayloadFormat.MacLength].CopyTo(tag);
        }

        public bool Verify(ReadOnlySpan<byte> canonicalForm, ReadOnlySpan<byte> tag)
        {
            Span<byte> expected = stackalloc byte[QrPayloadFormat.MacLength];
            Compute(canonicalForm, expected);
            return CryptographicOperations.FixedTimeEquals(expected, tag);
        }
    }
}

/// <summary>Adds the SPI bytes per QR and the bus-time floor at 32 and 62.5 MHz to the summary.</summary>
public sealed class SpiColumnsConfig : ManualConfig
{
    /// <summary>Adds the columns.</summary>
    public SpiColumnsConfig()
    {
        AddColumn(new SpiColumn("SPI bytes/QR", clockHz: null), new SpiColumn("SPI floor @32MHz", 32_000_000), new SpiColumn("SPI floor @62.5MHz", 62_500_000));
    }

    private static int SpiBytes(BenchmarkCase benchmarkCase)
    {
        const int symbolSide = 41 * 5; // version 4 + quiet zone at 5 px/module on a 240-px-wide panel
        return benchmarkCase.Descriptor.WorkloadMethod.Name.Contains("SymbolWindow", StringComparison.Ordinal)
            ? symbolSide * symbolSide * 2
            : QrRenderBenchmarks.PanelWidth * QrRenderBenchmarks.PanelHeight * 2;
    }

    private sealed class SpiColumn(string name, double? clockHz) : IColumn
    {
        public string Id => nameof(SpiColumn) + name;

        public string ColumnName => name;

        public bool AlwaysShow => true;

        public ColumnCategory Category => ColumnCategory.Custom;

        public int PriorityInCategory => 0;

        public bool IsNumeric => true;

        public UnitType UnitType => UnitType.Dimensionless;

        public string Legend => clockHz is null
            ? "Bytes sent to the ILI9341 per QR (RGB565, 2 bytes/pixel)"
            : $"Bytes x 8 / {clockHz / 1e6} MHz: the shortest time the panel can show the QR";

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            if (benchmarkCase.Descriptor.WorkloadMethod.Name is nameof(QrRenderBenchmarks.PayloadToMatrix) or nameof(QrRenderBenchmarks.IssuePayload))
            {
                return "-";
            }

            var bytes = SpiBytes(benchmarkCase);
            return clockHz is { } hz
                ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{bytes * 8 / hz * 1000:F1} ms")
                : bytes.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        public bool IsAvailable(Summary summary) => true;

        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    }
}
