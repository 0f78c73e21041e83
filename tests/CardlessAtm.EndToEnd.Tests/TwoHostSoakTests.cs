using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using CardlessAtm.Host.Administration;
using CardlessAtm.Host.Server;
using CardlessAtm.Host.Storage;
using CardlessAtm.Host.Tests.Support;
using CardlessAtm.Iso8583;
using CardlessAtm.Network;
using CardlessAtm.Security;
using Npgsql;
using Xunit.Abstractions;

namespace CardlessAtm.EndToEnd.Tests;

/// <summary>
/// The Done-when soak of issue 16: two real <c>cardless-atm host run</c> processes on one fresh PostgreSQL database,
/// 8 ATMs, each signed on (the terminal's own <c>HostSignOn</c>) over a home link to one host and a stand-by link to
/// the other — 4 ATMs at home on each host, 8 links per host — and 10,000 random operations with a fixed seed from
/// 8 workers at once (one per ATM; 16 ran slower here, with four times the 91s): withdrawals (valid, over the balance, a retransmitted STAN, the same 0200 to both hosts at once,
/// a QR session reused on the other host, one QR raced through both hosts), reversals (full, partial, a repeated
/// 0420/0421, the same 0420 to both hosts at once, a reversal on the other host than its withdrawal). Every response
/// is checked against what its code must mean, then the ledger is read with SQL: balances, transactions, reversals
/// and nonces against the ATMs' model. No duration is asserted; the timeouts only stop a hung run.
/// </summary>
public sealed class TwoHostSoakTests(ITestOutputHelper output) : IDisposable
{
    private const int Operations = 10_000;
    private const int AtmCount = 8;
    private const int WorkersPerAtm = 1;
    private const int AccountCount = 6;
    private const int Seed = 16_016;
    private const long Opening = 500_000;
    private const string Pin = "2468";

    private readonly PostgresTestServer _server = new();
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("cardless-soak16-");
    private readonly List<Process> _hosts = [];
    private readonly List<ConcurrentQueue<string>> _hostOutput = [];

    [PostgresFact]
    public async Task Two_host_processes_on_one_database_keep_the_money_invariant_through_ten_thousand_random_operations()
    {
        var watch = Stopwatch.StartNew();
        var connectionString = _server.CreateDatabase();

        // The keys live in the database, wrapped under one KEK of which each process (and the provisioning) holds its own
        // 0600 copy; no key directory is shared, and none is written.
        using var kek = SecretKey.Generate(KeyAlgorithm.Aes256);
        var kekFiles = Enumerable.Range(0, 3).Select(i => WriteKek(i == 2 ? "admin" : "host" + i, kek)).ToArray();
        var options = new HostServerOptions
        {
            DatabasePath = Path.Combine(_directory.FullName, "unused.db"),
            KeyVaultPath = Path.Combine(_directory.FullName, "unused-keys"),
            Store = new HostStoreOptions { Kind = HostStoreKind.Postgres, ConnectionString = connectionString },
            Keys = new HostKeyOptions { KekPath = kekFiles[2] },
        };

        // Provisioned once, through the host's own administration, before either process starts.
        await using var admin = await HostServer.OpenAsync(options);
        var accounts = new List<string>();
        for (var i = 0; i < AccountCount; i++)
        {
            var id = (160_000_000_000 + i).ToString(CultureInfo.InvariantCulture);
            await admin.Administration.AddAccountAsync(new NewAccount(id, "Soak " + i, 978, Opening, DailyAmountLimitMinor: 1_000_000_000, DailyCountLimit: 1_000_000), Pin);
            accounts.Add(id);
        }

        var masterKeys = new List<SecretKey>();
        for (var k = 0; k < AtmCount; k++)
        {
            var provisioning = await admin.Administration.AddAtmAsync($"SOAK{k:D4}", "soak " + k, 978);
            masterKeys.Add(provisioning.MasterKey);
        }

        // One phone per worker and account: a DUKPT device sends one request at a time, and every account is shared by
        // all ATMs on both hosts (the balance races cross processes).
        var phones = new SimulatedPhone[AtmCount * WorkersPerAtm, AccountCount];
        for (var w = 0; w < AtmCount * WorkersPerAtm; w++)
        {
            for (var a = 0; a < AccountCount; a++)
            {
                var enrolment = await admin.Administration.EnrolPhoneAsync(accounts[a]);
                using (enrolment.InitialKey)
                {
                    phones[w, a] = new SimulatedPhone(admin.Profile, enrolment.InitialKey, enrolment.InitialKsn);
                }
            }
        }

        var ports = await Task.WhenAll(StartHostAsync(0, kekFiles[0], connectionString), StartHostAsync(1, kekFiles[1], connectionString));
        var provisioned = watch.Elapsed;

        var home = new SimulatedAtm[AtmCount];
        var standby = new SimulatedAtm[AtmCount];
        try
        {
            for (var k = 0; k < AtmCount; k++)
            {
                home[k] = new SimulatedAtm(admin.Profile, $"SOAK{k:D4}", masterKeys[k], new IPEndPoint(IPAddress.Loopback, ports[k % 2]));
                await home[k].ConnectAsync();
                await home[k].SignOnAndChangeKeysAsync();
                standby[k] = new SimulatedAtm(admin.Profile, $"SOAK{k:D4}", masterKeys[k], new IPEndPoint(IPAddress.Loopback, ports[(k + 1) % 2]));
                await standby[k].ConnectAsync();
                await standby[k].ShareKeysWithAsync(home[k]);
            }

            var models = await Task.WhenAll(Enumerable.Range(0, AtmCount * WorkersPerAtm).Select(w => Task.Run(() =>
                new Worker(w, home[w / WorkersPerAtm], standby[w / WorkersPerAtm], accounts, Enumerable.Range(0, AccountCount).Select(a => phones[w, a]).ToArray())
                    .RunAsync(Operations / (AtmCount * WorkersPerAtm)))));
            var driven = watch.Elapsed;

            foreach (var (process, index) in _hosts.Select((p, i) => (p, i)))
            {
                Assert.False(process.HasExited, $"host {index} ended during the soak:\n{string.Join('\n', _hostOutput[index])}");
            }

            await AssertLedgerAsync(connectionString, admin, accounts, models);
            var counts = models.SelectMany(m => m.Counts).GroupBy(c => c.Key).ToDictionary(g => g.Key, g => g.Sum(c => c.Value));
            output.WriteLine($"seed {Seed}: provisioning and start {provisioned.TotalSeconds:F1} s, {Operations} operations {(driven - provisioned).TotalSeconds:F1} s, checks {(watch.Elapsed - driven).TotalSeconds:F1} s");
            output.WriteLine(string.Join(", ", counts.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key} {c.Value}")));
            Assert.Equal(Operations, counts.Where(c => !c.Key.StartsWith("rc ", StringComparison.Ordinal)).Sum(c => c.Value));
        }
        catch (Exception)
        {
            // What the hosts logged (warnings and errors only: the CLI's default level) explains a failure.
            for (var i = 0; i < _hostOutput.Count; i++)
            {
                foreach (var line in _hostOutput[i].TakeLast(40))
                {
                    output.WriteLine($"host {i}: {line}");
                }
            }

            throw;
        }
        finally
        {
            foreach (var link in home.Concat(standby).Where(l => l is not null))
            {
                await link.DisposeAsync();
            }

            foreach (var phone in phones)
            {
                phone?.Dispose();
            }

            foreach (var key in masterKeys)
            {
                key.Dispose();
            }
        }
    }

    /// <summary>Starts <c>cardless-atm host run</c> on the shared database (and so its key vault) with its own KEK file; returns its port.</summary>
    /// <summary>A host's own copy of the fleet's KEK: a 0600 key file in a 0700 directory of its own.</summary>
    private string WriteKek(string owner, SecretKey kek)
    {
        var store = new FileKeyStore(Path.Combine(_directory.FullName, owner + "-kek"));
        store.SaveKey("kek", kek);
        return store.PathOf("kek");
    }

    private async Task<int> StartHostAsync(int index, string kekPath, string connectionString)
    {
        var workDirectory = Directory.CreateDirectory(Path.Combine(_directory.FullName, "host" + index)).FullName;
        var (process, lines) = CliRun.Start(
            workDirectory,
            "host", "--keys", Path.Combine(workDirectory, "unused-keys"), "run", "--port", "0",
            "--set", "Host:Keys:KekPath=" + kekPath,
            "--set", "Host:Store:Kind=Postgres",
            "--set", "Host:Store:ConnectionString=" + connectionString,
            "--set", "Host:Insecure=true");
        lock (_hosts)
        {
            _hosts.Add(process);
            _hostOutput.Add(lines);
        }

        var started = Stopwatch.StartNew();
        while (started.Elapsed < TimeSpan.FromSeconds(60))
        {
            foreach (var line in lines)
            {
                var match = Regex.Match(line, @"^host: listening on 127\.0\.0\.1:(\d+) ");
                if (match.Success)
                {
                    return int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
                }
            }

            if (process.HasExited)
            {
                break;
            }

            await Task.Delay(50);
        }

        throw new InvalidOperationException($"host {index} did not start listening:\n{string.Join('\n', lines)}");
    }

    /// <summary>The ledger, read with SQL, against what the ATMs were told.</summary>
    private static async Task AssertLedgerAsync(string connectionString, HostServer admin, List<string> accounts, Model[] models)
    {
        var approved = new Dictionary<(string Atm, int Stan, string Transmission), Approval>();
        foreach (var approval in models.SelectMany(m => m.Approved))
        {
            Assert.True(approved.TryAdd(approval.Key, approval), $"two approvals the ATMs saw for {approval.Key}");
        }

        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();

        // Every approved response the ATMs saw is exactly one approved transaction row, and vice versa, with the amount
        // the model debited and the amount its reversals credited (never more than the transaction's amount).
        var rows = new Dictionary<(string, int, string), (string Account, long Amount, long Reversed, string? Nonce)>();
        await using (var cmd = new NpgsqlCommand("SELECT atm_id, stan, transmission, account_id, amount_minor, reversed_minor, session_nonce FROM transactions WHERE response_code = '00'", connection))
        await using (var reader = await cmd.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                var key = (reader.GetString(0), int.Parse(reader.GetString(1), CultureInfo.InvariantCulture), reader.GetString(2));
                Assert.True(rows.TryAdd(key, (reader.GetString(3), reader.GetInt64(4), reader.GetInt64(5), reader.IsDBNull(6) ? null : reader.GetString(6))), $"two approved rows for {key}");
            }
        }

        Assert.Empty(approved.Keys.Except(rows.Keys));
        Assert.Empty(rows.Keys.Except(approved.Keys));
        foreach (var (key, row) in rows)
        {
            var seen = approved[key];
            Assert.Equal(seen.Account, row.Account);
            Assert.Equal(seen.Amount, row.Amount);
            Assert.True(row.Reversed <= row.Amount, $"{key}: reversed {row.Reversed} of {row.Amount}");
            Assert.True(seen.Credited == row.Reversed, $"{key}: the ATMs' reversals credit {seen.Credited}, the row says {row.Reversed}");
        }

        // Each QR session approved at most once.
        Assert.Equal(rows.Count, rows.Values.Select(r => r.Nonce ?? throw new Xunit.Sdk.XunitException("an approved row without its session nonce")).Distinct().Count());

        // One reversal row per original, and what the reversals credited is what the transactions say was reversed.
        Assert.Equal(0L, await ScalarAsync(connection, "SELECT count(*) FROM (SELECT 1 FROM reversals GROUP BY atm_id, orig_stan, orig_transmission HAVING count(*) > 1) d"));
        Assert.Equal(
            await ScalarAsync(connection, "SELECT coalesce(sum(reversed_minor), 0) FROM transactions"),
            await ScalarAsync(connection, "SELECT coalesce(sum(credited_minor), 0) FROM reversals"));

        // Per account and in total: opening − approved withdrawals + reversed amounts = balance; never negative; and the
        // account's ledger entries add up to it.
        long total = 0;
        foreach (var account in accounts)
        {
            var debited = approved.Values.Where(a => a.Account == account).Sum(a => a.Amount);
            var credited = approved.Values.Where(a => a.Account == account).Sum(a => a.Credited);
            var balance = await ScalarAsync(connection, $"SELECT balance_minor FROM accounts WHERE account_id = '{account}'");
            Assert.True(balance >= 0, $"account {account} is negative: {balance}");
            Assert.Equal(Opening - debited + credited, balance);
            Assert.Equal(balance, await ScalarAsync(connection, $"SELECT sum(amount_minor) FROM ledger_entries WHERE account_id = '{account}'"));
            total += balance;
        }

        Assert.Equal((AccountCount * Opening) - approved.Values.Sum(a => a.Amount) + approved.Values.Sum(a => a.Credited), total);
        Assert.Equal(0L, await ScalarAsync(connection, "SELECT count(*) FROM accounts WHERE balance_minor < 0"));

        var totals = await admin.Administration.GetLedgerTotalsAsync();
        Assert.True(totals.Balances, "the host's own ledger check says OUT OF BALANCE");
        Assert.True(totals.LedgerEntriesMatchBalances);
        Assert.Equal(total, totals.SumOfBalancesMinor);
    }

    private static async Task<long> ScalarAsync(NpgsqlConnection connection, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }

    public void Dispose()
    {
        foreach (var process in _hosts)
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
            }

            process.Dispose();
        }

        _server.Dispose();
        try
        {
            _directory.Delete(recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>An approved withdrawal as the ATMs saw it, and what its reversal credited (set once, by its worker).</summary>
    private sealed class Approval(IsoMessage request, string account, long amount)
    {
        public IsoMessage Request { get; } = request;

        public (string Atm, int Stan, string Transmission) Key { get; } = (request.TerminalId!, int.Parse(request.GetString(11)!, CultureInfo.InvariantCulture), request.GetString(7)!);

        public string Account { get; } = account;

        public long Amount { get; } = amount;

        /// <summary>The 0420 that reversed it (null while not reversed); repeats send it again.</summary>
        public IsoMessage? Reversal { get; set; }

        public long Credited { get; set; }
    }

    /// <summary>What one worker's ATMs were told: its approvals and how many of each operation it ran.</summary>
    private sealed class Model
    {
        public List<Approval> Approved { get; } = [];

        public Dictionary<string, int> Counts { get; } = [];

        public void Count(string name) => Counts[name] = Counts.GetValueOrDefault(name) + 1;
    }

    /// <summary>
    /// One of an ATM's workers (<see cref="WorkersPerAtm"/>): its own phones (one per account) and random stream, and the
    /// ATM's two links. Its approvals are its own to reverse, so what each reversal must credit is known.
    /// </summary>
    private sealed class Worker(int index, SimulatedAtm home, SimulatedAtm standby, List<string> accounts, SimulatedPhone[] phones)
    {
        private static readonly long MaxWithdrawal = new Host.Authorisation.HostPolicy().MaxWithdrawalMinor;
        private readonly Random _random = new(Seed + (index * 7919));
        private readonly Model _model = new();

        public async Task<Model> RunAsync(int operations)
        {
            for (var op = 0; op < operations; op++)
            {
                var roll = _random.Next(100);
                var unreversed = _model.Approved.Where(a => a.Reversal is null).ToList();
                var reversed = _model.Approved.Where(a => a.Reversal is not null).ToList();
                if (roll < 34)
                {
                    await ValidWithdrawalAsync(Link());
                }
                else if (roll < 40)
                {
                    await OverBalanceAsync();
                }
                else if (roll < 46 && _model.Approved.Count > 0)
                {
                    await RetransmissionAsync(Pick(_model.Approved));
                }
                else if (roll < 52)
                {
                    await SameRequestToBothHostsAsync();
                }
                else if (roll < 58)
                {
                    await QrReusedOnOtherHostAsync();
                }
                else if (roll < 62)
                {
                    await QrRacedThroughBothHostsAsync();
                }
                else if (roll < 76 && unreversed.Count > 0)
                {
                    await ReverseAsync(Pick(unreversed), partial: false, bothHosts: false);
                }
                else if (roll < 83 && unreversed.Count > 0)
                {
                    await ReverseAsync(Pick(unreversed), partial: true, bothHosts: false);
                }
                else if (roll < 88 && unreversed.Count > 0)
                {
                    await ReverseAsync(Pick(unreversed), partial: _random.Next(2) == 0, bothHosts: true);
                }
                else if (roll < 95 && reversed.Count > 0)
                {
                    await RepeatReversalAsync(Pick(reversed));
                }
                else
                {
                    await ValidWithdrawalAsync(Link());
                }
            }

            return _model;
        }

        private T Pick<T>(List<T> items) => items[_random.Next(items.Count)];

        private SimulatedAtm Link() => _random.Next(4) == 0 ? standby : home;

        private (SimulatedAtm First, SimulatedAtm Second) BothLinks() => _random.Next(2) == 0 ? (home, standby) : (standby, home);

        private int Account() => _random.Next(accounts.Count);

        private (IsoMessage Request, int Account, long Amount, Qr.Payload.QrSessionPayload Qr) NewWithdrawal(long? amount = null)
        {
            var account = Account();
            var value = amount ?? _random.Next(100, 2_001);
            var qr = home.IssueSession(value);
            return (home.Withdrawal(phones[account].Request(qr, accounts[account], Pin)), account, value, qr);
        }

        private async Task<IsoMessage> SendAsync(SimulatedAtm link, IsoMessage request)
        {
            var response = await link.SendCheckedAsync(request);
            _model.Count("rc " + response.ResponseCode);
            return response;
        }

        /// <summary>
        /// 00 or 51 (another ATM, on either host, may have drained the account), or 91: the host gave up on a write its
        /// database kept aborting (serialisation failures past PostgresHostStore.MaxAttempts), nothing committed — the
        /// ledger check below proves that no 91 moved money. Nothing else.
        /// </summary>
        private void ExpectFundsDecision(IsoMessage request, int account, long amount, string code)
        {
            Assert.True(code is ResponseCodes.Approved or ResponseCodes.InsufficientFunds or ResponseCodes.IssuerUnavailable, $"a valid {amount} withdrawal answered {code}");
            if (code == ResponseCodes.Approved)
            {
                _model.Approved.Add(new Approval(request, accounts[account], amount));
            }
        }

        private async Task ValidWithdrawalAsync(SimulatedAtm link)
        {
            _model.Count("withdrawal");
            var (request, account, amount, _) = NewWithdrawal();
            ExpectFundsDecision(request, account, amount, (await SendAsync(link, request)).ResponseCode!);
        }

        /// <summary>More than the opening balance, which no balance ever exceeds (reversals give back at most what was taken): 51.</summary>
        private async Task OverBalanceAsync()
        {
            _model.Count("over-balance");
            var (request, _, _, _) = NewWithdrawal(_random.NextInt64(Opening + 1, MaxWithdrawal + 1));
            Assert.Contains((await SendAsync(Link(), request)).ResponseCode, new[] { ResponseCodes.InsufficientFunds, ResponseCodes.IssuerUnavailable });
        }

        /// <summary>An approved 0200 sent again, byte for byte (same STAN and transmission time), to either host: 94, no second debit.</summary>
        private async Task RetransmissionAsync(Approval earlier)
        {
            _model.Count("retransmission");
            var code = (await SendAsync(Link(), earlier.Request)).ResponseCode;

            // The host checks the QR session's expiry (2 minutes, SimulatedAtm.IssueSession's default) before the duplicate:
            // on a loaded machine an approval can be retransmitted after that, and 54 is then as right as 94 (no second
            // debit either; the ledger check below counts it). Field 7 is whole seconds, the expiry rounded down: 5 s slack.
            var sentAt = earlier.Request.GetTransmissionDateTime(DateTimeOffset.UtcNow)!.Value;
            string[] allowed = DateTimeOffset.UtcNow - sentAt >= TimeSpan.FromMinutes(2) - TimeSpan.FromSeconds(5)
                ? [ResponseCodes.DuplicateTransmission, ResponseCodes.IssuerUnavailable, ResponseCodes.SessionExpired]
                : [ResponseCodes.DuplicateTransmission, ResponseCodes.IssuerUnavailable];
            Assert.Contains(code, allowed);
        }

        /// <summary>One 0200 sent to both hosts at once: one decides (00 or 51), the other says 94.</summary>
        private async Task SameRequestToBothHostsAsync()
        {
            _model.Count("same 0200 to both hosts");
            var (request, account, amount, _) = NewWithdrawal();
            var (first, second) = BothLinks();
            var codes = await Task.WhenAll(SendAsync(first, request), SendAsync(second, request.Clone()));
            var decided = codes.Select(c => c.ResponseCode!).Where(c => c is not (ResponseCodes.DuplicateTransmission or ResponseCodes.IssuerUnavailable)).ToList();
            Assert.True(decided.Count <= 1, $"the same 0200 through both hosts answered {codes[0].ResponseCode} and {codes[1].ResponseCode}");
            if (decided.Count == 1)
            {
                ExpectFundsDecision(request, account, amount, decided[0]);
            }
        }

        /// <summary>A session used through one host (00 or 51), then presented again (a new 0200) through the other: 94.</summary>
        private async Task QrReusedOnOtherHostAsync()
        {
            _model.Count("QR reused on the other host");
            var (request, account, amount, qr) = NewWithdrawal();
            var (first, second) = BothLinks();
            var code = (await SendAsync(first, request)).ResponseCode!;
            ExpectFundsDecision(request, account, amount, code);
            var again = home.Withdrawal(phones[account].Request(qr, accounts[account], Pin));
            var reused = (await SendAsync(second, again)).ResponseCode;
            if (code != ResponseCodes.IssuerUnavailable)
            {
                // Approved or declined for funds, the session was used (the nonce is consumed before the balance is read).
                Assert.Contains(reused, new[] { ResponseCodes.DuplicateTransmission, ResponseCodes.IssuerUnavailable });
            }
            else
            {
                ExpectFundsDecision(again, account, amount, reused!);
            }
        }

        /// <summary>Two 0200s (different STANs) on one session through both hosts at once: at most one approved, the other 94.</summary>
        private async Task QrRacedThroughBothHostsAsync()
        {
            _model.Count("QR raced through both hosts");
            // Two customers (a photographed QR code): a phone's own two requests would race on its DUKPT counter instead (63).
            var (request, account, amount, qr) = NewWithdrawal();
            var otherAccount = (account + 1 + _random.Next(accounts.Count - 1)) % accounts.Count;
            var other = home.Withdrawal(phones[otherAccount].Request(qr, accounts[otherAccount], Pin));
            var (first, second) = BothLinks();
            var codes = await Task.WhenAll(SendAsync(first, request), SendAsync(second, other));
            var a = codes[0].ResponseCode!;
            var b = codes[1].ResponseCode!;
            Assert.False(a == ResponseCodes.Approved && b == ResponseCodes.Approved, "one QR session approved twice through two hosts");
            if (a == ResponseCodes.Approved || b == ResponseCodes.Approved)
            {
                Assert.True(a is ResponseCodes.DuplicateTransmission or ResponseCodes.IssuerUnavailable || b is ResponseCodes.DuplicateTransmission or ResponseCodes.IssuerUnavailable, $"one QR session through two hosts answered {a} and {b}");
            }

            foreach (var (message, owner, code) in new[] { (request, account, a), (other, otherAccount, b) })
            {
                if (code != ResponseCodes.DuplicateTransmission)
                {
                    ExpectFundsDecision(message, owner, amount, code);
                }
            }
        }

        /// <summary>
        /// A full or partial 0420 for an approved withdrawal, to either host (so often the other than the 0200's), or the
        /// same 0420 to both at once: 00 everywhere, the amount not dispensed credited once.
        /// </summary>
        private async Task ReverseAsync(Approval approval, bool partial, bool bothHosts)
        {
            _model.Count(bothHosts ? "0420 to both hosts" : partial ? "partial reversal" : "full reversal");
            long? dispensed = partial ? _random.NextInt64(0, approval.Amount) : null;
            var link = Link();
            var reversal = link.Reversal(approval.Request, dispensed, repeat: _random.Next(3) == 0);
            string[] codes;
            if (bothHosts)
            {
                var (first, second) = BothLinks();
                codes = [.. (await Task.WhenAll(SendAsync(first, reversal), SendAsync(second, reversal.Clone()))).Select(c => c.ResponseCode!)];
            }
            else
            {
                codes = [(await SendAsync(link, reversal)).ResponseCode!];
            }

            Assert.All(codes, c => Assert.Contains(c, new[] { ResponseCodes.Approved, ResponseCodes.IssuerUnavailable }));

            // As the terminal's reversal queue does: a 0420 the host could not take is sent again (0421) until it is.
            for (var retry = 0; !codes.Contains(ResponseCodes.Approved); retry++)
            {
                Assert.True(retry < 20, "a reversal the host kept answering 91");
                codes = [(await SendAsync(Link(), link.Reversal(approval.Request, dispensed, repeat: true))).ResponseCode!];
                Assert.Contains(codes[0], new[] { ResponseCodes.Approved, ResponseCodes.IssuerUnavailable });
            }

            approval.Reversal = reversal;
            approval.Credited = approval.Amount - (dispensed ?? 0);
        }

        /// <summary>A reversal sent again (the same 0420, or a 0421 repeat with a fresh STAN) to either host: 00, nothing credited twice.</summary>
        private async Task RepeatReversalAsync(Approval approval)
        {
            _model.Count("repeated reversal");
            var link = Link();
            var again = _random.Next(2) == 0
                ? approval.Reversal!
                : link.Reversal(approval.Request, approval.Reversal!.ReplacementAmountMinor, repeat: true);
            Assert.Contains((await SendAsync(link, again)).ResponseCode, new[] { ResponseCodes.Approved, ResponseCodes.IssuerUnavailable });
        }
    }
}

/// <summary>A fact that needs the PostgreSQL server of <see cref="PostgresTestServer"/>: skipped without it, failed without it under <c>CI=true</c>.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class PostgresFactAttribute : FactAttribute
{
    public PostgresFactAttribute()
    {
        if (PostgresTestServer.SkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}
