using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Iso8583;
using CardlessAtm.Security;
using CardlessAtm.Terminal.Flow;
using CardlessAtm.Terminal.Journal;
using CardlessAtm.Terminal.Links;
using CardlessAtm.Terminal.StoreAndForward;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Terminal.Tests.MoneyPath;

/// <summary>Found by an adversarial review of the money path (each failed before its fix): disk, journal, display and dispenser faults after the host was asked, a forged re-key, an operator racing the forwarder, an unbound decline at recovery.</summary>
public class AttackTests
{
    // ---- F1: the forwarding loop dies on an exception it does not expect, and never retries ----

    [Fact]
    public async Task F1a_the_forwarding_loop_survives_a_failed_durable_write_and_delivers_later()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        var reversal = Reversal(rig);
        await rig.Forwarder.EnqueueAsync(reversal);
        var blocker = DurableFile.TemporaryPathOf(Path.Combine(rig.Queue.Directory, reversal.Id + ".json"));
        Directory.CreateDirectory(blocker); // the next durable write of this reversal fails (stands for EIO/ENOSPC, or 'saf retry' holding the .tmp)
        using var stop = new CancellationTokenSource();
        var loop = rig.Forwarder.RunAsync(stop.Token);
        await Task.Delay(200);
        Directory.Delete(blocker); // the disk recovers
        rig.Host.Answers(ResponseCodes.Approved);
        for (var i = 0; i < 20 && rig.Queue.Depth > 0 && !loop.IsCompleted; i++)
        {
            rig.Time.Advance(TimeSpan.FromSeconds(61));
            await Task.Delay(50);
        }

        Assert.False(loop.IsFaulted, "forwarding loop died: " + loop.Exception?.InnerException);
        Assert.Equal(0, rig.Queue.Depth);
        stop.Cancel();
    }

    [Fact]
    public async Task F1b_the_forwarding_loop_survives_a_rekey_whose_key_change_data_fails_its_check()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Host.RekeyFaults.Enqueue(new KeyCheckValueMismatchException("Field 120 (key-change data): MAC key fails the AES key-wrap integrity check (wrong terminal master key or altered data)."));
        using var forwarder = new ReversalForwarder(rig.Queue, rig.Host, rig.Journal, rig.Options, rig.Time, NullLogger.Instance);
        await forwarder.EnqueueAsync(Reversal(rig));
        rig.Host.Answers(ResponseCodes.SecurityViolation); // 63 (or a forged 0430 with a bad MAC): re-key first next time
        rig.Host.Answers(ResponseCodes.Approved);
        using var stop = new CancellationTokenSource();
        var loop = forwarder.RunAsync(stop.Token);
        for (var i = 0; i < 20 && rig.Queue.Depth > 0 && !loop.IsCompleted; i++)
        {
            rig.Time.Advance(TimeSpan.FromSeconds(61));
            await Task.Delay(50);
        }

        Assert.False(loop.IsFaulted, "forwarding loop died: " + loop.Exception?.InnerException);
        Assert.Equal(0, rig.Queue.Depth);
        stop.Cancel();
    }

    [Fact]
    public async Task F1c_a_concurrent_saf_retry_from_another_process_does_not_make_the_forwarders_write_throw()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        var reversal = Reversal(rig);
        rig.Queue.Save(reversal);
        var operatorStore = new ReversalStore(rig.Queue.Directory); // 'cardless-atm terminal saf retry' is another process: its own lock
        Exception? forwarderFault = null;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(3);
        var operatorSide = Task.Run(() =>
        {
            while (DateTime.UtcNow < deadline)
            {
                try
                {
                    ReversalForwarder.RequestRetry(operatorStore, reversal.Id, rig.Time);
                }
                catch (Exception)
                {
                    // the CLI failing is acceptable
                }
            }
        });
        var attempts = 0;
        while (DateTime.UtcNow < deadline && forwarderFault is null)
        {
            try
            {
                rig.Queue.Save(reversal with { Attempts = ++attempts });
            }
            catch (Exception e)
            {
                forwarderFault = e;
            }
        }

        await operatorSide;
        Assert.Null(forwarderFault); // any exception here is one the forwarder does not catch (see F1a)
    }

    // ---- F2: recovery trusts a MAC-verified but unbound decline ----

    [Fact]
    public async Task F2_recovery_reverses_a_withdrawal_whose_only_answer_was_an_unbound_decline()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await rig.Journal.WriteAsync(new AuthoriseRequested("633510000007", "1201100000", new JournalAmount(8_000, "EUR")) { Session = "s-1", Stan = 7 });

        // Exactly what WithdrawalTransaction journals for an answer whose field 11 differs (a replayed/misrouted 05),
        // then the process dies before EnqueueAsync's file is written.
        await rig.Journal.WriteAsync(new AuthoriseAnswered("05", MacVerified: true, Mismatch: "11", AuthCode: null, Cancelled: false, Failure: null) { Session = "s-1", Stan = 7 });

        await new TerminalRecovery(rig.Journal, rig.Dispenser, rig.Forwarder, rig.Time, NullLogger.Instance).RecoverAsync(CancellationToken.None);

        // The live path reverses this in full (reason 20): the real answer to our 0200 may be an approval.
        var reversal = rig.SingleReversal();
        Assert.Equal(8_000, reversal.AmountMinor - reversal.DispensedMinor);
    }

    // ---- F3: unbounded awaits after the host approved ----

    [Fact]
    public async Task F3a_a_dispenser_that_never_answers_the_counter_read_after_an_approval_does_not_wedge_the_withdrawal()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        var dispenser = new ScriptedDispenser(rig.Dispenser) { HangCounters = true };
        var transaction = new WithdrawalTransaction(rig.Host, dispenser, rig.Forwarder, rig.Journal, rig.Options, rig.Metrics, rig.Time, NullLogger.Instance);
        rig.Host.Answers(ResponseCodes.Approved);

        var running = transaction.RunAsync("session-1", Money.FromMajor(80, "EUR"), MoneyPathRig.Mix80, MoneyPathRig.PhoneRequest(), rig.Host.NextStan(), Task.FromResult(false), CancellationToken.None);
        for (var i = 0; i < 10 && !running.IsCompleted; i++)
        {
            rig.Time.Advance(TimeSpan.FromMinutes(1)); // far past DispenseTimeout (10 s)
            await Task.Delay(20);
        }

        Assert.True(running.IsCompleted, "the withdrawal is still waiting for ReadDeviceCountersAsync: the phone gets no answer and the approval no reversal");
        Assert.Equal(8_000, rig.SingleReversal().AmountMinor);
    }

    [Theory]
    [InlineData(ResponseCodes.SecurityViolation)]
    [InlineData(ResponseCodes.SystemMalfunction)]
    public async Task An_authentic_63_or_96_a_phone_can_cause_does_not_make_the_session_keys_suspect(string code)
    {
        // Adversary read of issue 13 item 4: a revoked phone or tampered field 127 gets a MACed 63 from the host; acting
        // on it cost the ATM a key change and a moment out of service per such customer. A MAC that verifies proves the keys.
        using var rig = await MoneyPathRig.CreateAsync();
        var suspicions = new List<string>();
        rig.Transaction.KeysSuspect += (reason, _) => suspicions.Add(reason);
        var notesBefore = rig.Dispenser.CashUnits.Sum(u => u.Count);
        rig.Host.Answers(code);
        var verified = await rig.WithdrawAsync();

        rig.Host.Then(r => new HostAnswer(ScriptedHostLink.Respond(r, code), MacVerified: false));
        var unverified = await rig.WithdrawAsync();

        Assert.Equal(ResponseCodes.SystemMalfunction, unverified.ResponseCode);
        Assert.NotEqual(ResponseCodes.Approved, verified.ResponseCode);
        var suspicion = Assert.Single(suspicions); // only the answer that failed its MAC
        Assert.Contains("failed its MAC check", suspicion, StringComparison.Ordinal);
        Assert.Equal(notesBefore, rig.Dispenser.CashUnits.Sum(u => u.Count)); // nothing dispensed either time
    }

    [Fact]
    public async Task F3b_a_display_that_hangs_after_an_approval_does_not_wedge_the_withdrawal()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Transaction.Progress += state => state == TerminalState.Dispensing ? new TaskCompletionSource().Task : Task.CompletedTask; // WithdrawalFlow: Display.ShowAsync(..., CancellationToken.None)
        rig.Host.Answers(ResponseCodes.Approved);

        var running = rig.WithdrawAsync();
        for (var i = 0; i < 10 && !running.IsCompleted; i++)
        {
            rig.Time.Advance(TimeSpan.FromMinutes(1));
            await Task.Delay(20);
        }

        Assert.True(running.IsCompleted, "the withdrawal is still waiting for the display after the host approved");
    }

    // ---- F4: a fault after the dispense downgrades a suspect (22) reversal to a partial one (32) ----

    [Fact]
    public async Task F4_a_reset_that_fails_after_a_dispense_with_unknown_notes_keeps_the_suspect_reason()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        var ten = Money.FromMajor(10, "EUR");
        var dispenser = new ScriptedDispenser(rig.Dispenser)
        {
            Result = new DispenseResult(DispenseCompletion.HardwareError, Money.FromMajor(80, "EUR"),
            [
                new UnitMovement("CASS1", ten, 1, 0, 0),
                new UnitMovement("CASS2", Money.FromMajor(20, "EUR"), 0, 0, 1),
                new UnitMovement("CASS3", Money.FromMajor(50, "EUR"), 0, 0, 1),
            ]),
            ResetFault = new IOException("cash-unit file: No space left on device"),
        };
        var transaction = new WithdrawalTransaction(rig.Host, dispenser, rig.Forwarder, rig.Journal, rig.Options, rig.Metrics, rig.Time, NullLogger.Instance);
        rig.Host.Answers(ResponseCodes.Approved);

        await transaction.RunAsync("session-1", Money.FromMajor(80, "EUR"), MoneyPathRig.Mix80, MoneyPathRig.PhoneRequest(), rig.Host.NextStan(), Task.FromResult(false), CancellationToken.None);

        var reversal = rig.SingleReversal();
        Assert.Equal(1_000, reversal.DispensedMinor);
        Assert.Equal(ReversalReasons.SuspectedMalfunction, reversal.ReasonCode); // actual: 32 — the host books no suspect amount for the cash count
    }

    // ---- F5: "never throws after the host was asked" does not hold when the journal fails ----

    [Fact]
    public async Task F5_a_journal_that_fails_after_the_request_left_still_ends_in_a_settlement()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Host.Then(request =>
        {
            rig.Journal.Dispose(); // stands for the journal's disk failing (IOException) while the host decided
            return new HostAnswer(ScriptedHostLink.Respond(request, ResponseCodes.Approved), MacVerified: true);
        });

        var settled = await rig.WithdrawAsync(); // throws ObjectDisposedException out of SettleFaultAsync -> ReverseAsync -> EnqueueAsync

        Assert.Equal(ResponseCodes.SystemMalfunction, settled.ResponseCode);
        Assert.Equal(8_000, rig.SingleReversal().AmountMinor);
    }

    private static PendingReversal Reversal(MoneyPathRig rig) =>
        new("000123-1201095959", 123, "1201095959", "633510000123", 8_000, 0, 978, "test", "session-1", rig.Time.GetUtcNow());

    /// <summary>The real dispenser, with a counter read that can hang, a scripted dispense result and a failing reset.</summary>
    private sealed class ScriptedDispenser(ICashDispenser inner) : ICashDispenser
    {
        public bool HangCounters { get; init; }

        public DispenseResult? Result { get; init; }

        public Exception? ResetFault { get; init; }

        public DispenserStatus Status => inner.Status;

        public IReadOnlyList<CashUnit> CashUnits => inner.CashUnits;

        public int MaxNotesPerDispense => inner.MaxNotesPerDispense;

        public MixResult Denominate(Money amount) => inner.Denominate(amount);

        public Task<DispenseResult> DispenseAsync(Mix mix, CancellationToken cancellationToken) =>
            Result is { } result ? Task.FromResult(result) : inner.DispenseAsync(mix, cancellationToken);

        public Task<DispenseResult> ResetAsync(CancellationToken cancellationToken) =>
            ResetFault is { } fault ? Task.FromException<DispenseResult>(fault) : inner.ResetAsync(cancellationToken);

        public Task<DispenseResult> RecoverInterruptedDispenseAsync(Mix mix, IReadOnlyDictionary<string, int> countsBefore, IReadOnlyList<PositionMovement>? moved, CancellationToken cancellationToken) =>
            inner.RecoverInterruptedDispenseAsync(mix, countsBefore, moved, cancellationToken);

        public Task<DeviceCounters?> ReadDeviceCountersAsync(CancellationToken cancellationToken) =>
            HangCounters ? new TaskCompletionSource<DeviceCounters?>().Task : inner.ReadDeviceCountersAsync(cancellationToken);

        public Task RefreshStatusAsync(CancellationToken cancellationToken) => inner.RefreshStatusAsync(cancellationToken);

        public Task ReplenishAsync(string cashUnitId, int count, CancellationToken cancellationToken) => inner.ReplenishAsync(cashUnitId, count, cancellationToken);

        public Task SetLockedAsync(string cashUnitId, bool locked, CancellationToken cancellationToken) => inner.SetLockedAsync(cashUnitId, locked, cancellationToken);
    }
}
