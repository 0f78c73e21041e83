using CardlessAtm.Devices.Sensors;
using CardlessAtm.Host.Seeding;
using CardlessAtm.Iso8583;
using CardlessAtm.Terminal.Journal;
using CardlessAtm.Terminal.Links;
using CardlessAtm.Terminal.StoreAndForward;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Terminal.Tests.MoneyPath;

/// <summary>
/// A reversal the host refuses 63 because the ATM's session key changed under it (here: two key changes for
/// ATM00001 from a second authenticated connection, so the terminal's key is neither the host's current nor its
/// previous one) is not lost: the forwarder re-keys (sign-on + key change on its open link) and repeats it as 0421,
/// the host credits it once and answers 00. Real host over loopback, real terminal, real forwarder and host link.
/// </summary>
public class ReversalAfterRekeyTests
{
    [Fact]
    public async Task A_reversal_refused_63_after_a_key_change_is_repeated_after_the_terminal_rekeys_and_credited_once()
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
            }
        };
        var qr = await lab.ShowQrAsync(80);

        var reply = await lab.SendAsync(lab.PhoneRequest(qr));
        Assert.Equal(ResponseCodes.SystemMalfunction, reply.ResponseCode);
        Assert.Equal(versionBefore + 2, (await lab.Host.Store.ReadAsync(r => r.GetAtm(DemoSeed.AtmId)!)).SessionKeyVersion);
        await lab.WaitForReversalsDeliveredAsync();

        var journal = lab.Journal().Entries;
        var refused = Assert.Single(journal.OfType<ReversalNotAcknowledged>());
        Assert.Equal(ResponseCodes.SecurityViolation, refused.Response);
        Assert.Equal(nameof(ReversalDisposition.RekeyThenRetry), refused.Disposition);
        Assert.Equal(1, refused.Attempts);
        var acknowledged = Assert.Single(journal.OfType<ReversalAcknowledged>());
        Assert.Equal(ResponseCodes.Approved, acknowledged.Response);
        Assert.Equal(2, acknowledged.Attempts);
        Assert.Equal(refused.Id, acknowledged.Id);

        Assert.Equal(0, lab.Terminal.Reversals.Store.Depth);
        Assert.Equal(0, lab.Terminal.Reversals.StuckCount);
        Assert.Equal(0, lab.Dispenser.PresentedTotal);
        Assert.Equal(before, await lab.BalanceAsync()); // credited back exactly once
        var atm = await lab.Host.Store.ReadAsync(r => r.GetAtm(DemoSeed.AtmId)!);
        Assert.Equal(versionBefore + 3, atm.SessionKeyVersion); // the terminal's own key change after the 63

        // The terminal holds the host's current keys: the next customer is served and charged once.
        lab.Sensors.Set("Cassette3", SensorState.Normal);
        var next = await lab.ShowQrAsync(30);
        Assert.Equal(ResponseCodes.Approved, (await lab.SendAsync(lab.PhoneRequest(next))).ResponseCode);
        Assert.Equal(before - 3_000, await lab.BalanceAsync());
        Assert.Equal(0, lab.Terminal.Reversals.Store.Depth);
    }
}
