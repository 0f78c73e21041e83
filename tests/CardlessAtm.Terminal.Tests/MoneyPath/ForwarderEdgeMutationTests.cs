using CardlessAtm.Iso8583;
using CardlessAtm.Network;
using CardlessAtm.Terminal.Links;
using CardlessAtm.Terminal.StoreAndForward;

namespace CardlessAtm.Terminal.Tests.MoneyPath;

/// <summary>
/// The forwarder's edges Stryker found untested: how long a pass says to wait, a pass that goes on or stops
/// after each kind of answer, cancellations that are not the shutdown's, the attempt counted on disk before
/// the advice leaves, and answers without field 39. Each asserts what is sent and what stays in the queue.
/// </summary>
public class ForwarderEdgeMutationTests
{
    private static PendingReversal Reversal(MoneyPathRig rig, int stan = 123) =>
        ForwarderMutationTests.Reversal(rig) with { Id = $"{stan:D6}-1201095959", OriginalStan = stan };

    [Fact]
    public async Task Null_arguments_are_refused()
    {
        using var rig = await MoneyPathRig.CreateAsync();

        await Assert.ThrowsAsync<ArgumentNullException>(() => rig.Forwarder.EnqueueAsync(null!));
        Assert.Throws<ArgumentNullException>(() => ReversalForwarder.RequestRetry(null!, "000123-1201095959", rig.Time));
        Assert.Throws<ArgumentNullException>(() => ReversalForwarder.RequestRetry(rig.Queue, "000123-1201095959", null!));
        Assert.Equal(0, rig.Queue.Depth);
    }

    [Fact]
    public async Task A_pass_with_nothing_due_waits_for_the_earliest_reversal()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        var now = rig.Time.GetUtcNow();
        rig.Queue.Save(Reversal(rig, 123) with { NextAttemptAt = now + TimeSpan.FromSeconds(30) });
        rig.Queue.Save(Reversal(rig, 124) with { NextAttemptAt = now + TimeSpan.FromSeconds(10) });

        Assert.Equal(TimeSpan.FromSeconds(10), await rig.Forwarder.ForwardDueAsync(CancellationToken.None));
        Assert.Empty(rig.Host.Sent);
    }

    [Fact]
    public async Task A_pass_never_waits_longer_than_the_maximum_backoff()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Queue.Save(Reversal(rig) with { NextAttemptAt = rig.Time.GetUtcNow() + TimeSpan.FromMinutes(10) });

        Assert.Equal(TimeSpan.FromSeconds(60), await rig.Forwarder.ForwardDueAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_pass_that_left_a_due_reversal_behind_comes_back_at_once()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await rig.Forwarder.EnqueueAsync(Reversal(rig, 123));
        await rig.Forwarder.EnqueueAsync(Reversal(rig, 124));
        rig.Host.TimesOut(); // the first is not carried; the second, never tried, is due now

        Assert.Equal(TimeSpan.FromMilliseconds(1), await rig.Forwarder.ForwardDueAsync(CancellationToken.None));
        Assert.Single(rig.Host.Sent);
    }

    [Fact]
    public async Task Every_acknowledged_reversal_of_a_pass_is_completed_in_that_pass()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await rig.Forwarder.EnqueueAsync(Reversal(rig, 123));
        await rig.Forwarder.EnqueueAsync(Reversal(rig, 124));
        rig.Host.Answers(ResponseCodes.Approved).Answers(ResponseCodes.Approved);

        await rig.Forwarder.ForwardDueAsync(CancellationToken.None);

        Assert.Equal(2, rig.Host.Sent.Count);
        Assert.Empty(rig.Queue.Pending);
    }

    [Theory]
    [InlineData("bad mac")]
    [InlineData("not bound")]
    public async Task An_answer_that_is_refused_still_lets_the_pass_go_on_to_the_next_reversal(string how)
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await rig.Forwarder.EnqueueAsync(Reversal(rig, 123));
        await rig.Forwarder.EnqueueAsync(Reversal(rig, 124));
        rig.Host.Then(r => how == "bad mac"
            ? new HostAnswer(ScriptedHostLink.Respond(r, ResponseCodes.Approved), MacVerified: false)
            : new HostAnswer(WithAmount(ScriptedHostLink.Respond(r, ResponseCodes.Approved), 1), MacVerified: true));
        rig.Host.Answers(ResponseCodes.Approved);

        await rig.Forwarder.ForwardDueAsync(CancellationToken.None);

        Assert.Equal(2, rig.Host.Sent.Count);
        Assert.Equal("000123-1201095959", rig.SingleReversal().Id);
    }

    [Theory]
    [InlineData("bad mac", nameof(ReversalStatus.Pending))]
    [InlineData("not bound", nameof(ReversalStatus.Pending))]
    [InlineData("authentic", nameof(ReversalStatus.NeedsOperator))]
    public async Task An_0430_without_field_39_is_recorded_as_none_and_kept(string how, string status)
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await rig.Forwarder.EnqueueAsync(Reversal(rig));
        rig.Host.Then(r =>
        {
            var response = ScriptedHostLink.Respond(r, ResponseCodes.Approved);
            response.Remove(39);
            return new HostAnswer(how == "not bound" ? WithAmount(response, 1) : response, MacVerified: how != "bad mac");
        });

        await rig.Forwarder.ForwardDueAsync(CancellationToken.None);

        var kept = rig.SingleReversal();
        Assert.Equal(("none", status, 1), (kept.LastResponse, kept.Status.ToString(), kept.Attempts));
    }

    [Fact]
    public async Task The_attempt_is_on_disk_before_the_advice_leaves()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await rig.Forwarder.EnqueueAsync(Reversal(rig));
        PendingReversal? onDisk = null;
        rig.Host.Then(r =>
        {
            onDisk = rig.SingleReversal();
            return new HostAnswer(ScriptedHostLink.Respond(r, ResponseCodes.IssuerUnavailable), MacVerified: true);
        });

        await rig.Forwarder.ForwardDueAsync(CancellationToken.None);

        Assert.Equal((1, rig.Host.Sent[0].Stan!.Value), (onDisk!.Attempts, onDisk.AdviceStan));
    }

    [Fact]
    public async Task A_send_cancelled_by_something_other_than_shutdown_is_no_answer_and_retried_later()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await rig.Forwarder.EnqueueAsync(Reversal(rig));
        rig.Host.Then(_ => throw new OperationCanceledException("the link's own timeout"));

        await rig.Forwarder.ForwardDueAsync(CancellationToken.None);

        var kept = rig.SingleReversal();
        Assert.Equal(("none", ReversalStatus.Pending, 1, rig.Time.GetUtcNow() + TimeSpan.FromSeconds(1)), (kept.LastResponse, kept.Status, kept.Attempts, kept.NextAttemptAt));
    }

    [Fact]
    public async Task A_rekey_cancelled_by_something_other_than_shutdown_stops_the_pass_and_is_tried_again()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await rig.Forwarder.EnqueueAsync(Reversal(rig, 123));
        rig.Host.Answers(ResponseCodes.SystemMalfunction); // 96: re-key before the next attempt
        await rig.Forwarder.ForwardDueAsync(CancellationToken.None);
        await rig.Forwarder.EnqueueAsync(Reversal(rig, 124));
        rig.Time.Advance(TimeSpan.FromSeconds(1));
        rig.Host.RekeyFaults.Enqueue(new OperationCanceledException("the key change's own timeout"));

        await rig.Forwarder.ForwardDueAsync(CancellationToken.None);

        Assert.Equal(1, rig.Host.Rekeys); // the second reversal did not try its own re-key in the same pass
        Assert.Single(rig.Host.Sent);
        Assert.Equal([1, 0], rig.Queue.Pending.Select(r => r.Attempts));
        Assert.Equal("re-key failed: the key change's own timeout", rig.Queue.Pending[0].LastProblem);
    }

    [Fact]
    public async Task A_pass_that_fails_does_not_end_the_loop_which_tries_again_after_the_maximum_backoff()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        using var stop = new CancellationTokenSource();
        var failures = 0;
        rig.Journal.Written += _ =>
        {
            if (rig.Host.Sent.Count == 1 && failures++ == 0)
            {
                throw new OperationCanceledException("not the shutdown"); // the acknowledgement's line fails once
            }
        };
        rig.Host.Answers(ResponseCodes.Approved).Answers(ResponseCodes.Approved);
        rig.Queue.Save(Reversal(rig)); // on disk from an earlier run: no wake-up pending
        var loop = rig.Forwarder.RunAsync(stop.Token);
        for (var i = 0; i < 400 && rig.Host.Sent.Count == 0; i++)
        {
            await Task.Delay(10);
        }

        await Task.Delay(50);
        Assert.False(loop.IsCompleted);
        Assert.Equal(1, rig.Queue.Depth); // not completed: its acknowledgement was not journalled

        for (var i = 0; i < 400 && rig.Queue.Depth > 0; i++)
        {
            rig.Time.Advance(TimeSpan.FromSeconds(10));
            await Task.Delay(10);
        }

        Assert.Equal(0, rig.Queue.Depth);
        Assert.Equal(2, rig.Host.Sent.Count);
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => loop.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    private static IsoMessage WithAmount(IsoMessage message, long amountMinor)
    {
        message.AmountMinor = amountMinor;
        return message;
    }
}
