using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Host.Administration;
using CardlessAtm.Host.Server;
using CardlessAtm.Host.Storage;
using CardlessAtm.Host.Tests.Support;
using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Mac;
using CardlessAtm.Network;
using CardlessAtm.Phone;
using CardlessAtm.Phone.Withdrawal;
using CardlessAtm.Qr.Payload;
using CardlessAtm.Security;
using CardlessAtm.Terminal.Journal;
using Npgsql;
using Xunit.Abstractions;

namespace CardlessAtm.EndToEnd.Tests;

/// <summary>
/// The money path across a host crash, with real <c>cardless-atm host run</c> processes on one PostgreSQL ledger: host A
/// SIGKILLs itself (<c>CARDLESSATM_HOST_KILL_AFTER=withdrawal-approved</c>) after it committed an approved debit and
/// before its 0210 was written, so the ATM never hears the approval. As the terminal does (docs/scale-out.md, "Host
/// failover"), the ATM dispenses nothing, signs on at host B with a key change, and sends B the full reversal; then the
/// adversary replays: the 0420 again to B, the original 0200 and a new 0200 on the same QR to B, and once A is back (the
/// ATM's key changed at B meanwhile) the 0421 and the original 0200 to A. Asserted on response codes and the ledger read
/// with SQL: the customer's balance comes back exactly once, the QR session stays used, the books balance.
/// </summary>
[Collection("processes")]
public sealed class HostCrashFailoverTests(ITestOutputHelper output) : IDisposable
{
    private const long Opening = 100_000;
    private const long Amount = 5_000;
    private const string Pin = "1357";
    private const string AtmId = "CRSH0001";

    private readonly PostgresTestServer _server = new();
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("cardless-crash16-");
    private readonly List<(Process Process, ConcurrentQueue<string> Lines)> _hosts = [];

    [PostgresFact]
    public async Task Host_killed_after_committing_an_approval_the_reversal_at_the_other_host_credits_once_and_the_QR_stays_used()
    {
        var connectionString = _server.CreateDatabase();
        using var kek = SecretKey.Generate(KeyAlgorithm.Aes256);
        var options = new HostServerOptions
        {
            DatabasePath = Path.Combine(_directory.FullName, "unused.db"),
            KeyVaultPath = Path.Combine(_directory.FullName, "unused-keys"),
            Store = new HostStoreOptions { Kind = HostStoreKind.Postgres, ConnectionString = connectionString },
            Keys = new HostKeyOptions { KekPath = WriteKek("admin", kek) },
        };
        await using var admin = await HostServer.OpenAsync(options);
        const string account = "170000000001";
        await admin.Administration.AddAccountAsync(new NewAccount(account, "Crash", 978, Opening, DailyAmountLimitMinor: 1_000_000, DailyCountLimit: 1_000), Pin);
        var provisioning = await admin.Administration.AddAtmAsync(AtmId, "crash test", 978);
        using var masterKey = provisioning.MasterKey;
        var enrolment = await admin.Administration.EnrolPhoneAsync(account);
        using var phone = new SimulatedPhone(admin.Profile, enrolment.InitialKey, enrolment.InitialKsn);
        enrolment.InitialKey.Dispose();

        var kekA = WriteKek("hostA", kek);
        var portA = await StartHostAsync("A", kekA, connectionString, killAfterApproval: true);
        var portB = await StartHostAsync("B", WriteKek("hostB", kek), connectionString, killAfterApproval: false);
        var hostA = _hosts[0].Process;

        try
        {
            // 1. The 0200 to A: A commits the debit and dies before the 0210; the ATM gets no answer.
            await using var linkA = new SimulatedAtm(admin.Profile, AtmId, masterKey, new IPEndPoint(IPAddress.Loopback, portA));
            await linkA.ConnectAsync();
            await linkA.SignOnAndChangeKeysAsync();
            var qr = linkA.IssueSession(Amount);
            var withdrawal = linkA.Withdrawal(phone.Request(qr, account, Pin));
            var send = linkA.SendAsync(withdrawal);
            using (var exit = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
            {
                await hostA.WaitForExitAsync(exit.Token);
            }

            var answered = await Record(send);
            Assert.True(answered is null, $"host A answered {answered?.Mti} {answered?.ResponseCode} although it was killed before writing the 0210");
            Assert.Equal(Opening - Amount, await BalanceAsync(admin, account)); // A did commit: the ATM must not dispense, and reverses
            Assert.Equal(1L, await ScalarAsync(connectionString, "SELECT count(*) FROM transactions WHERE response_code = '00'"));

            // 2. The ATM fails over to B: signs on with a key change (a new session key version at B) and sends the full 0420.
            await using var linkB = new SimulatedAtm(admin.Profile, AtmId, masterKey, new IPEndPoint(IPAddress.Loopback, portB));
            await linkB.ConnectAsync();
            await linkB.SignOnAndChangeKeysAsync();
            var reversal = linkB.Reversal(withdrawal, reasonCode: "68"); // 68: no response from the host
            Assert.Equal(ResponseCodes.Approved, (await linkB.SendCheckedAsync(reversal)).ResponseCode);
            Assert.Equal(Opening, await BalanceAsync(admin, account));

            // 3. The same 0420 again to B: 00, nothing credited twice.
            Assert.Equal(ResponseCodes.Approved, (await linkB.SendCheckedAsync(reversal.Clone())).ResponseCode);
            Assert.Equal(Opening, await BalanceAsync(admin, account));

            // 4. Single use across hosts: the original 0200 byte for byte to B, and a new 0200 (fresh STAN, MAC and phone
            // cryptogram) on the same QR session to B — neither approved, no money moves.
            var replayed = await linkB.SendAsync(withdrawal.Clone());
            Assert.NotEqual(ResponseCodes.Approved, replayed.ResponseCode);
            output.WriteLine($"original 0200 replayed to B: {replayed.ResponseCode}");
            // The session's nonce under B's new key (the QR A's key MACed is refused 63 at B for its MAC alone): still used.
            var sameSession = QrPayloadFormat.Create(qr.Fields, linkB.QrMac);
            var reused = await linkB.SendCheckedAsync(linkB.Withdrawal(phone.Request(sameSession, account, Pin)));
            Assert.Equal(ResponseCodes.DuplicateTransmission, reused.ResponseCode);
            Assert.Equal(Opening, await BalanceAsync(admin, account));

            // 5. A comes back while the ATM is on B (its key changed at B). The ATM's SAF repeat (0421) and the original
            // 0200 reach A over a link that signs on there without a key change (B's keys, read from the shared vault).
            _hosts.RemoveAt(0);
            hostA.Dispose();
            var portA2 = await StartHostAsync("A", kekA, connectionString, killAfterApproval: false);
            await using var linkA2 = new SimulatedAtm(admin.Profile, AtmId, masterKey, new IPEndPoint(IPAddress.Loopback, portA2));
            await linkA2.ConnectAsync();
            await linkA2.ShareKeysWithAsync(linkB);
            var repeat = linkB.Reversal(withdrawal, repeat: true, reasonCode: "68");
            repeat.Stan = reversal.Stan;
            repeat.SetTransmissionDateTime(reversal.GetTransmissionDateTime(DateTimeOffset.UtcNow)!.Value);
            MessageMac.Apply(repeat, linkB.IsoMac);
            Assert.Equal(ResponseCodes.Approved, (await linkA2.SendCheckedAsync(repeat)).ResponseCode);
            Assert.Equal(ResponseCodes.Approved, (await linkA2.SendCheckedAsync(reversal.Clone())).ResponseCode);
            var replayedToA = await linkA2.SendAsync(withdrawal.Clone());
            Assert.NotEqual(ResponseCodes.Approved, replayedToA.ResponseCode);
            var reusedAtA = await linkA2.SendCheckedAsync(linkA2.Withdrawal(phone.Request(sameSession, account, Pin)));
            Assert.Equal(ResponseCodes.DuplicateTransmission, reusedAtA.ResponseCode);

            // The ledger, read with SQL: one approved debit, reversed in full once; the balance is the opening one.
            Assert.Equal(Opening, await BalanceAsync(admin, account));
            Assert.Equal(Opening, await ScalarAsync(connectionString, $"SELECT sum(amount_minor) FROM ledger_entries WHERE account_id = '{account}'"));
            Assert.Equal(1L, await ScalarAsync(connectionString, "SELECT count(*) FROM transactions WHERE response_code = '00'"));
            Assert.Equal(Amount, await ScalarAsync(connectionString, "SELECT coalesce(sum(reversed_minor), 0) FROM transactions"));
            Assert.Equal(1L, await ScalarAsync(connectionString, "SELECT count(*) FROM reversals"));
            Assert.Equal(Amount, await ScalarAsync(connectionString, "SELECT coalesce(sum(credited_minor), 0) FROM reversals"));
            var totals = await admin.Administration.GetLedgerTotalsAsync();
            Assert.True(totals.Balances, "the host's ledger check says OUT OF BALANCE");
            Assert.Equal(Amount, totals.ApprovedWithdrawalsMinor);
            Assert.Equal(Amount, totals.ReversalsMinor);
        }
        catch (Exception)
        {
            foreach (var (_, lines) in _hosts)
            {
                foreach (var line in lines.TakeLast(40))
                {
                    output.WriteLine(line);
                }
            }

            throw;
        }
    }

    /// <summary>
    /// The real terminal process on the money path: its host list is A then B (<c>Terminal:Host:Failover:0</c>); A commits
    /// the 80.00 debit and dies before the 0210. The terminal must dispense nothing, queue the full reversal, move to B
    /// and have B apply it once: the balance comes back, the SAF queue empties, the cassettes are untouched, and the next
    /// withdrawal is served by B.
    /// </summary>
    [PostgresFact]
    public async Task Terminal_whose_host_dies_after_committing_the_debit_dispenses_nothing_and_B_applies_its_reversal_once()
    {
        var connectionString = _server.CreateDatabase();
        using var kek = SecretKey.Generate(KeyAlgorithm.Aes256);
        await using var network = await Network.StartOnPostgresAsync(connectionString, kek);
        var tls = network.HostTls();
        var portA = await StartHostAsync("A", WriteKek("hostA", kek), connectionString, killAfterApproval: true, tls);
        var portB = await StartHostAsync("B", WriteKek("hostB", kek), connectionString, killAfterApproval: false, tls);
        var hostA = _hosts[0].Process;
        try
        {
            network.UseHostPort(portA);
            var terminal = await network.StartTerminalAsync(hostTimeout: TimeSpan.FromSeconds(10), hostFailoverPorts: [portB]);
            var before = await network.BalanceAsync();
            var qr = await Network.ShowQrAsync(terminal, 80);
            WithdrawalOutcome? outcome = null;
            try
            {
                outcome = await network.WithdrawAsync(network.Phone(), qr);
            }
            catch (PhoneInputException)
            {
                // The ATM may report the failure as a link error; what matters is what it dispensed and the ledger.
            }

            using (var exit = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
            {
                await hostA.WaitForExitAsync(exit.Token);
            }

            Assert.NotEqual(WithdrawalStatus.Approved, outcome?.Status);
            Assert.Equal(1L, await ScalarAsync(connectionString, "SELECT count(*) FROM transactions WHERE response_code = '00'")); // A did commit it

            // The reversal reaches B over the failover link and is applied once: balance back, SAF empty, no notes out.
            await network.AssertReconciledAsync(terminal);
            Assert.Equal(before, await network.BalanceAsync());
            Assert.Equal(0, await Network.PresentedValueAsync(terminal));
            var units = (await new JsonFileCashUnitStore(terminal.CashUnitsPath).LoadAsync(CancellationToken.None))!;
            Assert.All(units, u => Assert.Equal(500, u.Count));
            var queued = Assert.Single(ElectronicJournal.ReadAll(terminal.JournalPath).OfType<ReversalQueued>());
            Assert.Equal(8_000, queued.Amount.AmountMinor);
            Assert.Equal(1L, await ScalarAsync(connectionString, "SELECT count(*) FROM reversals"));
            Assert.Equal(8_000L, await ScalarAsync(connectionString, "SELECT coalesce(sum(credited_minor), 0) FROM reversals"));

            // The ATM serves the next customer through B.
            var next = await network.WithdrawAsync(network.Phone(), await Network.ShowQrAsync(terminal, 80));
            Assert.Equal(WithdrawalStatus.Approved, next.Status);
            await network.AssertReconciledAsync(terminal);
            Assert.Equal(before - 8_000, await network.BalanceAsync());
            Assert.Equal(8_000, await Network.PresentedValueAsync(terminal));
        }
        catch (Exception)
        {
            foreach (var (_, lines) in _hosts)
            {
                foreach (var line in lines.TakeLast(40))
                {
                    output.WriteLine(line);
                }
            }

            throw;
        }
    }

    private static async Task<IsoMessage?> Record(Task<IsoMessage> send)
    {
        try
        {
            return await send.WaitAsync(TimeSpan.FromSeconds(60));
        }
        catch (Exception e) when (e is not TimeoutException)
        {
            return null; // the connection closed before an answer: what the terminal sees when its host dies
        }
    }

    private static async Task<long> BalanceAsync(HostServer admin, string account) =>
        (await admin.Administration.GetAccountAsync(account))!.BalanceMinor;

    private static async Task<long> ScalarAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }

    private string WriteKek(string owner, SecretKey kek)
    {
        var store = new FileKeyStore(Path.Combine(_directory.FullName, owner + "-kek"));
        store.SaveKey("kek", kek);
        return store.PathOf("kek");
    }

    private async Task<int> StartHostAsync(string name, string kekPath, string connectionString, bool killAfterApproval, (string CertificatePath, string PrivateKeyPath)? tls = null)
    {
        var workDirectory = Directory.CreateDirectory(Path.Combine(_directory.FullName, "host" + name + _hosts.Count)).FullName;
        string[] transport = tls is { } t
            ? ["--set", "Host:Tls:CertificatePath=" + t.CertificatePath, "--set", "Host:Tls:PrivateKeyPath=" + t.PrivateKeyPath]
            : ["--set", "Host:Insecure=true"];
        var (process, lines) = CliRun.Start(
            workDirectory,
            new Dictionary<string, string?> { ["CARDLESSATM_HOST_KILL_AFTER"] = killAfterApproval ? "withdrawal-approved" : null },
            [
                "host", "--keys", Path.Combine(workDirectory, "unused-keys"), "run", "--port", "0",
                "--set", "Host:Keys:KekPath=" + kekPath,
                "--set", "Host:Store:Kind=Postgres",
                "--set", "Host:Store:ConnectionString=" + connectionString,
                .. transport,
            ]);
        _hosts.Add((process, lines));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            foreach (var line in lines)
            {
                var match = Regex.Match(line, @"^host: listening on 127\.0\.0\.1:(\d+) ");
                if (match.Success)
                {
                    return int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
                }
            }

            Assert.False(process.HasExited, $"host {name} ended before listening:\n{string.Join('\n', lines)}");
            await Task.Delay(50, timeout.Token);
        }
    }

    public void Dispose()
    {
        foreach (var (process, _) in _hosts)
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
}
