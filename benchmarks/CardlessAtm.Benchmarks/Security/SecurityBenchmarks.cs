using BenchmarkDotNet.Attributes;
using CardlessAtm.Security;

namespace CardlessAtm.Benchmarks.Security;

/// <summary>
/// Per-message cost of the security module for both profiles:
/// the ATM message MAC (field 64/128) over a typical 0200, the host's DUKPT derivation for one phone
/// request (BDK → initial key → transaction key → PIN/MAC/data keys), the phone's DUKPT step, and the
/// whole field 127 protect (phone) and open (host).
/// Run: dotnet run -c Release --project benchmarks/CardlessAtm.Benchmarks -- --filter '*SecurityBenchmarks*' --job short
/// </summary>
[MemoryDiagnoser]
public class SecurityBenchmarks
{
    private ISecurityProfile _profile = null!;
    private SecretKey _bdk = null!;
    private SecretKey _initialKey = null!;
    private KeySerialNumber _initialKsn = null!;
    private KeySerialNumber _hostKsn = null!;
    private IMessageMac _mac = null!;
    private SessionKeySet _sessionKeys = null!;
    private DukptDevice _device = null!;
    private IPhoneRequestProtector _protector = null!;
    private IPhoneRequestOpener _opener = null!;
    private PhoneRequestBinding _binding = null!;
    private byte[] _message = null!;
    private byte[] _field127 = null!;

    /// <summary>Which profile runs.</summary>
    [Params(SecurityProfileKind.Aes, SecurityProfileKind.Legacy3Des)]
    public SecurityProfileKind Profile { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _profile = SecurityProfiles.Create(Profile);
        _bdk = SecretKey.Generate(_profile.BaseDerivationKeyAlgorithm);
        _initialKsn = _profile.DukptKind == DukptKind.Aes ? KeySerialNumber.AesInitial("A1B2C3D400000042") : KeySerialNumber.Parse("FFFF9876543210E00000");
        _initialKey = _profile.DeriveInitialKey(_bdk, _initialKsn);
        // A counter with 6 one-bits: a host derivation walks one tree step per one-bit.
        _hostKsn = _initialKsn.WithCounter(0x2A5A);
        _sessionKeys = _profile.GenerateSessionKeys();
        _mac = _profile.CreateMessageMac(_sessionKeys.MacKey);
        _message = new byte[256];
        new Random(1).NextBytes(_message);
        _binding = new PhoneRequestBinding("010000", "000000010000", "ATM00001", "CATM1|ATM00001|N=9F2C41D07A3B55E1|A=10000|C=978|X=1764090000|M=0011223344556677", "978");
        ResetDevice();
        _opener = _profile.CreatePhoneOpener(new OneBdk(_bdk));
        _field127 = _protector.Protect("4012345678909", "1234", _binding);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _mac.Dispose();
        _sessionKeys.Dispose();
        _device.Dispose();
        _initialKey.Dispose();
        _bdk.Dispose();
    }

    /// <summary>Field 64/128 MAC over a 256-byte message.</summary>
    [Benchmark]
    public byte[] MessageMac256Bytes() => _mac.Compute(_message);

    /// <summary>Host: BDK + KSN → initial key → transaction key (counter with 6 one-bits).</summary>
    [Benchmark]
    public int HostDukptDerivation()
    {
        using var ik = _profile.DeriveInitialKey(_bdk, _hostKsn);
        using var txn = _profile.DukptKind == DukptKind.Aes ? AesDukpt.DeriveTransactionKey(ik, _hostKsn) : TdesDukpt.DeriveTransactionKey(ik, _hostKsn);
        return txn.Length;
    }

    /// <summary>Phone: next DUKPT transaction key from the future-key registers.</summary>
    [Benchmark]
    public int DeviceNextTransaction()
    {
        if (_device.IsExhausted)
        {
            ResetDevice();
        }

        using var transaction = _device.NextTransaction();
        return transaction.TransactionKey.Length;
    }

    /// <summary>Phone: the whole field 127 (DUKPT step, PIN block, encryption, MAC).</summary>
    [Benchmark]
    public byte[] PhoneProtect()
    {
        if (_device.IsExhausted)
        {
            ResetDevice();
        }

        return _protector.Protect("4012345678909", "1234", _binding);
    }

    /// <summary>Host: the whole field 127 open (DUKPT derivation, MAC check, decryption, PIN block).</summary>
    [Benchmark]
    public bool HostOpen()
    {
        using var opened = _opener.Open(_field127, _binding);
        return opened.PinEquals("1234");
    }

    private void ResetDevice()
    {
        _device?.Dispose();
        _device = _profile.LoadPhoneDevice(_initialKey, _initialKsn);
        _protector = _profile.CreatePhoneProtector(_device);
    }

    private sealed class OneBdk(SecretKey bdk) : IBaseDerivationKeyProvider
    {
        public SecretKey? FindBaseDerivationKey(KeySerialNumber ksn) => bdk;
    }
}
