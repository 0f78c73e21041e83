using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Sensors;
using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Channels;
using CardlessAtm.Terminal.Flow;
using CardlessAtm.Terminal.Journal;
using CardlessAtm.Terminal.Links;
using CardlessAtm.Terminal.StoreAndForward;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Terminal.Tests.MoneyPath;

/// <summary>
/// The journal is what an auditor reads: each test drives the withdrawal transaction or the reversal forwarder
/// down one path, reads the typed records back (<see cref="ElectronicJournal.ReadAllEntries"/>) and asserts every
/// field's exact value, together with the response code, the cash counts and the reversal queue. These are the
/// mutants docs/testing.md listed as surviving because only journal detail differed.
/// </summary>
public class JournalDetailMutationTests
{
    private static readonly Money Eighty = Money.FromMajor(80, "EUR");
    private static readonly JournalAmount Zero = new(0, "EUR");

    [Fact]
    public async Task An_approval_journals_its_auth_code_not_cancelled_and_no_failure()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Host.Answers(ResponseCodes.Approved);

        var settled = await rig.WithdrawAsync();

        Assert.Equal(ResponseCodes.Approved, settled.ResponseCode);
        Assert.Equal(297, rig.NotesLeft);
        Assert.Empty(rig.Queue.Pending);
        var answer = Assert.Single(rig.Entries().OfType<AuthoriseAnswered>());
        Assert.Equal(("session-1", (int?)1, ResponseCodes.Approved, true, (string?)null, "A1B2C3", false, (string?)null),
            (answer.Session, answer.Stan, answer.Response, answer.MacVerified, answer.Mismatch, answer.AuthCode, answer.Cancelled, answer.Failure));
    }

    [Fact]
    public async Task Cancel_pressed_while_the_host_decided_is_journalled_as_cancelled()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Host.Answers(ResponseCodes.Approved);

        var settled = await rig.WithdrawAsync(Task.FromResult(true));

        Assert.Equal(ResponseCodes.DoNotHonour, settled.ResponseCode);
        Assert.Equal(300, rig.NotesLeft);
        Assert.Equal(ReversalReasons.CustomerCancellation, rig.SingleReversal().ReasonCode);
        var answer = Assert.Single(rig.Entries().OfType<AuthoriseAnswered>());
        Assert.Equal((ResponseCodes.Approved, "A1B2C3", true, (string?)null), (answer.Response, answer.AuthCode, answer.Cancelled, answer.Failure));
    }

    [Theory]
    [InlineData("channel")]
    [InlineData("invalid")]
    [InlineData("timeout")]
    public async Task No_answer_journals_why_with_no_code_no_mac_and_no_auth_code(string how)
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Host.Then(_ => throw (how switch
        {
            "channel" => new Iso8583ChannelException(ChannelErrorReason.Timeout, "no answer within the request timeout"),
            "invalid" => new InvalidOperationException("no answer within the request timeout"),
            _ => (Exception)new TimeoutException("no answer within the request timeout"),
        }));

        var settled = await rig.WithdrawAsync();

        Assert.Equal(ResponseCodes.IssuerUnavailable, settled.ResponseCode);
        Assert.Equal(300, rig.NotesLeft);
        Assert.Equal((8_000L, 0L, ReversalReasons.Timeout), (rig.SingleReversal().AmountMinor, rig.SingleReversal().DispensedMinor, rig.SingleReversal().ReasonCode));
        var answer = Assert.Single(rig.Entries().OfType<AuthoriseAnswered>());
        Assert.Equal(((string?)null, false, (string?)null, (string?)null, false, "no answer within the request timeout"),
            (answer.Response, answer.MacVerified, answer.Mismatch, answer.AuthCode, answer.Cancelled, answer.Failure));
    }

    [Fact]
    public async Task The_dispense_start_line_quotes_what_a_reversal_must_quote()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Host.Answers(ResponseCodes.Approved);

        await rig.WithdrawAsync();

        var request = rig.Host.Sent[0];
        var start = Assert.Single(rig.Entries().OfType<DispenseStarted>());
        Assert.Equal(("session-1", (int?)1), (start.Session, start.Stan));
        Assert.Equal($"{request.Stan:D6}-{request.GetString(7)}", start.ReversalId);
        Assert.Equal("633510000001", start.Rrn);
        Assert.Equal(request.RetrievalReferenceNumber, start.Rrn);
        Assert.Equal(request.GetString(7), start.Transmission);
        Assert.Equal(new JournalAmount(8_000, "EUR"), start.Amount);
        Assert.Equal(JournalMixItem.Of(MoneyPathRig.Mix80), start.Mix);
        Assert.Equal([("CASS1", 100), ("CASS2", 100), ("CASS3", 100)], start.Counts.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => (c.Key, c.Value)));
        Assert.Equal([new JournalDeviceCounter(1, 0, 0), new JournalDeviceCounter(2, 0, 0), new JournalDeviceCounter(3, 0, 0)], start.Counters!);
    }

    [Fact]
    public async Task A_host_link_fault_journals_its_stage_type_and_message()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Host.Then(_ => throw new FormatException("a bug in the link"));

        var settled = await rig.WithdrawAsync();

        Assert.Equal(ResponseCodes.SystemMalfunction, settled.ResponseCode);
        Assert.Equal(300, rig.NotesLeft);
        Assert.Equal((8_000L, ReversalReasons.AtmMalfunction, "ATM fault before any note moved: FormatException"), (rig.SingleReversal().AmountMinor, rig.SingleReversal().ReasonCode, rig.SingleReversal().Reason));
        var fault = Assert.Single(rig.Entries().OfType<WithdrawalFault>());
        Assert.Equal(("session-1", (int?)1, "Asked", "FormatException", "a bug in the link"), (fault.Session, fault.Stan, fault.Stage, fault.Fault, fault.Detail));
    }

    [Fact]
    public async Task A_cassette_pulled_while_the_host_decided_journals_the_dispensing_stage_and_a_synthetic_invalid_request()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Host.Then(request =>
        {
            rig.Sensors.Set("Cassette3", SensorState.Alert);
            return new HostAnswer(ScriptedHostLink.Respond(request, ResponseCodes.Approved), MacVerified: true);
        });

        var settled = await rig.WithdrawAsync();

        Assert.Equal(ResponseCodes.SystemMalfunction, settled.ResponseCode);
        Assert.Equal(300, rig.NotesLeft);
        Assert.Equal((0L, ReversalReasons.AtmMalfunction), (rig.SingleReversal().DispensedMinor, rig.SingleReversal().ReasonCode));
        var fault = Assert.Single(rig.Entries().OfType<WithdrawalFault>());
        Assert.Equal(("Dispensing", "InvalidMixException"), (fault.Stage, fault.Fault));
        Assert.False(string.IsNullOrWhiteSpace(fault.Detail));
        var end = Assert.Single(rig.Entries().OfType<DispenseEnded>());
        Assert.Equal(("session-1", (int?)1, nameof(DispenseCompletion.InvalidRequest), Zero, (string?)null, fault.Detail),
            (end.Session, end.Stan, end.Completion, end.Presented, end.DeviceCode, end.Detail));
        Assert.Empty(end.Movements);
    }

    [Fact]
    public async Task A_dispense_that_never_ends_journals_a_synthetic_timeout_with_every_note_unknown()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Device.Faults.NoteDelay = TimeSpan.FromHours(1);
        rig.Host.Answers(ResponseCodes.Approved);

        var running = rig.WithdrawAsync();
        for (var i = 0; i < 300 && !running.IsCompleted; i++)
        {
            await Task.Delay(5);
            rig.Time.Advance(TimeSpan.FromSeconds(1));
        }

        var settled = await running.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(ResponseCodes.SystemMalfunction, settled.ResponseCode);
        Assert.Equal((0L, ReversalReasons.SuspectedMalfunction), (rig.SingleReversal().DispensedMinor, rig.SingleReversal().ReasonCode));
        var fault = Assert.Single(rig.Entries().OfType<WithdrawalFault>());
        Assert.Equal(("Dispensing", "TimeoutException"), (fault.Stage, fault.Fault));
        var end = Assert.Single(rig.Entries().OfType<DispenseEnded>());
        Assert.Equal((nameof(DispenseCompletion.Timeout), Zero, (string?)null, "the dispenser did not finish within 00:00:10"), (end.Completion, end.Presented, end.DeviceCode, end.Detail));
        Assert.Equal([new JournalMovement("CASS1", 0, 0, 1), new JournalMovement("CASS2", 0, 0, 1), new JournalMovement("CASS3", 0, 0, 1)], end.Movements);
    }

    [Fact]
    public async Task A_dispense_that_throws_on_a_device_that_cannot_say_what_moved_journals_a_synthetic_hardware_error()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        var dispenser = new ScriptedDispenser(rig.Dispenser);
        dispenser.CounterReads.Enqueue(() => rig.Dispenser.ReadDeviceCountersAsync(CancellationToken.None));
        dispenser.CounterReads.Enqueue(() => Task.FromException<DeviceCounters?>(new IOException("counters unreadable")));
        dispenser.Dispense = (_, _) => Task.FromException<DispenseResult>(new IOException("serial link lost"));
        var transaction = new WithdrawalTransaction(rig.Host, dispenser, rig.Forwarder, rig.Journal, rig.Options, rig.Metrics, rig.Time, NullLogger.Instance);
        rig.Host.Answers(ResponseCodes.Approved);

        var settled = await transaction.RunAsync("session-1", Eighty, MoneyPathRig.Mix80, MoneyPathRig.PhoneRequest(), 7, Task.FromResult(false), CancellationToken.None);

        Assert.Equal(ResponseCodes.SystemMalfunction, settled.ResponseCode);
        Assert.Equal(300, rig.NotesLeft);
        Assert.Equal((0L, ReversalReasons.SuspectedMalfunction, "dispense failed: IOException"), (rig.SingleReversal().DispensedMinor, rig.SingleReversal().ReasonCode, rig.SingleReversal().Reason));
        var fault = Assert.Single(rig.Entries().OfType<WithdrawalFault>());
        Assert.Equal(("session-1", (int?)7, "Dispensing", "IOException", "serial link lost"), (fault.Session, fault.Stan, fault.Stage, fault.Fault, fault.Detail));
        var end = Assert.Single(rig.Entries().OfType<DispenseEnded>());
        Assert.Equal(("session-1", (int?)7, nameof(DispenseCompletion.HardwareError), Zero, "the dispenser cannot say what moved: counters unreadable"),
            (end.Session, end.Stan, end.Completion, end.Presented, end.Detail));
        Assert.Equal(3, end.UnknownNotes);
    }

    [Fact]
    public async Task A_jam_journals_the_dispenser_reset_with_its_completion_and_rejected_notes()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Device.Faults.JamAfterNotes = 2;
        rig.Host.Answers(ResponseCodes.Approved);

        var settled = await rig.WithdrawAsync();

        Assert.Equal((ResponseCodes.Approved, Money.FromMajor(30, "EUR")), (settled.ResponseCode, settled.Presented));
        Assert.Equal((3_000L, ReversalReasons.PartialDispense), (rig.SingleReversal().DispensedMinor, rig.SingleReversal().ReasonCode));
        var reset = Assert.Single(rig.Entries().OfType<DispenserReset>());
        Assert.Equal(("session-1", (int?)null, nameof(DispenseCompletion.Ok), 0), (reset.Session, reset.Stan, reset.Completion, reset.Rejected));
        Assert.True(rig.Entries().ToList().FindIndex(e => e is DispenseEnded) < rig.Entries().ToList().FindIndex(e => e is DispenserReset));
    }

    [Theory]
    [InlineData("bad mac", nameof(ReversalDisposition.RekeyThenRetry), "the answer 0430 is not an authentic 0430")]
    [InlineData("not bound", nameof(ReversalDisposition.RetryLater), "the 0430 differs from the advice in field(s) 4")]
    [InlineData("authentic", nameof(ReversalDisposition.NeedsOperator), "the host answered  (unknown response code)")]
    public async Task A_refused_0430_without_field_39_is_journalled_as_none(string how, string disposition, string problem)
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await rig.Forwarder.EnqueueAsync(ForwarderMutationTests.Reversal(rig));
        rig.Host.Then(r =>
        {
            var response = ScriptedHostLink.Respond(r, ResponseCodes.Approved);
            response.Remove(39);
            if (how == "not bound")
            {
                response.AmountMinor = 1;
            }

            return new HostAnswer(response, MacVerified: how != "bad mac");
        });

        await rig.Forwarder.ForwardDueAsync(CancellationToken.None);

        Assert.Equal(("none", 1), (rig.SingleReversal().LastResponse, rig.SingleReversal().Attempts));
        var refused = Assert.Single(rig.Entries().OfType<ReversalNotAcknowledged>());
        Assert.Equal(("session-1", (int?)123, "000123-1201095959", "none", disposition, 1, problem),
            (refused.Session, refused.Stan, refused.Id, refused.Response, refused.Disposition, refused.Attempts, refused.Problem));
        Assert.DoesNotContain(rig.Entries(), e => e is ReversalAcknowledged);
    }

    [Fact]
    public async Task A_send_cancelled_by_shutdown_mid_call_ends_the_pass_and_records_no_failure()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        using var shutdown = new CancellationTokenSource();
        await rig.Forwarder.EnqueueAsync(ForwarderMutationTests.Reversal(rig));
        rig.Host.Then(_ =>
        {
            shutdown.Cancel();
            throw new OperationCanceledException(shutdown.Token);
        });

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => rig.Forwarder.ForwardDueAsync(shutdown.Token));

        var kept = rig.SingleReversal();
        Assert.Equal((1, (string?)null, ReversalStatus.Pending), (kept.Attempts, kept.LastResponse, kept.Status)); // the attempt was counted before it left
        Assert.DoesNotContain(rig.Entries(), e => e is ReversalNotAcknowledged or ReversalAcknowledged);
    }

    [Fact]
    public async Task A_send_failure_while_shutdown_is_signalled_is_still_recorded_and_kept_for_retry()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        using var shutdown = new CancellationTokenSource();
        await rig.Forwarder.EnqueueAsync(ForwarderMutationTests.Reversal(rig));
        rig.Host.Then(_ =>
        {
            shutdown.Cancel();
            throw new Iso8583ChannelException(ChannelErrorReason.ConnectionClosed, "the link closed");
        });

        await rig.Forwarder.ForwardDueAsync(shutdown.Token);

        var kept = rig.SingleReversal();
        Assert.Equal((1, "none", ReversalStatus.Pending, rig.Time.GetUtcNow() + TimeSpan.FromSeconds(1)), (kept.Attempts, kept.LastResponse, kept.Status, kept.NextAttemptAt));
        var refused = Assert.Single(rig.Entries().OfType<ReversalNotAcknowledged>());
        Assert.Equal(("none", nameof(ReversalDisposition.RetryLater), 1, "the link closed"), (refused.Response, refused.Disposition, refused.Attempts, refused.Problem));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_rekey_interrupted_while_shutdown_is_signalled_propagates_only_if_it_is_the_shutdowns_cancellation(bool shutdownsOwn)
    {
        using var rig = await MoneyPathRig.CreateAsync();
        using var shutdown = new CancellationTokenSource();
        await rig.Forwarder.EnqueueAsync(ForwarderMutationTests.Reversal(rig));
        rig.Host.Answers(ResponseCodes.SystemMalfunction); // 96: re-key before the next attempt
        await rig.Forwarder.ForwardDueAsync(CancellationToken.None);
        rig.Time.Advance(TimeSpan.FromSeconds(1));
        await shutdown.CancelAsync();
        rig.Host.RekeyFaults.Enqueue(shutdownsOwn ? new OperationCanceledException(shutdown.Token) : new TimeoutException("key change timed out"));

        if (shutdownsOwn)
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => rig.Forwarder.ForwardDueAsync(shutdown.Token));
        }
        else
        {
            await rig.Forwarder.ForwardDueAsync(shutdown.Token);
        }

        Assert.Equal(1, rig.Host.Rekeys);
        Assert.Single(rig.Host.Sent); // no advice after the failed re-key
        var refusals = rig.Entries().OfType<ReversalNotAcknowledged>().ToList();
        var kept = rig.SingleReversal();
        if (shutdownsOwn)
        {
            Assert.Equal(ResponseCodes.SystemMalfunction, Assert.Single(refusals).Response);
            Assert.Equal((1, ResponseCodes.SystemMalfunction), (kept.Attempts, kept.LastResponse));
        }
        else
        {
            Assert.Equal(2, refusals.Count);
            Assert.Equal(("none", nameof(ReversalDisposition.RekeyThenRetry), 1, "re-key failed: key change timed out"), (refusals[1].Response, refusals[1].Disposition, refusals[1].Attempts, refusals[1].Problem));
            Assert.Equal((1, "none", "re-key failed: key change timed out"), (kept.Attempts, kept.LastResponse, kept.LastProblem));
        }
    }

    [Fact]
    public async Task A_pass_that_fails_while_shutdown_is_signalled_ends_the_loop_with_the_cancellation_not_the_failure()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        using var shutdown = new CancellationTokenSource();
        rig.Journal.Written += e =>
        {
            if (e is ReversalNotAcknowledged)
            {
                throw new IOException("disk full");
            }
        };
        rig.Host.Then(_ =>
        {
            shutdown.Cancel();
            throw new Iso8583ChannelException(ChannelErrorReason.ConnectionClosed, "the link closed");
        });
        rig.Queue.Save(ForwarderMutationTests.Reversal(rig));

        var ended = await Record.ExceptionAsync(() => rig.Forwarder.RunAsync(shutdown.Token).WaitAsync(TimeSpan.FromSeconds(30)));

        Assert.IsAssignableFrom<OperationCanceledException>(ended);
        var kept = rig.SingleReversal();
        Assert.Equal((1, "none"), (kept.Attempts, kept.LastResponse)); // the file was updated before the journal failed
    }
}
