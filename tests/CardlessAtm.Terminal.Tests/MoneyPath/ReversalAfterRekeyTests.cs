using CardlessAtm.Devices.Sensors;
using CardlessAtm.Host.Seeding;
using CardlessAtm.Iso8583;
using CardlessAtm.Network;
using CardlessAtm.Terminal.Journal;
using CardlessAtm.Terminal.Links;
using CardlessAtm.Terminal.StoreAndForward;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Terminal.Tests.MoneyPath;

/// <summary>
/// A reversal queued while the ATM's session keys change under it (here: a second authenticated connection of ATM00001
/// signs on and changes the keys twice, so the terminal's key is neither the host's current nor its previous one, and
/// the host closes the terminal's connection because the newer sign-on supersedes it) is not lost: the terminal
/// connects again, signs on, re-keys and repeats the reversal (a 63 on the way, if its first try went out under the
/// old key, only means "re-key, then retry"); the host credits it once and answers 00. Real host over loopback, real
/// terminal, real forwarder and host link. The forwarder's 63 → re-key path on an open link is unit-tested in
/// <c>MutationKillTests</c>.
/// </summary>
public class ReversalAfterRekeyTests
{
    [Fact]
    public async Task A_reversal_queued_while_another_connection_rekeys_the_atm_is_delivered_after_the_terminal_signs_on_again_and_credited_once()
    {
        // Echo tests far apart: the re-key must come from the forwarder's 63, not from an echo noticing the stale key.
        await using var lab = await Lab.StartAsync(configure: o => o.EchoInterval = TimeSpan.FromDays(1));
        var before = await lab.BalanceAsync();
        var versionBefore = (await lab.Host.Store.ReadAsync(r => r.GetAtm(DemoSeed.AtmId)!)).SessionKeyVersion;
        await using var other = new HostLink(
            new TerminalOptions
            {
                AtmId = DemoSeed.AtmId,
                DataDirectory = Path.GetTempPath(),
                KeyStore = Path.GetTempPath(),
                Host = new EndpointOptions { Address = "127.0.0.1", Port = lab.Host.LocalEndPoint.Port },
                Proxy = new EndpointOptions { Port = 9 },
                EchoInterval = TimeSpan.FromDays(1),
            },
            lab.Host.Profile,
            lab.AtmMasterKey(),
            new StanGenerator(500),
            TimeProvider.System,
            NullLogger.Instance);
        lab.Terminal.Journal.Written += e =>
        {
            if (e is AuthoriseRequested { Amount.AmountMinor: 8_000 })
            {
                lab.Sensors.Set("Cassette3", SensorState.Alert); // the host approves, the ATM cannot dispense: a full reversal
            }
            else if (e is ReversalQueued)
            {
                // Before the forwarder is woken: the host moves the ATM two key versions on (sign-on + key change, then one more).
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
                other.StartAsync(timeout.Token).GetAwaiter().GetResult();
                other.WaitUntilReadyAsync(timeout.Token).GetAwaiter().GetResult();
                other.RekeyAsync(timeout.Token).GetAwaiter().GetResult();
                other.DisposeAsync().AsTask().GetAwaiter().GetResult(); // signs off: otherwise two links of one ATM would supersede each other in turn
            }
        };
        var qr = await lab.ShowQrAsync(80);

        var reply = await lab.SendAsync(lab.PhoneRequest(qr));
        Assert.Equal(ResponseCodes.SystemMalfunction, reply.ResponseCode);
        Assert.Equal(versionBefore + 2, (await lab.Host.Store.ReadAsync(r => r.GetAtm(DemoSeed.AtmId)!)).SessionKeyVersion);
        await lab.WaitForReversalsDeliveredAsync();

        var journal = lab.Journal().Entries;
        var acknowledged = Assert.Single(journal.OfType<ReversalAcknowledged>());
        Assert.Equal(ResponseCodes.Approved, acknowledged.Response);
        foreach (var refused in journal.OfType<ReversalNotAcknowledged>())
        {
            Assert.Equal(ResponseCodes.SecurityViolation, refused.Response);
            Assert.Equal(nameof(ReversalDisposition.RekeyThenRetry), refused.Disposition);
            Assert.Equal(acknowledged.Id, refused.Id);
        }

        Assert.Equal(0, lab.Terminal.Reversals.Store.Depth);
        Assert.Equal(0, lab.Terminal.Reversals.StuckCount);
        Assert.Equal(0, lab.Dispenser.PresentedTotal);
        Assert.Equal(before, await lab.BalanceAsync()); // credited back exactly once
        var atm = await lab.Host.Store.ReadAsync(r => r.GetAtm(DemoSeed.AtmId)!);
        Assert.True(atm.SessionKeyVersion >= versionBefore + 3, $"version {atm.SessionKeyVersion}"); // the terminal's own key change after the two

        // The terminal holds the host's current keys: the next customer is served and charged once.
        lab.Sensors.Set("Cassette3", SensorState.Normal);
        var next = await lab.ShowQrAsync(30);
        Assert.Equal(ResponseCodes.Approved, (await lab.SendAsync(lab.PhoneRequest(next))).ResponseCode);
        Assert.Equal(before - 3_000, await lab.BalanceAsync());
        Assert.Equal(0, lab.Terminal.Reversals.Store.Depth);
    }
}
