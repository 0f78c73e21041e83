using CardlessAtm.Iso8583;
using CardlessAtm.Network;
using CardlessAtm.Terminal.Links;
using CardlessAtm.Terminal.StoreAndForward;

namespace CardlessAtm.Terminal.Tests.MoneyPath;

/// <summary>The reversal lifecycle: a reversal leaves the queue only on an authentic 0430 with 00.</summary>
public class ReversalForwarderTests
{
    [Theory]
    [InlineData(ResponseCodes.Approved, ReversalDisposition.Acknowledged)]
    [InlineData(ResponseCodes.IssuerUnavailable, ReversalDisposition.RetryLater)]
    [InlineData(ResponseCodes.RoutingError, ReversalDisposition.RetryLater)]
    [InlineData(ResponseCodes.SecurityViolation, ReversalDisposition.RekeyThenRetry)]
    [InlineData(ResponseCodes.SystemMalfunction, ReversalDisposition.RekeyThenRetry)]
    [InlineData(ResponseCodes.InvalidTransaction, ReversalDisposition.NeedsOperator)]
    [InlineData(ResponseCodes.FormatError, ReversalDisposition.NeedsOperator)]
    [InlineData(ResponseCodes.InvalidAmount, ReversalDisposition.NeedsOperator)]
    [InlineData(null, ReversalDisposition.NeedsOperator)]
    public void Every_code_is_classified(string? code, ReversalDisposition expected) => Assert.Equal(expected, ReversalForwarder.Classify(code));

    [Fact]
    public async Task An_authentic_00_removes_the_reversal_and_the_advice_carries_the_reason_and_the_original()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await rig.Forwarder.EnqueueAsync(Reversal(rig) with { ReasonCode = ReversalReasons.SuspectedMalfunction, DispensedMinor = 3_000 });
        rig.Host.Answers(ResponseCodes.Approved);

        await rig.Forwarder.ForwardDueAsync(CancellationToken.None);

        Assert.Empty(rig.Queue.Pending);
        var advice = Assert.Single(rig.Host.Sent);
        Assert.Equal(Mti.ReversalAdvice, advice.Mti);
        Assert.Equal(ReversalReasons.SuspectedMalfunction, advice.ResponseCode);
        Assert.Equal(8_000, advice.AmountMinor);
        Assert.Equal(3_000, advice.ReplacementAmountMinor);
        Assert.Equal(123, advice.OriginalData!.OriginalStan);
    }

    [Theory]
    [InlineData(ResponseCodes.InvalidTransaction)] // the host's answer while the ATM is blocked
    [InlineData(ResponseCodes.FormatError)]
    public async Task A_refusal_an_operator_must_handle_keeps_the_reversal_stops_repeating_it_and_raises_an_alert(string code)
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await rig.Forwarder.EnqueueAsync(Reversal(rig));
        rig.Host.Answers(code);

        await rig.Forwarder.ForwardDueAsync(CancellationToken.None);
        rig.Time.Advance(TimeSpan.FromHours(1));
        await rig.Forwarder.ForwardDueAsync(CancellationToken.None); // nothing scripted: a second send would throw

        var kept = rig.SingleReversal();
        Assert.Equal(ReversalStatus.NeedsOperator, kept.Status);
        Assert.Equal(code, kept.LastResponse);
        Assert.Single(rig.Host.Sent);
        Assert.Equal(1, rig.Forwarder.StuckCount);

        // The operator fixed the cause (e.g. unblocked the ATM) and retries: it is delivered.
        Assert.True(ReversalForwarder.RequestRetry(rig.Queue, kept.Id, rig.Time));
        rig.Host.Answers(ResponseCodes.Approved);
        await rig.Forwarder.ForwardDueAsync(CancellationToken.None);
        Assert.Empty(rig.Queue.Pending);
        Assert.Equal(0, rig.Forwarder.StuckCount);
    }

    [Fact]
    public async Task A_91_keeps_the_reversal_and_repeats_it_as_0421_with_the_same_stan_after_its_backoff()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await rig.Forwarder.EnqueueAsync(Reversal(rig));
        rig.Host.Answers(ResponseCodes.IssuerUnavailable);

        var wait = await rig.Forwarder.ForwardDueAsync(CancellationToken.None);
        Assert.Equal(ResponseCodes.IssuerUnavailable, rig.SingleReversal().LastResponse);
        Assert.Equal(TimeSpan.FromSeconds(1), wait);
        await rig.Forwarder.ForwardDueAsync(CancellationToken.None); // not due yet: nothing is sent
        Assert.Single(rig.Host.Sent);

        rig.Time.Advance(TimeSpan.FromSeconds(1));
        rig.Host.Answers(ResponseCodes.Approved);
        await rig.Forwarder.ForwardDueAsync(CancellationToken.None);

        Assert.Empty(rig.Queue.Pending);
        Assert.Equal([Mti.ReversalAdvice, Mti.ReversalAdviceRepeat], rig.Host.Sent.Select(m => m.Mti));
        Assert.Equal(rig.Host.Sent[0].Stan, rig.Host.Sent[1].Stan);
    }

    [Theory]
    [InlineData(ResponseCodes.SecurityViolation)]
    [InlineData(ResponseCodes.SystemMalfunction)]
    public async Task A_63_or_96_makes_the_terminal_rekey_before_the_next_attempt(string code)
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await rig.Forwarder.EnqueueAsync(Reversal(rig));
        rig.Host.Answers(code);
        await rig.Forwarder.ForwardDueAsync(CancellationToken.None);
        Assert.Equal(0, rig.Host.Rekeys);

        rig.Time.Advance(TimeSpan.FromSeconds(1));
        rig.Host.Answers(ResponseCodes.Approved);
        await rig.Forwarder.ForwardDueAsync(CancellationToken.None);

        Assert.Equal(1, rig.Host.Rekeys);
        Assert.Empty(rig.Queue.Pending);
    }

    [Fact]
    public async Task An_0430_with_a_bad_mac_or_for_another_advice_does_not_complete_the_reversal()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await rig.Forwarder.EnqueueAsync(Reversal(rig));
        rig.Host.Then(r => new HostAnswer(ScriptedHostLink.Respond(r, ResponseCodes.Approved), MacVerified: false));
        await rig.Forwarder.ForwardDueAsync(CancellationToken.None);
        Assert.Single(rig.Queue.Pending);

        rig.Time.Advance(TimeSpan.FromMinutes(1));
        rig.Host.Then(r =>
        {
            var other = ScriptedHostLink.Respond(r, ResponseCodes.Approved);
            other.AmountMinor = 1;
            return new HostAnswer(other, MacVerified: true);
        });
        await rig.Forwarder.ForwardDueAsync(CancellationToken.None);

        Assert.Equal(2, rig.SingleReversal().Attempts);
    }

    [Fact]
    public async Task No_answer_keeps_the_reversal_and_after_the_attempt_bound_it_is_stuck_but_still_repeated()
    {
        using var rig = await MoneyPathRig.CreateAsync(); // ReversalMaxAttempts = 5
        await rig.Forwarder.EnqueueAsync(Reversal(rig));
        for (var attempt = 1; attempt <= 5; attempt++)
        {
            rig.Host.TimesOut();
            await rig.Forwarder.ForwardDueAsync(CancellationToken.None);
            rig.Time.Advance(TimeSpan.FromMinutes(1));
        }

        var kept = rig.SingleReversal();
        Assert.Equal(5, kept.Attempts);
        Assert.Equal(ReversalStatus.Pending, kept.Status);
        Assert.Equal(1, rig.Forwarder.StuckCount);

        rig.Host.Answers(ResponseCodes.Approved);
        await rig.Forwarder.ForwardDueAsync(CancellationToken.None);
        Assert.Empty(rig.Queue.Pending);
    }

    [Fact]
    public async Task An_unreadable_reversal_file_is_reported_with_its_path_and_never_dropped()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        var path = Path.Combine(rig.Queue.Directory, "000123-1201095959.json");
        await File.WriteAllTextAsync(path, "{ \"Id\": \"000123-12");

        var error = Assert.Throws<ReversalStoreException>(() => rig.Queue.Pending);

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Equal(1, rig.Queue.Depth);
        await rig.Forwarder.ForwardDueAsync(CancellationToken.None); // logs, sends nothing, deletes nothing
        Assert.Empty(rig.Host.Sent);
        Assert.True(File.Exists(path));
    }

    private static PendingReversal Reversal(MoneyPathRig rig) =>
        new("000123-1201095959", 123, "1201095959", "633510000123", 8_000, 0, 978, "test", "session-1", rig.Time.GetUtcNow());
}
