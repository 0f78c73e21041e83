using System.Diagnostics;
using System.Globalization;
using System.Net;
using BenchmarkDotNet.Attributes;
using CardlessAtm.Host.Administration;
using CardlessAtm.Host.Server;
using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Channels;
using CardlessAtm.Iso8583.Mac;
using CardlessAtm.Network;
using CardlessAtm.Qr.Payload;
using CardlessAtm.Security;

namespace CardlessAtm.Benchmarks.Host;

/// <summary>
/// Approved withdrawals per second through the host's TCP interface with durable commits
/// (SQLite WAL, synchronous=FULL), from N concurrent ATM connections, each sending its 0200s one
/// after another. The requests (QR session, phone field 127, ATM MAC) are built before each
/// iteration, so the time measured is the host's: network, MAC and DUKPT checks, ledger commit, response.
/// Mean time per operation = 1 / throughput. Per-request latency percentiles (p50, p99) are
/// printed at the end of each case as "host-latency: …".
/// Run: dotnet run -c Release --project benchmarks/CardlessAtm.Benchmarks -- --filter '*HostThroughput*' --job short
/// </summary>
[MemoryDiagnoser(false)]
public class HostThroughputBenchmarks
{
    private const int RequestsPerInvocation = 2_000;
    private readonly List<double> _latenciesMs = [];
    private string _dir = "";
    private HostServer _host = null!;
    private LoadAtm[] _atms = [];
    private IsoMessage[][] _batches = [];

    /// <summary>Concurrent ATM connections.</summary>
    [Params(1, 8, 32)]
    public int Connections { get; set; }

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _dir = Path.Combine(Path.GetTempPath(), "cardless-host-bench-" + Guid.NewGuid().ToString("N"));
        _host = await HostServer.StartAsync(new HostServerOptions
        {
            DatabasePath = Path.Combine(_dir, "host.db"),
            KeyVaultPath = Path.Combine(_dir, "keys"),
            Port = 0,
            Insecure = true, // measures the host's processing; the load ATMs dial plain TCP
        });
        _atms = new LoadAtm[Connections];
        for (var i = 0; i < Connections; i++)
        {
            var accountId = (300_000_000_000 + i).ToString(CultureInfo.InvariantCulture);
            await _host.Administration.AddAccountAsync(new NewAccount(accountId, "Load " + i, 978, 900_000_000_000, 900_000_000_000, int.MaxValue), "1234");
            var phone = await _host.Administration.EnrolPhoneAsync(accountId);
            var atmId = "LOAD" + i.ToString("D4", CultureInfo.InvariantCulture);
            var atm = await _host.Administration.AddAtmAsync(atmId, "benchmark", 978);
            _atms[i] = await LoadAtm.ConnectAsync(_host.Profile, atm.Atm.AtmId, atm.MasterKey, phone, accountId, _host.LocalEndPoint);
            atm.MasterKey.Dispose();
            phone.InitialKey.Dispose();
        }
    }

    [IterationSetup]
    public void BuildRequests() =>
        _batches = [.. _atms.Select(atm => Enumerable.Range(0, RequestsPerInvocation / Connections).Select(_ => atm.Withdrawal(100)).ToArray())];

    [Benchmark(OperationsPerInvoke = RequestsPerInvocation)]
    public async Task ApprovedWithdrawals()
    {
        var results = await Task.WhenAll(_atms.Select((atm, i) => atm.RunAsync(_batches[i])));
        foreach (var latencies in results)
        {
            _latenciesMs.AddRange(latencies);
        }
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        _latenciesMs.Sort();
        double Percentile(double p) => _latenciesMs[Math.Min(_latenciesMs.Count - 1, (int)(p * _latenciesMs.Count))];
        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"host-latency: connections={Connections} requests={_latenciesMs.Count} p50={Percentile(0.50):0.00} ms p99={Percentile(0.99):0.00} ms max={_latenciesMs[^1]:0.00} ms"));
        var totals = await _host.Administration.GetLedgerTotalsAsync();
        Console.WriteLine($"host-ledger: approved {totals.ApprovedWithdrawalsMinor} minor units, balanced={totals.Balances}");
        foreach (var atm in _atms)
        {
            await atm.DisposeAsync();
        }

        await _host.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>One ATM link: signs on, takes session keys, builds and sends 0200s for its phone.</summary>
    private sealed class LoadAtm : IAsyncDisposable
    {
        private readonly Iso8583Client _client;
        private readonly SessionMacKey _mac;
        private readonly DukptDevice _phone;
        private readonly IPhoneRequestProtector _protector;
        private readonly string _atmId;
        private readonly string _accountId;
        private int _stan;

        private LoadAtm(Iso8583Client client, SessionMacKey mac, DukptDevice phone, IPhoneRequestProtector protector, string atmId, string accountId)
        {
            _client = client;
            _mac = mac;
            _phone = phone;
            _protector = protector;
            _atmId = atmId;
            _accountId = accountId;
        }

        public static async Task<LoadAtm> ConnectAsync(ISecurityProfile profile, string atmId, SecretKey masterKey, PhoneProvisioning phone, string accountId, IPEndPoint host)
        {
            var client = new Iso8583Client(new Iso8583ClientOptions { Spec = NetworkSpec.Messages, Host = host.Address.ToString(), Port = host.Port, TerminalId = atmId, MaxUnansweredRequests = 4 });
            await client.StartAsync();
            await client.WaitUntilConnectedAsync();
            // Sign-on and key change are MACed under the key derived from the TMK (docs/protocol/iso8583.md §2.7).
            using var derived = profile.DeriveKeyChangeMacKey(masterKey, atmId);
            using var keyChangeMac = SessionMacKey.Create(profile, derived);
            var signOn = NetworkManagement(atmId, 1, NetworkManagementCodes.SignOn);
            MessageMac.Apply(signOn, keyChangeMac.Iso);
            await client.SendRequestAsync(signOn);
            var nonce = KeyChangeRequestData.CreateNonce();
            var request = NetworkManagement(atmId, 2, NetworkManagementCodes.KeyChange);
            request.KeyChangeData = KeyChangeRequestData.Encode(nonce);
            MessageMac.Apply(request, keyChangeMac.Iso);
            var change = await client.SendRequestAsync(request);
            using var keys = profile.OpenKeyChangeData(masterKey, change.KeyChangeData, nonce, 0);
            var device = profile.LoadPhoneDevice(phone.InitialKey, phone.InitialKsn);
            return new LoadAtm(client, SessionMacKey.Create(profile, keys.Keys.MacKey), device, profile.CreatePhoneProtector(device), atmId, accountId) { _stan = 2 };
        }

        private static IsoMessage NetworkManagement(string atmId, int stan, string code)
        {
            var message = new IsoMessage(NetworkSpec.Messages, Mti.NetworkManagementRequest) { Stan = stan, TerminalId = atmId, NetworkManagementCode = code };
            message.SetTransmissionDateTime(DateTimeOffset.UtcNow);
            return message;
        }

        public IsoMessage Withdrawal(long amount)
        {
            var now = DateTimeOffset.UtcNow;
            var qr = QrPayloadFormat.Create(
                new QrSessionFields(AtmId.Parse(_atmId), SessionNonce.CreateRandom(), new Money(amount, Currency.FromNumericCode(978)), DateTimeOffset.FromUnixTimeSeconds(now.AddMinutes(5).ToUnixTimeSeconds())),
                _mac.Qr);
            var amountText = amount.ToString("D12", CultureInfo.InvariantCulture);
            var field127 = _protector.Protect(_accountId, "1234", new PhoneRequestBinding("010000", amountText, _atmId, qr.Text, "978"));
            _stan = (_stan % 999_999) + 1;
            var message = new IsoMessage(NetworkSpec.Messages, Mti.FinancialRequest);
            message.Set(3, "010000").Set(4, amountText);
            message.SetTransmissionDateTime(now);
            message.Stan = _stan;
            message.RetrievalReferenceNumber = "B" + _stan.ToString("D11", CultureInfo.InvariantCulture);
            message.TerminalId = _atmId;
            message.SessionPayload = qr.Text;
            message.CurrencyCode = 978;
            message.ProtectedData = field127;
            MessageMac.Apply(message, _mac.Iso);
            return message;
        }

        public async Task<List<double>> RunAsync(IsoMessage[] requests)
        {
            var latencies = new List<double>(requests.Length);
            foreach (var request in requests)
            {
                var started = Stopwatch.GetTimestamp();
                var response = await _client.SendRequestAsync(request);
                latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                if (response.ResponseCode != ResponseCodes.Approved || MessageMac.Verify(response, _mac.Iso) != MacCheckResult.Valid)
                {
                    throw new InvalidOperationException($"Withdrawal not approved with a valid MAC: {response.ResponseCode}.");
                }
            }

            return latencies;
        }

        public async ValueTask DisposeAsync()
        {
            await _client.DisposeAsync();
            _mac.Dispose();
            _phone.Dispose();
        }
    }
}
