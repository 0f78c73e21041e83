using System.Net;
using CardlessAtm.Host.Seeding;
using CardlessAtm.Host.Server;
using CardlessAtm.Host.Storage;
using CardlessAtm.Host.Storage.Sqlite;
using CardlessAtm.Host.Tests.Support;
using CardlessAtm.Iso8583;
using CardlessAtm.Network;
using CardlessAtm.Security;

namespace CardlessAtm.Host.Tests.Tcp;

/// <summary>The host process is killed after it committed an approval and before it answered.</summary>
public sealed class CrashRecoveryTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Killed_between_approval_and_response_the_ledger_is_consistent_and_the_atms_reversal_settles_it()
    {
        var options = HostHarness.Options(_dir);
        DemoSeedResult seed;
        await using (var setup = await HostServer.OpenAsync(options))
        {
            seed = await DemoSeed.SeedAsync(setup);
        }

        using (seed)
        {
            var customer = seed.Customers[0];
            var profile = SecurityProfiles.Create(options.Profile);
            using var phone = new SimulatedPhone(profile, seed.Phones[0].InitialKey, seed.Phones[0].InitialKsn);

            // 1. A host that hangs after committing: the ATM's 0200 is approved on disk, never answered.
            IsoMessage original;
            using (var doomed = await HostProcess.StartAsync(options.DatabasePath, options.KeyVaultPath, hangAfterCommit: true))
            {
                await using var atm = new SimulatedAtm(profile, DemoSeed.AtmId, seed.Atm.MasterKey, new IPEndPoint(IPAddress.Loopback, doomed.Port));
                await atm.ConnectAsync();
                await atm.SignOnAndChangeKeysAsync();
                original = atm.Withdrawal(phone.Request(atm.IssueSession(40_000), customer.AccountId, customer.Pin));
                var pending = atm.SendAsync(original);
                Assert.Equal(original.GetString(11), await doomed.WaitForCommitAsync());
                doomed.Kill();
                await Assert.ThrowsAnyAsync<Exception>(() => pending);

                // 2. The approval survived the kill: the debit and the transaction are both on disk.
                await using (var store = SqliteHostStore.Open(options.DatabasePath))
                {
                    var tx = await store.ReadAsync(r => r.FindTransaction(new RequestKey(DemoSeed.AtmId, original.GetString(11)!, original.GetString(7)!)));
                    Assert.Equal(ResponseCodes.Approved, tx!.ResponseCode);
                    Assert.Equal(customer.OpeningBalanceMinor - 40_000, (await store.ReadAsync(r => r.GetAccount(customer.AccountId)))!.BalanceMinor);
                    Assert.True((await store.ReadAsync(r => r.GetLedgerTotals())).Balances);
                }

                // 3. Restarted on the same files, the host takes the ATM's reversal (it never got an answer).
                using var restarted = await HostProcess.StartAsync(options.DatabasePath, options.KeyVaultPath, hangAfterCommit: false);
                await using var reconnected = new SimulatedAtm(profile, DemoSeed.AtmId, seed.Atm.MasterKey, new IPEndPoint(IPAddress.Loopback, restarted.Port));
                await reconnected.ConnectAsync();
                await reconnected.ShareKeysWithAsync(atm);
                var reversal = await reconnected.SendCheckedAsync(reconnected.Reversal(original));
                Assert.Equal(ResponseCodes.Approved, reversal.ResponseCode);
                var repeat = await reconnected.SendCheckedAsync(reconnected.Reversal(original, repeat: true));
                Assert.Equal(ResponseCodes.Approved, repeat.ResponseCode);

                // The same session cannot be spent again after the restart.
                var spentSession = Qr.Payload.QrPayloadFormat.Parse(original.SessionPayload!).Payload!;
                var replay = await reconnected.SendCheckedAsync(reconnected.Withdrawal(phone.Request(spentSession, customer.AccountId, customer.Pin)));
                Assert.Equal(ResponseCodes.DuplicateTransmission, replay.ResponseCode);
            }

            await using var check = SqliteHostStore.Open(options.DatabasePath);
            Assert.Equal(customer.OpeningBalanceMinor, (await check.ReadAsync(r => r.GetAccount(customer.AccountId)))!.BalanceMinor);
            var totals = await check.ReadAsync(r => r.GetLedgerTotals());
            Assert.True(totals.Balances);
            Assert.Equal((40_000L, 40_000L), (totals.ApprovedWithdrawalsMinor, totals.ReversalsMinor));
        }
    }
}
