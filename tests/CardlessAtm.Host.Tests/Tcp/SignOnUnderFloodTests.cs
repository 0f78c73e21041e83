using CardlessAtm.Host.Seeding;
using CardlessAtm.Host.Tests.Support;
using CardlessAtm.Iso8583;
using CardlessAtm.Network;

namespace CardlessAtm.Host.Tests.Tcp;

/// <summary>
/// Issue 12, finding H1, through the real listener on loopback: the connection was marked authenticated only after the
/// whole sign-on had been handled, including its database write, so a flood of anonymous sockets arriving during that
/// write evicted the real ATM's connection (anonymous connections are evictable however busy). Now the connection is
/// authenticated as soon as the sign-on's MAC, freshness and single use are verified, before the write.
/// </summary>
public sealed class SignOnUnderFloodTests
{
    [Fact]
    public async Task An_ATM_whose_sign_on_is_being_recorded_is_not_evicted_by_a_flood_of_anonymous_sockets()
    {
        const int beforeSignOn = 2;
        await using var h = await HostHarness.StartAsync(o => o.MaxConnectionsBeforeSignOn = beforeSignOn);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        h.Host.Processor.BeforeSignOnRecorded = async _ =>
        {
            entered.TrySetResult();
            await release.Task; // the sign-on's database write is held while the flood arrives
        };

        await using var atmLink = await RawLink.ConnectAsync(h.Host.LocalEndPoint);
        var signOn = atmLink.SendAsync(h.Atm.NetworkManagement(NetworkManagementCodes.SignOn));
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(30));

        // More anonymous sockets than there are slots before sign-on: each one answered is admitted, so every
        // eviction it caused has happened before the sign-on's write is released.
        var flood = new List<RawLink>();
        try
        {
            for (var i = 0; i < beforeSignOn * 3; i++)
            {
                var link = await RawLink.ConnectAsync(h.Host.LocalEndPoint);
                flood.Add(link);
                Assert.Equal(ResponseCodes.Approved, (await link.SendAsync(SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.EchoTest, DemoSeed.AtmId)))?.ResponseCode);
            }

            h.Host.Processor.BeforeSignOnRecorded = null;
            release.SetResult();
            Assert.Equal(ResponseCodes.Approved, (await signOn)?.ResponseCode);

            // Still open and signed on: it carries the ATM's withdrawal.
            var balance = await h.BalanceAsync(0);
            Assert.Equal(ResponseCodes.Approved, (await atmLink.SendAsync(h.Withdrawal(0, 1_000)))?.ResponseCode);
            Assert.Equal(balance - 1_000, await h.BalanceAsync(0));
        }
        finally
        {
            release.TrySetResult();
            foreach (var link in flood)
            {
                await link.DisposeAsync();
            }
        }
    }
}
