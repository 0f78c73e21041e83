using CardlessAtm.Host.Seeding;
using CardlessAtm.Host.Tests.Support;
using CardlessAtm.Iso8583;
using CardlessAtm.Network;
using Microsoft.Extensions.Time.Testing;

namespace CardlessAtm.Host.Tests.Tcp;

/// <summary>
/// Adversary review of issue 12, finding 3, through the host's real listener on loopback: an anonymous (not signed-on)
/// connection that kept sending echoes was never idle, so it held its slot for ever. Now every connection must sign on
/// within Host:SignOnTimeout (default 30 s) of opening, whatever it sends. The listener's clock is a FakeTimeProvider.
/// </summary>
public sealed class AnonymousConnectionTests
{
    [Fact]
    public async Task An_anonymous_socket_that_keeps_echoing_is_closed_at_the_sign_on_deadline_and_the_ATM_keeps_working()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = await HostHarness.StartAsync(time: time);
        await using var anonymous = await RawLink.ConnectAsync(h.Host.LocalEndPoint);

        // An echo every 10 s (never idle, never signed on), for 40 s of the host's clock.
        for (var i = 0; i < 4; i++)
        {
            var echo = await anonymous.SendAsync(SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.EchoTest, DemoSeed.AtmId));
            if (echo is null)
            {
                break; // closed by the host
            }

            Assert.Equal(ResponseCodes.Approved, echo.ResponseCode);
            time.Advance(TimeSpan.FromSeconds(10));
        }

        Assert.True(await anonymous.IsClosedByHostAsync());
        var balance = await h.BalanceAsync(0);
        Assert.Equal(ResponseCodes.Approved, (await h.Atm.SendCheckedAsync(h.Withdrawal(0, 1_000))).ResponseCode); // signed on: no deadline
        Assert.Equal(balance - 1_000, await h.BalanceAsync(0));
    }
}
