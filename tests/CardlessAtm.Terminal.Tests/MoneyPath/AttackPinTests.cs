using CardlessAtm.Iso8583;
using CardlessAtm.Network;
using CardlessAtm.Terminal.Links;
using CardlessAtm.Terminal.StoreAndForward;

namespace CardlessAtm.Terminal.Tests.MoneyPath;

/// <summary>Adversarial review: replays and misrouted 0430s that the forwarder correctly refuses to act on.</summary>
public class AttackPinTests
{
    [Fact]
    public async Task A_late_0430_to_the_first_0420_does_not_complete_the_0421_repeat_with_the_same_stan()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await rig.Forwarder.EnqueueAsync(Reversal(rig));
        rig.Host.TimesOut();
        await rig.Forwarder.ForwardDueAsync(CancellationToken.None);
        var first = rig.Host.Sent[0];

        rig.Time.Advance(TimeSpan.FromMinutes(1));
        rig.Host.Then(_ => new HostAnswer(ScriptedHostLink.Respond(first, ResponseCodes.Approved), MacVerified: true)); // answers the 0420, not the 0421
        await rig.Forwarder.ForwardDueAsync(CancellationToken.None);

        Assert.Equal(Mti.ReversalAdviceRepeat, rig.Host.Sent[1].Mti);
        Assert.Equal(first.Stan, rig.Host.Sent[1].Stan);
        Assert.Equal(2, rig.SingleReversal().Attempts);
    }

    [Fact]
    public async Task An_authentic_0210_with_00_is_not_taken_as_an_acknowledgement_of_a_reversal()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await rig.Forwarder.EnqueueAsync(Reversal(rig));
        rig.Host.Then(r =>
        {
            var wrongType = ScriptedHostLink.Respond(r, ResponseCodes.Approved);
            wrongType.Mti = Mti.FinancialResponse;
            return new HostAnswer(wrongType, MacVerified: true);
        });

        await rig.Forwarder.ForwardDueAsync(CancellationToken.None);

        Assert.Single(rig.Queue.Pending);
    }

    [Fact]
    public async Task An_operator_retry_of_an_unknown_id_changes_nothing()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await rig.Forwarder.EnqueueAsync(Reversal(rig));

        Assert.False(ReversalForwarder.RequestRetry(rig.Queue, "000999-1201095959", rig.Time));
        Assert.Single(rig.Queue.Pending);
    }

    private static PendingReversal Reversal(MoneyPathRig rig) =>
        new("000123-1201095959", 123, "1201095959", "633510000123", 8_000, 0, 978, "test", "session-1", rig.Time.GetUtcNow());
}
