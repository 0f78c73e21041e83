using BenchmarkDotNet.Attributes;
using CardlessAtm.Iso8583;
using CardlessAtm.Network;

namespace CardlessAtm.Benchmarks.Iso8583;

/// <summary>
/// Pack and unpack of a typical ATM → host 0200 withdrawal (MTI, two bitmaps, 12 data elements incl. the
/// QR payload, 127 protected data and the 128 MAC). Targets: ≤ 2 µs and ≤ 1 KB allocated per message.
/// Run: dotnet run -c Release --project benchmarks/CardlessAtm.Benchmarks -- --filter '*Iso8583Codec*' --job short
/// </summary>
[MemoryDiagnoser]
public class Iso8583CodecBenchmarks
{
    private IsoMessage _message = null!;
    private byte[] _packed = null!;
    private byte[] _buffer = null!;

    [GlobalSetup]
    public void Setup()
    {
        _message = TypicalWithdrawal();
        _packed = _message.Pack();
        _buffer = new byte[_packed.Length];
    }

    /// <summary>A representative 0200 as the terminal sends it to the host.</summary>
    public static IsoMessage TypicalWithdrawal(int stan = 123)
    {
        var m = new IsoMessage(NetworkSpec.Messages, Mti.FinancialRequest)
        {
            ProcessingCode = "010000",
            AmountMinor = 10_000,
            Stan = stan,
            RetrievalReferenceNumber = "633012000123",
            TerminalId = "ATM00001",
            SessionPayload = "CATM1:ATM00001:S7f3a9c2e51d04b8e:A10000:C978:E1764086400:N4b1d9e0c",
            CurrencyCode = 978,
            ProtectedData = new byte[96],
        };
        m.Set(7, "1125143000").Set(12, "153000").Set(13, "1125");
        m.SetBytes(128, [1, 2, 3, 4, 5, 6, 7, 8]);
        return m;
    }

    [Benchmark(Description = "Pack 0200 to a new byte[]")]
    public byte[] Pack() => _message.Pack();

    [Benchmark(Description = "Pack 0200 into a caller's buffer")]
    public int PackIntoSpan() => _message.Pack(_buffer);

    [Benchmark(Description = "Unpack 0200")]
    public IsoMessage Unpack() => NetworkSpec.Unpack(_packed);
}
