using CardlessAtm.Host.Processing;
using CardlessAtm.Host.Tests.Support;
using CardlessAtm.Iso8583;
using CardlessAtm.Network;

namespace CardlessAtm.Host.Tests.InProcess;

/// <summary>
/// Issue 12, finding L2: the sign-on registry admitted a sign-on and named the superseded connection under its lock,
/// but the session was signed on outside it, so two racing sign-ons of one ATM could both end "current" (the later one
/// signed off the earlier before the earlier had signed itself on). The race is forced with a gate, not timing.
/// </summary>
public sealed class RacingSignOnTests
{
    [Fact]
    public async Task Two_racing_sign_ons_of_one_ATM_leave_exactly_one_connection_signed_on_and_the_other_superseded()
    {
        await using var h = await InProcessHost.StartAsync();
        var first = new HostSession("127.0.0.1");
        var second = new HostSession("127.0.0.1");
        var firstSuperseded = 0;
        var secondSuperseded = 0;
        first.Superseded += () => Interlocked.Increment(ref firstSuperseded);
        second.Superseded += () => Interlocked.Increment(ref secondSuperseded);
        var admitted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        h.Processor.AfterSignOnAdmitted = async (_, session) =>
        {
            if (ReferenceEquals(session, first))
            {
                admitted.TrySetResult();
                await release.Task; // the first sign-on is admitted and held here while the second runs to the end
            }
        };

        var firstSignOn = h.Processor.HandleAsync(h.Atm.NetworkManagement(NetworkManagementCodes.SignOn), first).AsTask();
        await admitted.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var secondAnswer = await h.Processor.HandleAsync(h.Atm.NetworkManagement(NetworkManagementCodes.SignOn), second);
        release.SetResult();
        var firstAnswer = await firstSignOn;

        Assert.Equal(ResponseCodes.Approved, firstAnswer?.ResponseCode);
        Assert.Equal(ResponseCodes.Approved, secondAnswer?.ResponseCode);
        Assert.False(first.IsSignedOnAs(h.Atm.AtmId)); // admitted first, superseded by the later one
        Assert.True(second.IsSignedOnAs(h.Atm.AtmId));
        Assert.Equal(1, Volatile.Read(ref firstSuperseded));
        Assert.Equal(0, Volatile.Read(ref secondSuperseded));
        Assert.False(h.AtmConnection.IsSignedOnAs(h.Atm.AtmId)); // the connection signed on before both
    }
}
