using BenchmarkDotNet.Attributes;
using CardlessAtm.Phone.Enrolment;
using CardlessAtm.Phone.Scanning;
using CardlessAtm.Qr.Payload;
using CardlessAtm.Qr.Rendering;
using CardlessAtm.Qr.Symbols;
using CardlessAtm.Security;

namespace CardlessAtm.Benchmarks.Phone;

/// <summary>
/// The phone's own cost per withdrawal, before the network: reading the QR code from a PNG (SkiaSharp + ZXing),
/// and taking the next DUKPT key with field 127 built and the advanced device state written durably to the
/// enrolment file (the write is flushed to disk before a request may be sent, so its cost is part of every request),
/// and the same with an in-memory enrolment (load generators).
/// Run: dotnet run -c Release --project benchmarks/CardlessAtm.Benchmarks -- --filter '*PhoneBenchmarks*' --job short
/// </summary>
[MemoryDiagnoser]
public class PhoneBenchmarks
{
    private string _directory = null!;
    private ISecurityProfile _profile = null!;
    private PhoneEnrolment _enrolment = null!;
    private PhoneEnrolment _inMemory = null!;
    private PhoneRequestBinding _binding = null!;
    private byte[] _png = null!;
    private string _text = null!;

    /// <summary>Which profile runs.</summary>
    [Params(SecurityProfileKind.Aes, SecurityProfileKind.Legacy3Des)]
    public SecurityProfileKind Profile { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _directory = Path.Combine(Path.GetTempPath(), "phone-bench-" + Guid.NewGuid().ToString("N"));
        _profile = SecurityProfiles.Create(Profile);
        using var bdk = SecretKey.Generate(_profile.BaseDerivationKeyAlgorithm);
        var ksn = _profile.DukptKind == DukptKind.Aes ? KeySerialNumber.AesInitial("A1B2C3D400000042") : KeySerialNumber.Parse("FFFF9876543210E00000");
        using var initialKey = _profile.DeriveInitialKey(bdk, ksn);
        _enrolment = PhoneEnrolment.Create(Path.Combine(_directory, "phone-dukpt.key"), _profile, initialKey, ksn);
        _inMemory = PhoneEnrolment.CreateInMemory(_profile, initialKey, ksn);
        var payload = QrPayloadFormat.Create(
            new QrSessionFields(AtmId.Parse("ATM00001"), SessionNonce.CreateRandom(), Money.Of(5_000, "EUR"), new DateTimeOffset(2099, 1, 1, 0, 0, 0, TimeSpan.Zero)),
            new ZeroMac());
        _text = payload.Text;
        _png = PngQrRenderer.Render(QrSymbolEncoder.Encode(payload).Modules, pixelsPerModule: 8);
        _binding = new PhoneRequestBinding("010000", "000000005000", "ATM00001", _text, "978");
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_directory, recursive: true);

    /// <summary>Decode a 8-pixels-per-module PNG and parse the payload.</summary>
    [Benchmark]
    public string ScanPng() => ScannedSession.FromImage(_png).Text;

    /// <summary>Lock, load, take the next KSN, build field 127, write the state durably, unlock.</summary>
    [Benchmark]
    public int ProtectAndPersist() =>
        _enrolment.TakeNextTransaction(_profile, (device, _) => _profile.CreatePhoneProtector(device).Protect("4000123456789010", "4321", _binding).Length);

    /// <summary>The same without the disk: what a load generator's simulated phones pay (the difference is the durable write).</summary>
    [Benchmark]
    public int ProtectInMemory() =>
        _inMemory.TakeNextTransaction(_profile, (device, _) => _profile.CreatePhoneProtector(device).Protect("4000123456789010", "4321", _binding).Length);

    private sealed class ZeroMac : IQrPayloadMac
    {
        public void Compute(ReadOnlySpan<byte> canonicalForm, Span<byte> tag) => tag.Clear();

        public bool Verify(ReadOnlySpan<byte> canonicalForm, ReadOnlySpan<byte> tag) => true;
    }
}
