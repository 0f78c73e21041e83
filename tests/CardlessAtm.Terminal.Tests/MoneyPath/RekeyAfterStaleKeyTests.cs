using CardlessAtm.Host.Seeding;
using CardlessAtm.Host.Storage;
using CardlessAtm.Iso8583;
using CardlessAtm.Network;
using CardlessAtm.Terminal.Journal;

namespace CardlessAtm.Terminal.Tests.MoneyPath;

/// <summary>
/// Issue 13 item 4: the host rotates the ATM's session keys while the terminal's connection stays open (here written
/// straight into the host's store and vault, as a key rotation at the host or a restored database would, with no grace
/// for the terminal's key), so the terminal holds a stale key. The first withdrawal fails as the money rules say (the
/// host refuses it 63 under its new key, the terminal cannot verify that answer: 96 to the phone, a full reversal), and
/// then the terminal re-keys before it offers the next withdrawal, which is approved and dispensed. When the host keeps
/// refusing the key change, the terminal stays out of service after Terminal:Rekey:MaxAttempts attempts, with capped
/// exponential back-off between them, and pays out nothing. Real host over loopback, real terminal.
/// </summary>
public class RekeyAfterStaleKeyTests
{
    [Fact]
    public async Task After_the_host_rotates_the_keys_the_terminal_rekeys_before_the_next_withdrawal_which_is_approved_and_dispensed()
    {
        // Echo tests far apart: the re-key must come from the 0200's answer, not from an echo noticing the stale key.
        await using var lab = await Lab.StartAsync(configure: o => o.EchoInterval = TimeSpan.FromDays(1));
        var before = await lab.BalanceAsync();
        var cashBefore = CashCounts(lab);
        var rotated = await RotateKeysAtHostAsync(lab);
        Assert.Equal(rotated - 1, lab.Terminal.HostKeyVersion); // the terminal still holds the replaced key

        var qr = await lab.ShowQrAsync(80);
        var reply = await lab.SendAsync(lab.PhoneRequest(qr));

        // The money rules are unchanged: the host's 63 cannot be verified under the stale key, so it is not acted on.
        Assert.Equal(ResponseCodes.SystemMalfunction, reply.ResponseCode);
        var answered = Assert.Single(lab.Journal().Entries.OfType<AuthoriseAnswered>());
        Assert.Equal((ResponseCodes.SecurityViolation, false), (answered.Response, answered.MacVerified));
        var queued = Assert.Single(lab.Journal().Entries.OfType<ReversalQueued>());
        Assert.Equal(("full", ReversalReasons.InvalidResponse), (queued.Kind, queued.ReasonCode));

        // The next customer: the terminal has re-keyed before it offered the withdrawal.
        var next = await lab.ShowQrAsync(30);
        var atm = await lab.Host.Store.ReadAsync(r => r.GetAtm(DemoSeed.AtmId)!);
        Assert.True(atm.SessionKeyVersion > rotated, $"host key version {atm.SessionKeyVersion}, rotated to {rotated}");
        Assert.Equal(atm.SessionKeyVersion, lab.Terminal.HostKeyVersion);
        var approved = await lab.SendAsync(lab.PhoneRequest(next));
        Assert.Equal(ResponseCodes.Approved, approved.ResponseCode);
        Assert.Equal(2, lab.Dispenser.PresentedTotal); // 20 + 10 for 30 EUR (the 80 EUR was never dispensed)
        Assert.Equal(cashBefore["CASS1"] - 1, CashCounts(lab)["CASS1"]);
        Assert.Equal(cashBefore["CASS2"] - 1, CashCounts(lab)["CASS2"]);
        Assert.Equal(cashBefore["CASS3"], CashCounts(lab)["CASS3"]);

        // The reversal of the first withdrawal is delivered under the new keys; the host never debited it.
        await lab.WaitForReversalsDeliveredAsync();
        Assert.Equal(0, lab.Terminal.Reversals.Store.Depth);
        Assert.Equal(0, lab.Terminal.Reversals.StuckCount);
        Assert.Equal(ResponseCodes.Approved, Assert.Single(lab.Journal().Entries.OfType<ReversalAcknowledged>()).Response);
        Assert.Equal(before - 3_000, await lab.BalanceAsync());

        var rekeys = lab.Journal().Entries.OfType<HostRekey>().ToList();
        Assert.Equal([HostRekey.Needed, HostRekey.Renewed], rekeys.Select(e => e.Outcome).Take(2));
        Assert.Null(lab.Flow.KeyRecovery.OutOfServiceReason);
    }

    [Fact]
    public async Task When_the_host_keeps_refusing_the_key_change_the_terminal_stays_out_of_service_after_max_attempts_with_back_off_and_pays_nothing()
    {
        await using var lab = await Lab.StartAsync(configure: o =>
        {
            o.EchoInterval = TimeSpan.FromDays(1);
            o.Rekey = new TerminalRekeyOptions { MaxAttempts = 4, RetryInitial = TimeSpan.FromSeconds(2), RetryMax = TimeSpan.FromSeconds(3) };
        });
        var before = await lab.BalanceAsync();
        var cashBefore = CashCounts(lab);
        await RotateKeysAtHostAsync(lab);
        var qr = await lab.ShowQrAsync(80);

        // Blocked at the host after the QR is shown: the 0200 is refused 63 (its MAC is checked first) and every sign-on
        // of the key change is refused 12.
        await lab.Host.Administration.SetAtmStatusAsync(DemoSeed.AtmId, AtmStatus.Blocked);
        Assert.Equal(ResponseCodes.SystemMalfunction, (await lab.SendAsync(lab.PhoneRequest(qr))).ResponseCode);
        await lab.WaitUntilAsync(() => lab.Flow.KeyRecovery.Abandoned);

        var failed = lab.Journal().Entries.OfType<HostRekey>().Where(e => e.Outcome == HostRekey.Failed).ToList();
        Assert.Equal([1, 2, 3, 4], failed.Select(e => e.Attempt));
        Assert.All(failed, e => Assert.Contains("12", e.Detail, StringComparison.Ordinal));

        // Capped exponential back-off between the attempts: 2 s, then 4 s capped to 3 s, then 3 s. Each attempt waits at
        // least its delay on the fake clock (the lab moves it on while the host works, so only the lower bound is exact).
        var gaps = failed.Zip(failed.Skip(1), (a, b) => b.At - a.At).ToList();
        var expected = new[] { 2, 3, 3 }.Select(s => TimeSpan.FromSeconds(s)).ToList();
        for (var i = 0; i < gaps.Count; i++)
        {
            Assert.True(gaps[i] >= expected[i], $"gap {i + 1}: {gaps[i]} (expected at least {expected[i]})");
            Assert.EndsWith($"next attempt in {expected[i]:c}", failed[i].Detail, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("next attempt", failed[^1].Detail, StringComparison.Ordinal);

        Assert.Single(lab.Journal().Entries.OfType<HostRekey>(), e => e.Outcome == HostRekey.Abandoned);
        await lab.Flow.WaitForStateAsync(s => s == Flow.TerminalState.OutOfService, Timeouts());
        Assert.Contains("Terminal:Rekey:MaxAttempts", lab.Journal().Entries.OfType<HostRekey>().Last().Detail, StringComparison.Ordinal);
        Assert.Contains("could not be renewed in 4", lab.Flow.KeyRecovery.OutOfServiceReason, StringComparison.Ordinal);

        // A phone's request is refused by the gate with the reason, before any 0200.
        var authorisationsBefore = lab.Journal().Entries.OfType<AuthoriseRequested>().Count();
        Assert.Equal(ResponseCodes.IssuerUnavailable, (await lab.SendAsync(lab.PhoneRequest(qr))).ResponseCode);
        Assert.Equal(authorisationsBefore, lab.Journal().Entries.OfType<AuthoriseRequested>().Count());

        // Nothing paid, nothing charged; the reversal waits on disk for the host.
        Assert.Equal(0, lab.Dispenser.PresentedTotal);
        Assert.Equal(cashBefore, CashCounts(lab));
        Assert.Equal(before, await lab.BalanceAsync());
        Assert.Equal(1, lab.Terminal.Reversals.Store.Depth);

        // Once the host accepts the key change again (the reversal queue's own re-key), the ATM is back in service and
        // the reversal is delivered under the new keys.
        await lab.Host.Administration.SetAtmStatusAsync(DemoSeed.AtmId, AtmStatus.Active);
        await lab.WaitForReversalsDeliveredAsync();
        await lab.WaitUntilAsync(() => lab.Flow.KeyRecovery.OutOfServiceReason is null);
        Assert.Equal(0, lab.Terminal.Reversals.Store.Depth);
        var next = await lab.ShowQrAsync(30);
        Assert.Equal(ResponseCodes.Approved, (await lab.SendAsync(lab.PhoneRequest(next))).ResponseCode);
        Assert.Equal(before - 3_000, await lab.BalanceAsync());
        Assert.Equal(2, lab.Dispenser.PresentedTotal);
    }

    [Fact]
    public void A_rekey_attempt_count_below_one_is_refused_at_start_up_naming_the_setting()
    {
        var options = new TerminalOptions
        {
            AtmId = DemoSeed.AtmId,
            KeyStore = Path.GetTempPath(),
            DataDirectory = Path.GetTempPath(),
            Host = new EndpointOptions { Port = 1, Insecure = true },
            Proxy = new EndpointOptions { Port = 2, Insecure = true },
            Rekey = new TerminalRekeyOptions { MaxAttempts = 0 },
        };

        var error = Assert.Throws<ConfigurationException>(() => TerminalOptionsValidator.ThrowIfInvalid(options));
        Assert.Equal("Terminal:Rekey:MaxAttempts", error.Setting);
        Assert.Contains("Terminal:Rekey:MaxAttempts", error.Message, StringComparison.Ordinal);

        options.Rekey = new TerminalRekeyOptions { RetryInitial = TimeSpan.FromSeconds(10), RetryMax = TimeSpan.FromSeconds(5) };
        Assert.Equal("Terminal:Rekey:RetryMax", Assert.Throws<ConfigurationException>(() => TerminalOptionsValidator.ThrowIfInvalid(options)).Setting);
    }

    [Fact]
    public void An_answer_about_keys_the_link_has_replaced_since_does_not_take_the_atm_out_of_service_again()
    {
        // The race the full-solution run hit: the 0430 to a reversal MACed under the stale keys arrives after the
        // terminal has re-keyed; acting on it re-keyed again and refused the next customer 91 meanwhile.
        var directory = Directory.CreateTempSubdirectory("cardless-rekey-");
        try
        {
            var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
            var host = new MoneyPath.ScriptedHostLink(time);
            var journal = new Journal.ElectronicJournal(Path.Combine(directory.FullName, "journal.log"), time);
            using var recovery = new Links.SessionKeyRecovery(host, new TerminalRekeyOptions(), journal, time, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);

            recovery.Suspect("reversal 000001 not acknowledged: the host answered 63", host.KeyVersion - 1);
            Assert.Null(recovery.OutOfServiceReason);
            Assert.False(recovery.WhenSuspect.IsCompleted);

            recovery.Suspect("the host answered 63", host.KeyVersion);
            Assert.Contains("the host answered 63", recovery.OutOfServiceReason, StringComparison.Ordinal);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData(1, 2)]
    [InlineData(2, 4)]
    [InlineData(3, 8)]
    [InlineData(6, 60)]
    [InlineData(1000, 60)]
    public void The_back_off_doubles_per_failed_attempt_up_to_the_cap(int attempt, int seconds)
    {
        Assert.Equal(TimeSpan.FromSeconds(seconds), Links.SessionKeyRecovery.Backoff(attempt, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(60)));
    }

    private static CancellationToken Timeouts() => new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token;

    private static Dictionary<string, int> CashCounts(Lab lab) => lab.Terminal.Devices.Dispenser.CashUnits.ToDictionary(u => u.Id, u => u.Count, StringComparer.Ordinal);

    /// <summary>
    /// Moves the ATM to a new session key version at the host, as a rotation there would, without the terminal: the
    /// terminal's key is neither current nor in its grace time. Returns the new version.
    /// </summary>
    private static async Task<int> RotateKeysAtHostAsync(Lab lab)
    {
        using var keys = lab.Host.Profile.GenerateSessionKeys();
        return await lab.Host.Store.WriteAsync(w =>
        {
            var atm = w.GetAtm(DemoSeed.AtmId)!;
            var version = atm.SessionKeyVersion + 1;
            var macRef = $"mac-{atm.AtmId}-v{version}";
            lab.Host.Vault.SaveKey(macRef, keys.MacKey, overwrite: true);
            if (keys.PinKey is { } pinKey)
            {
                lab.Host.Vault.SaveKey($"tpk-{atm.AtmId}-v{version}", pinKey, overwrite: true);
            }

            w.UpdateAtm(atm with
            {
                SessionKeyRef = macRef,
                SessionKeyVersion = version,
                SessionKeyCheckValue = keys.MacKey.CheckValue.ToString(),
                PreviousSessionKeyRef = null,
                PreviousKeyValidUntil = null,
            });
            return version;
        });
    }
}
