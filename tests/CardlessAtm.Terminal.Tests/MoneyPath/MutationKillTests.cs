using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Iso8583;
using CardlessAtm.Terminal.Flow;
using CardlessAtm.Terminal.Journal;
using CardlessAtm.Terminal.Links;
using CardlessAtm.Terminal.StoreAndForward;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Terminal.Tests.MoneyPath;

/// <summary>
/// Recovery's decisions, one journal a crash could leave per test: whether a reversal is queued, for how much,
/// with which reason code, and what the "recovered" line (which closes the withdrawal for the next start) says.
/// </summary>
public class RecoveryMutationTests
{
    private const string Session = "s-1";
    private const int Stan = 7;
    private const string Transmission = "1201100000";
    private const string ReversalId = "000007-1201100000";

    [Fact]
    public async Task No_answer_queues_a_full_timeout_reversal_carrying_the_original_request()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await AskedAsync(rig);

        await RecoverAsync(rig);

        var reversal = rig.SingleReversal();
        Assert.Equal(ReversalId, reversal.Id);
        Assert.Equal((Stan, Transmission, "633510000007", 978), (reversal.OriginalStan, reversal.OriginalTransmission, reversal.RetrievalReference, reversal.CurrencyNumeric));
        Assert.Equal((Session, "recovery: no answer from the host was recorded"), (reversal.Session, reversal.Reason));
        Assert.Equal(rig.Time.GetUtcNow(), reversal.QueuedAt);
        var recovered = Recovered(rig);
        Assert.Equal(("no answer from the host was recorded", "full", new Money(0, Currency.FromNumericCode(978)).ToString()), (recovered.How, recovered.Reversal, recovered.Presented.ToString()));
        Assert.Equal(Stan, recovered.Stan);
    }

    [Theory]
    [InlineData(ResponseCodes.InsufficientFunds)]
    [InlineData(ResponseCodes.DoNotHonour)]
    public async Task An_authentic_decline_needs_no_reversal(string code)
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await AskedAsync(rig);
        await AnsweredAsync(rig, code, macVerified: true);

        Assert.Equal(1, await RecoverAsync(rig));

        Assert.Empty(rig.Queue.Pending);
        Assert.Equal("none needed", Recovered(rig).Reversal);
    }

    [Theory]
    [InlineData(ResponseCodes.InsufficientFunds)]
    [InlineData(ResponseCodes.Approved)]
    public async Task An_answer_whose_mac_failed_is_not_trusted_and_is_reversed_in_full_as_an_atm_malfunction(string code)
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await AskedAsync(rig);
        await AnsweredAsync(rig, code, macVerified: false);

        await RecoverAsync(rig);

        var reversal = rig.SingleReversal();
        Assert.Equal((8_000L, 0L, ReversalReasons.AtmMalfunction), (reversal.AmountMinor, reversal.DispensedMinor, reversal.ReasonCode));
        Assert.Equal("recovery: approved but nothing was dispensed", reversal.Reason);
    }

    [Fact]
    public async Task An_approval_with_nothing_dispensed_is_reversed_in_full_as_an_atm_malfunction()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await AskedAsync(rig);
        await AnsweredAsync(rig, ResponseCodes.Approved, macVerified: true);

        await RecoverAsync(rig);

        var reversal = rig.SingleReversal();
        Assert.Equal((0L, ReversalReasons.AtmMalfunction), (reversal.DispensedMinor, reversal.ReasonCode));
        Assert.Equal(("approved but nothing was dispensed", "full"), (Recovered(rig).How, Recovered(rig).Reversal));
    }

    [Fact]
    public async Task A_dispense_that_ended_with_everything_presented_needs_no_reversal()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await AskedAsync(rig);
        await AnsweredAsync(rig, ResponseCodes.Approved, macVerified: true);
        await EndedAsync(rig, new DispenseResult(DispenseCompletion.Ok, MoneyPathRig.Mix80.Amount, [.. MoneyPathRig.Mix80.Items.Select(i => new UnitMovement(i.CashUnitId, i.Denomination, 1, 0, 0))]));

        Assert.Equal(1, await RecoverAsync(rig));

        Assert.Empty(rig.Queue.Pending);
        var recovered = Recovered(rig);
        Assert.Equal(("dispense had ended", "none needed", Money.FromMajor(80, "EUR").ToString()), (recovered.How, recovered.Reversal, recovered.Presented.ToString()));
    }

    [Fact]
    public async Task A_dispense_that_ended_with_nothing_presented_is_reversed_in_full_as_an_atm_malfunction()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await AskedAsync(rig);
        await AnsweredAsync(rig, ResponseCodes.Approved, macVerified: true);
        await EndedAsync(rig, new DispenseResult(DispenseCompletion.HardwareError, MoneyPathRig.Mix80.Amount, [new UnitMovement("CASS1", Money.FromMajor(10, "EUR"), 0, 1, 0)]));

        await RecoverAsync(rig);

        var reversal = rig.SingleReversal();
        Assert.Equal((0L, ReversalReasons.AtmMalfunction, "recovery: dispense had ended"), (reversal.DispensedMinor, reversal.ReasonCode, reversal.Reason));
    }

    [Fact]
    public async Task A_dispense_that_ended_with_notes_of_unknown_fate_is_reversed_as_suspect()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await AskedAsync(rig);
        await AnsweredAsync(rig, ResponseCodes.Approved, macVerified: true);
        await EndedAsync(rig, new DispenseResult(DispenseCompletion.Jam, MoneyPathRig.Mix80.Amount,
        [
            new UnitMovement("CASS1", Money.FromMajor(10, "EUR"), 1, 0, 0),
            new UnitMovement("CASS2", Money.FromMajor(20, "EUR"), 0, 0, 1),
        ]));

        await RecoverAsync(rig);

        var reversal = rig.SingleReversal();
        Assert.Equal((1_000L, ReversalReasons.SuspectedMalfunction), (reversal.DispensedMinor, reversal.ReasonCode));
        Assert.Equal("partial", Recovered(rig).Reversal);
    }

    [Fact]
    public async Task An_acknowledgement_in_the_journal_means_the_reversal_is_done_even_without_its_file()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await AskedAsync(rig);
        await rig.Journal.WriteAsync(new ReversalAcknowledged(ReversalId, "00", 1) { Session = Session, Stan = Stan });

        Assert.Equal(1, await RecoverAsync(rig));

        Assert.Empty(rig.Queue.Pending);
        Assert.Equal("already queued", Recovered(rig).Reversal);
    }

    [Fact]
    public async Task An_acknowledgement_of_another_reversal_does_not_stand_for_this_one()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await AskedAsync(rig);
        await rig.Journal.WriteAsync(new ReversalAcknowledged("000006-1201100000", "00", 1) { Session = Session, Stan = Stan });

        await RecoverAsync(rig);

        Assert.Equal(ReversalId, rig.SingleReversal().Id);
    }

    [Fact]
    public async Task Only_sessions_asked_of_the_host_and_not_finished_are_settled_each_once()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await rig.Journal.WriteAsync(new QrShown(new JournalAmount(8_000, "EUR"), rig.Time.GetUtcNow()) { Session = "shown-only" });
        await AskedAsync(rig, "s-a", 11, "1201100011");
        await AskedAsync(rig, "s-b", 12, "1201100012");
        await AskedAsync(rig, "s-done", 13, "1201100013");
        await rig.Journal.WriteAsync(JournalSamples.Ended("s-done"));

        Assert.Equal(2, await RecoverAsync(rig));

        Assert.Equal(["000011-1201100011", "000012-1201100012"], rig.Queue.Pending.Select(r => r.Id).Order(StringComparer.Ordinal));
        Assert.Equal(0, await RecoverAsync(rig)); // the "recovered" lines finish them
        Assert.Equal(2, rig.Queue.Depth);
    }

    [Fact]
    public async Task The_settled_dispense_is_journalled_so_the_next_start_sees_its_end()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await AskedAsync(rig);
        await AnsweredAsync(rig, ResponseCodes.Approved, macVerified: true);
        await rig.Journal.WriteAsync(JournalSamples.DispenseStart(Session, Stan, MoneyPathRig.Mix80, rig.Dispenser.CashUnits));

        await RecoverAsync(rig);

        var end = Assert.Single(rig.Entries(), e => e.Event == JournalEvents.DispenseEnd);
        Assert.Equal((Session, (int?)Stan), (end.Session, end.Stan));
        Assert.Equal("dispense interrupted; the device keeps no counters, notes marked unknown", Recovered(rig).How);
        Assert.Equal(8_000, rig.SingleReversal().AmountMinor);
    }

    private static Recovered Recovered(MoneyPathRig rig) => Assert.IsType<Recovered>(Assert.Single(rig.Entries(), e => e.Event == JournalEvents.Recovered));

    private static Task<int> RecoverAsync(MoneyPathRig rig) =>
        new TerminalRecovery(rig.Journal, rig.Dispenser, rig.Forwarder, rig.Time, NullLogger.Instance).RecoverAsync(CancellationToken.None);

    private static Task<AuthoriseRequested> AskedAsync(MoneyPathRig rig, string session = Session, int stan = Stan, string transmission = Transmission) =>
        rig.Journal.WriteAsync(JournalSamples.Asked(session, stan, transmission: transmission));

    private static Task<AuthoriseAnswered> AnsweredAsync(MoneyPathRig rig, string code, bool macVerified) =>
        rig.Journal.WriteAsync(JournalSamples.Answered(Session, Stan, code, macVerified));

    private static async Task EndedAsync(MoneyPathRig rig, DispenseResult result)
    {
        await rig.Journal.WriteAsync(JournalSamples.DispenseStart(Session, Stan, MoneyPathRig.Mix80, rig.Dispenser.CashUnits));
        await rig.Journal.WriteAsync(JournalSamples.DispenseEnd(Session, Stan, result));
    }
}

/// <summary>The forwarder's backoff, its pass over the queue and what it writes to the disk and the journal.</summary>
public class ForwarderMutationTests
{
    [Fact]
    public async Task The_advice_carries_every_field_the_host_matches_and_a_full_reversal_has_no_field_95()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await rig.Forwarder.EnqueueAsync(Reversal(rig));
        rig.Host.Answers(ResponseCodes.Approved);

        await rig.Forwarder.ForwardDueAsync(CancellationToken.None);

        var advice = Assert.Single(rig.Host.Sent);
        Assert.Equal(("010000", 8_000L, 978, "633510000123", ReversalReasons.Timeout), (advice.ProcessingCode, advice.AmountMinor, advice.CurrencyCode, advice.RetrievalReferenceNumber, advice.ResponseCode));
        Assert.Equal((Mti.FinancialRequest, 123, "1201095959"), (advice.OriginalData!.OriginalMti, advice.OriginalData.OriginalStan, advice.OriginalData.OriginalTransmissionDateTime));
        Assert.False(advice.Has(95));
        var acknowledged = Assert.IsType<ReversalAcknowledged>(Assert.Single(rig.Entries(), e => e.Event == JournalEvents.ReversalAcknowledged));
        Assert.Equal(("000123-1201095959", "00", 1), (acknowledged.Id, acknowledged.Response, acknowledged.Attempts));
        Assert.Equal(("session-1", (int?)123), (acknowledged.Session, acknowledged.Stan));
    }

    [Fact]
    public async Task Enqueueing_journals_the_reversal_with_its_amounts_kind_and_reason()
    {
        using var rig = await MoneyPathRig.CreateAsync();

        await rig.Forwarder.EnqueueAsync(Reversal(rig) with { DispensedMinor = 3_000, ReasonCode = ReversalReasons.PartialDispense });
        await rig.Forwarder.EnqueueAsync(Reversal(rig) with { Id = "000124-1201095959", OriginalStan = 124 });

        var queued = rig.Entries().OfType<ReversalQueued>().ToList();
        Assert.Equal(2, queued.Count);
        Assert.Equal(("000123-1201095959", new JournalAmount(8_000, "EUR"), new JournalAmount(3_000, "EUR"), "partial", ReversalReasons.PartialDispense, "test"), (queued[0].Id, queued[0].Amount, queued[0].Dispensed, queued[0].Kind, queued[0].ReasonCode, queued[0].Reason));
        Assert.Equal(("full", 0L, (int?)124, "session-1"), (queued[1].Kind, queued[1].Dispensed.AmountMinor, queued[1].Stan, queued[1].Session));
        Assert.Equal(2, rig.Queue.Depth);
    }

    [Fact]
    public async Task The_backoff_doubles_per_attempt_up_to_its_maximum()
    {
        using var rig = await MoneyPathRig.CreateAsync(o => o.ReversalMaxAttempts = 100); // initial 1 s, max 60 s
        await rig.Forwarder.EnqueueAsync(Reversal(rig));
        var waits = new List<TimeSpan>();
        var delays = new List<TimeSpan>();
        for (var attempt = 1; attempt <= 8; attempt++)
        {
            rig.Host.TimesOut();
            var sentAt = rig.Time.GetUtcNow();
            waits.Add(await rig.Forwarder.ForwardDueAsync(CancellationToken.None));
            var kept = rig.SingleReversal();
            Assert.Equal(attempt, kept.Attempts);
            delays.Add(kept.NextAttemptAt!.Value - sentAt);
            rig.Time.Advance(kept.NextAttemptAt.Value - sentAt);
        }

        var expected = new[] { 1, 2, 4, 8, 16, 32, 60, 60 }.Select(s => TimeSpan.FromSeconds(s)).ToList();
        Assert.Equal(expected, delays);
        Assert.Equal(expected, waits);
        Assert.Equal(8, rig.Host.Sent.Count);
    }

    [Fact]
    public async Task A_pass_waits_for_the_earliest_due_reversal_and_only_sends_the_due_ones()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await rig.Forwarder.EnqueueAsync(Reversal(rig));
        rig.Host.Answers(ResponseCodes.IssuerUnavailable);
        await rig.Forwarder.ForwardDueAsync(CancellationToken.None); // the first: due again in 1 s
        rig.Time.Advance(TimeSpan.FromMilliseconds(400));

        var wait = await rig.Forwarder.ForwardDueAsync(CancellationToken.None);

        Assert.Equal(TimeSpan.FromMilliseconds(600), wait);
        Assert.Single(rig.Host.Sent);
    }

    [Fact]
    public async Task An_empty_queue_is_looked_at_again_after_the_maximum_backoff()
    {
        using var rig = await MoneyPathRig.CreateAsync();

        Assert.Equal(TimeSpan.FromSeconds(60), await rig.Forwarder.ForwardDueAsync(CancellationToken.None));
        Assert.Empty(rig.Host.Sent);
    }

    [Fact]
    public async Task A_queue_holding_only_reversals_for_an_operator_is_looked_at_after_the_maximum_backoff()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Queue.Save(Reversal(rig) with { Status = ReversalStatus.NeedsOperator });

        Assert.Equal(TimeSpan.FromSeconds(60), await rig.Forwarder.ForwardDueAsync(CancellationToken.None));
        Assert.Empty(rig.Host.Sent);
        Assert.Single(rig.Forwarder.Stuck);
    }

    [Fact]
    public async Task A_link_that_is_not_ready_sends_nothing_and_is_tried_again_after_the_initial_backoff()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await rig.Forwarder.EnqueueAsync(Reversal(rig));
        rig.Host.Ready = false;

        Assert.Equal(TimeSpan.FromSeconds(1), await rig.Forwarder.ForwardDueAsync(CancellationToken.None));

        Assert.Empty(rig.Host.Sent);
        Assert.Equal(0, rig.SingleReversal().Attempts);
    }

    [Fact]
    public async Task A_pass_stops_at_the_first_reversal_the_link_could_not_carry_and_goes_on_after_an_answer()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await rig.Forwarder.EnqueueAsync(Reversal(rig));
        rig.Time.Advance(TimeSpan.FromSeconds(1));
        await rig.Forwarder.EnqueueAsync(Reversal(rig) with { Id = "000124-1201095959", OriginalStan = 124, QueuedAt = rig.Time.GetUtcNow() });
        rig.Host.TimesOut();

        await rig.Forwarder.ForwardDueAsync(CancellationToken.None);

        Assert.Single(rig.Host.Sent); // the second was not tried
        Assert.Equal([1, 0], rig.Queue.Pending.Select(r => r.Attempts));

        rig.Time.Advance(TimeSpan.FromSeconds(1));
        rig.Host.Answers(ResponseCodes.IssuerUnavailable).Answers(ResponseCodes.Approved);
        await rig.Forwarder.ForwardDueAsync(CancellationToken.None);

        Assert.Equal(3, rig.Host.Sent.Count); // an answer (even a 91) lets the pass go on
        Assert.Equal("000123-1201095959", rig.SingleReversal().Id);
    }

    [Fact]
    public async Task A_failed_attempt_is_recorded_on_disk_and_in_the_journal()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await rig.Forwarder.EnqueueAsync(Reversal(rig));
        rig.Host.Answers(ResponseCodes.IssuerUnavailable);

        await rig.Forwarder.ForwardDueAsync(CancellationToken.None);

        var kept = rig.SingleReversal();
        Assert.Equal((ReversalStatus.Pending, ResponseCodes.IssuerUnavailable, 1), (kept.Status, kept.LastResponse, kept.Attempts));
        Assert.Equal(rig.Host.Sent[0].Stan, kept.AdviceStan);
        Assert.StartsWith("the host answered 91", kept.LastProblem, StringComparison.Ordinal);
        var failed = Assert.IsType<ReversalNotAcknowledged>(Assert.Single(rig.Entries(), e => e.Event == JournalEvents.ReversalNotAcknowledged));
        Assert.Equal(("000123-1201095959", "91", nameof(ReversalDisposition.RetryLater), 1), (failed.Id, failed.Response, failed.Disposition, failed.Attempts));
        Assert.Equal(kept.LastProblem, failed.Problem);
        Assert.Equal(("session-1", (int?)123), (failed.Session, failed.Stan));
    }

    [Fact]
    public async Task No_answer_is_recorded_as_none_and_retried_later()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await rig.Forwarder.EnqueueAsync(Reversal(rig));
        rig.Host.TimesOut();

        await rig.Forwarder.ForwardDueAsync(CancellationToken.None);

        var kept = rig.SingleReversal();
        Assert.Equal(("none", rig.Time.GetUtcNow() + TimeSpan.FromSeconds(1)), (kept.LastResponse, kept.NextAttemptAt));
        Assert.Equal(nameof(ReversalDisposition.RetryLater), Assert.IsType<ReversalNotAcknowledged>(Assert.Single(rig.Entries(), e => e.Event == JournalEvents.ReversalNotAcknowledged)).Disposition);
        Assert.Equal(0, rig.Host.Rekeys);
    }

    [Fact]
    public async Task An_0430_that_is_not_bound_to_the_advice_is_retried_without_a_rekey()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await rig.Forwarder.EnqueueAsync(Reversal(rig));
        rig.Host.Then(r =>
        {
            var other = ScriptedHostLink.Respond(r, ResponseCodes.Approved);
            other.AmountMinor = 1;
            return new HostAnswer(other, MacVerified: true);
        });
        await rig.Forwarder.ForwardDueAsync(CancellationToken.None);
        rig.Time.Advance(TimeSpan.FromSeconds(1));
        rig.Host.Answers(ResponseCodes.Approved);

        await rig.Forwarder.ForwardDueAsync(CancellationToken.None);

        Assert.Equal(0, rig.Host.Rekeys);
        Assert.Empty(rig.Queue.Pending);
        var failed = Assert.IsType<ReversalNotAcknowledged>(Assert.Single(rig.Entries(), e => e.Event == JournalEvents.ReversalNotAcknowledged));
        Assert.Equal(nameof(ReversalDisposition.RetryLater), failed.Disposition);
        Assert.Contains("differs from the advice in field(s) 4", failed.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_answer_that_is_not_an_0430_is_not_an_acknowledgement_and_makes_the_terminal_rekey()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await rig.Forwarder.EnqueueAsync(Reversal(rig));
        rig.Host.Then(r =>
        {
            var wrong = ScriptedHostLink.Respond(r, ResponseCodes.Approved);
            wrong.Mti = Mti.FinancialResponse;
            return new HostAnswer(wrong, MacVerified: true);
        });

        await rig.Forwarder.ForwardDueAsync(CancellationToken.None);

        var kept = rig.SingleReversal();
        Assert.Equal(ReversalStatus.Pending, kept.Status);
        Assert.Equal("the answer 0210 is not an authentic 0430", kept.LastProblem);
        rig.Time.Advance(TimeSpan.FromSeconds(1));
        rig.Host.Answers(ResponseCodes.Approved);
        await rig.Forwarder.ForwardDueAsync(CancellationToken.None);
        Assert.Equal(1, rig.Host.Rekeys);
        Assert.Empty(rig.Queue.Pending);
    }

    [Fact]
    public async Task A_failed_rekey_sends_nothing_counts_no_attempt_and_is_tried_again_first()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        using var forwarder = new ReversalForwarder(rig.Queue, rig.Host, rig.Journal, rig.Options, rig.Time, NullLogger.Instance);
        await forwarder.EnqueueAsync(Reversal(rig));
        rig.Host.Answers(ResponseCodes.SecurityViolation);
        await forwarder.ForwardDueAsync(CancellationToken.None);
        rig.Time.Advance(TimeSpan.FromSeconds(1));
        rig.Host.RekeyFaults.Enqueue(new TimeoutException("the rekey timed out"));

        await forwarder.ForwardDueAsync(CancellationToken.None);

        Assert.Single(rig.Host.Sent);
        var kept = rig.SingleReversal();
        Assert.Equal(("none", "re-key failed: the rekey timed out", 1), (kept.LastResponse, kept.LastProblem, kept.Attempts));
        rig.Time.Advance(TimeSpan.FromSeconds(5));
        rig.Host.Answers(ResponseCodes.Approved);
        await forwarder.ForwardDueAsync(CancellationToken.None);
        Assert.Equal(2, rig.Host.Rekeys);
        Assert.Empty(rig.Queue.Pending);

        rig.Time.Advance(TimeSpan.FromSeconds(5));
        await forwarder.EnqueueAsync(Reversal(rig) with { Id = "000125-1201095959", OriginalStan = 125 });
        rig.Host.Answers(ResponseCodes.Approved);
        await forwarder.ForwardDueAsync(CancellationToken.None);
        Assert.Equal(2, rig.Host.Rekeys); // a good re-key is not repeated
    }

    [Fact]
    public async Task A_reversal_for_an_operator_is_stuck_but_one_below_the_attempt_bound_is_not()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Queue.Save(Reversal(rig) with { Attempts = 4 });
        rig.Queue.Save(Reversal(rig) with { Id = "000124-1201095959", Attempts = 5 });
        rig.Queue.Save(Reversal(rig) with { Id = "000125-1201095959", Status = ReversalStatus.NeedsOperator });

        Assert.Equal(["000124-1201095959", "000125-1201095959"], rig.Forwarder.Stuck.Select(r => r.Id));
        Assert.Equal(2, rig.Forwarder.StuckCount);
    }

    [Fact]
    public async Task An_operator_retry_makes_the_reversal_due_at_once_with_its_count_reset()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Queue.Save(Reversal(rig) with { Attempts = 7, Status = ReversalStatus.NeedsOperator, NextAttemptAt = rig.Time.GetUtcNow().AddHours(1) });

        Assert.True(ReversalForwarder.RequestRetry(rig.Queue, "000123-1201095959", rig.Time));
        Assert.False(ReversalForwarder.RequestRetry(rig.Queue, "000999-1201095959", rig.Time));

        var retried = rig.SingleReversal();
        Assert.Equal((ReversalStatus.Pending, (DateTimeOffset?)null, 0), (retried.Status, retried.NextAttemptAt, retried.Attempts));
        Assert.Equal($"operator retry at {rig.Time.GetUtcNow():u}", retried.LastProblem);
        Assert.Equal(1, rig.Queue.Depth);
    }

    [Fact]
    public async Task An_operator_refusal_is_journalled_as_needing_an_operator_with_no_next_attempt()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await rig.Forwarder.EnqueueAsync(Reversal(rig));
        rig.Host.Answers(ResponseCodes.InvalidTransaction);

        await rig.Forwarder.ForwardDueAsync(CancellationToken.None);

        Assert.Null(rig.SingleReversal().NextAttemptAt);
        Assert.Equal(nameof(ReversalDisposition.NeedsOperator), Assert.IsType<ReversalNotAcknowledged>(Assert.Single(rig.Entries(), e => e.Event == JournalEvents.ReversalNotAcknowledged)).Disposition);
    }

    [Fact]
    public async Task The_loop_forwards_a_new_reversal_when_woken_and_stops_when_cancelled()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        using var stop = new CancellationTokenSource();
        var loop = rig.Forwarder.RunAsync(stop.Token);
        rig.Host.Answers(ResponseCodes.Approved);

        await rig.Forwarder.EnqueueAsync(Reversal(rig));
        for (var i = 0; i < 400 && rig.Queue.Depth > 0; i++)
        {
            await Task.Delay(10);
        }

        Assert.Equal(0, rig.Queue.Depth);
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => loop.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    internal static PendingReversal Reversal(MoneyPathRig rig) =>
        new("000123-1201095959", 123, "1201095959", "633510000123", 8_000, 0, 978, "test", "session-1", rig.Time.GetUtcNow());
}

/// <summary>The reversal queue on disk: order, depth, ids and the files it refuses to guess about.</summary>
public sealed class ReversalStoreMutationTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 10, 0, 0, TimeSpan.Zero);
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("cardless-atm-saf-");

    private ReversalStore Store() => new(_directory.FullName);

    private static PendingReversal Reversal(string id, DateTimeOffset queuedAt, long dispensed = 0) =>
        new(id, 1, "1201095959", "633510000001", 8_000, dispensed, 978, "test", "s", queuedAt);

    [Fact]
    public void Pending_is_oldest_first_then_by_id_and_survives_reopening()
    {
        var store = Store();
        store.Save(Reversal("000003-x", T0.AddSeconds(2)));
        store.Save(Reversal("000002-b", T0));
        store.Save(Reversal("000002-a", T0));

        Assert.Equal(["000002-a", "000002-b", "000003-x"], Store().Pending.Select(r => r.Id));
    }

    [Fact]
    public void Every_field_of_a_reversal_survives_the_disk()
    {
        var store = Store();
        var reversal = Reversal("000001-1201095959", T0, 3_000) with
        {
            Attempts = 3,
            AdviceStan = 77,
            ReasonCode = ReversalReasons.SuspectedMalfunction,
            Status = ReversalStatus.NeedsOperator,
            LastResponse = "12",
            LastProblem = "blocked",
            NextAttemptAt = T0.AddMinutes(5),
        };
        store.Save(reversal);

        var read = Assert.Single(Store().Pending);

        Assert.Equal(reversal, read);
        Assert.True(read.IsPartial);
        Assert.False((read with { DispensedMinor = 0 }).IsPartial);
    }

    [Fact]
    public void Saving_twice_replaces_and_completing_removes_raising_the_depth_each_time()
    {
        var store = Store();
        var depths = new List<int>();
        store.DepthChanged += depths.Add;

        store.Save(Reversal("000001-a", T0));
        store.Save(Reversal("000001-a", T0) with { Attempts = 1 });
        store.Save(Reversal("000002-a", T0));
        store.Complete("000001-a");

        Assert.Equal([1, 1, 2, 1], depths);
        Assert.False(store.Contains("000001-a"));
        Assert.True(store.Contains("000002-a"));
        Assert.Null(store.Find("000001-a"));
        Assert.Equal("000002-a", store.Find("000002-a")!.Id);
        Assert.Equal(1, store.Depth);
    }

    [Theory]
    [InlineData("")]
    [InlineData("../escape")]
    [InlineData("a b")]
    [InlineData("id.json")]
    public void An_id_that_could_leave_the_directory_or_is_empty_is_refused(string id)
    {
        var store = Store();
        Assert.Throws<ArgumentException>(() => store.Save(Reversal(id, T0)));
        Assert.Throws<ArgumentException>(() => store.Contains(id));
        Assert.Empty(_directory.GetFiles());
    }

    [Fact]
    public void A_file_whose_id_differs_from_its_name_is_unreadable_not_dropped()
    {
        var store = Store();
        store.Save(Reversal("000001-a", T0));
        File.Move(Path.Combine(_directory.FullName, "000001-a.json"), Path.Combine(_directory.FullName, "000009-z.json"));
        File.WriteAllText(Path.Combine(_directory.FullName, "000008-z.json"), "null");
        File.WriteAllText(Path.Combine(_directory.FullName, "000007-z.json"), "{\n  \"Id\": 5,\n}");

        var (reversals, unreadable) = store.ReadAll();

        Assert.Empty(reversals);
        Assert.Equal(3, unreadable.Count);
        Assert.Contains(unreadable, u => u.StartsWith(Path.Combine(_directory.FullName, "000009-z.json"), StringComparison.Ordinal) && u.Contains("its id differs from the file name", StringComparison.Ordinal));
        Assert.Contains(unreadable, u => u.StartsWith(Path.Combine(_directory.FullName, "000008-z.json"), StringComparison.Ordinal) && u.Contains("not a reversal of this queue", StringComparison.Ordinal));
        Assert.Contains(unreadable, u => u.StartsWith(Path.Combine(_directory.FullName, "000007-z.json") + ": line 2: ", StringComparison.Ordinal));
        var error = Assert.Throws<ReversalStoreException>(() => store.Pending);
        Assert.Equal(3, error.Unreadable.Count);
        Assert.StartsWith("The reversal queue has 3 unreadable file(s)", error.Message, StringComparison.Ordinal);
        Assert.Equal(3, store.Depth);
    }

    [Fact]
    public void Files_that_are_not_json_are_not_part_of_the_queue()
    {
        var store = Store();
        File.WriteAllText(Path.Combine(_directory.FullName, "notes.txt"), "x");
        store.Save(Reversal("000001-a", T0));

        Assert.Equal(1, store.Depth);
        Assert.Single(store.Pending);
    }

    [Fact]
    public void A_blank_directory_is_refused()
    {
        Assert.Throws<ArgumentException>(() => new ReversalStore(" "));
    }

    public void Dispose() => _directory.Delete(recursive: true);
}

/// <summary>The STAN reservation file: what is reserved and the message an operator reads when it is broken.</summary>
public sealed class StanReservationMutationTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("cardless-atm-stan-");

    private string FilePath => Path.Combine(_directory.FullName, "stan");

    [Fact]
    public void A_restart_continues_after_the_reservation_and_reserves_a_block_ahead()
    {
        File.WriteAllText(FilePath, "004000\n");
        var stan = StanReservation.Open(FilePath);

        Assert.Equal(4_001, stan.Next());
        Assert.Equal("005000\n", File.ReadAllText(FilePath));
        Assert.Equal(4_002, stan.Next());
        Assert.Equal(5_000, StanReservation.Read(FilePath));
    }

    [Fact]
    public void A_reservation_near_the_end_of_the_cycle_wraps_to_the_start()
    {
        File.WriteAllText(FilePath, "999500");
        var stan = StanReservation.Open(FilePath);

        Assert.Equal(999_501, stan.Next());
        Assert.Equal(501, StanReservation.Read(FilePath)); // 999,501…999,999 and 1…501: a block of 1,000
        for (var i = 0; i < 999; i++)
        {
            stan.Next();
        }

        Assert.Equal(501, StanReservation.Read(FilePath));
        Assert.Equal(502, stan.Next());
        Assert.Equal(1_501, StanReservation.Read(FilePath));
    }

    [Theory]
    [InlineData("1", 1)]
    [InlineData(" 999999 \n", 999_999)]
    public void The_bounds_of_the_cycle_are_read(string content, int expected)
    {
        File.WriteAllText(FilePath, content);
        Assert.Equal(expected, StanReservation.Read(FilePath));
    }

    [Fact]
    public void No_file_yet_reads_as_nothing_reserved()
    {
        Assert.Equal(0, StanReservation.Read(FilePath));
        Assert.Equal(1, StanReservation.Open(FilePath).Next());
    }

    [Theory]
    [InlineData("-5")]
    [InlineData("+5")]
    [InlineData("1e3")]
    public void A_signed_or_formatted_number_is_not_a_stan(string content)
    {
        File.WriteAllText(FilePath, content);
        Assert.Throws<StanFileException>(() => StanReservation.Read(FilePath));
    }

    [Fact]
    public void The_message_quotes_at_most_16_characters_of_the_content()
    {
        File.WriteAllText(FilePath, "abcdefghijklmnopqrstuvwxyz");
        var error = Assert.Throws<StanFileException>(() => StanReservation.Read(FilePath));
        Assert.Contains("holds 'abcdefghijklmnop…'", error.Message, StringComparison.Ordinal);
        Assert.Equal(FilePath, error.FilePath);

        File.WriteAllText(FilePath, "abcdefghijklmnop");
        Assert.Contains("holds 'abcdefghijklmnop'", Assert.Throws<StanFileException>(() => StanReservation.Read(FilePath)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_blank_path_is_refused()
    {
        Assert.Throws<ArgumentException>(() => StanReservation.Open(" "));
    }

    public void Dispose() => _directory.Delete(recursive: true);
}
