using System.Globalization;
using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Channels;
using CardlessAtm.Lab;
using CardlessAtm.Network;
using CardlessAtm.Tests.Shared;

namespace CardlessAtm.Proxy.Tests;

/// <summary>
/// Connection starvation against the proxy's real listeners on loopback. The flood's sockets come from 127.0.0.1
/// like the real ATM and phone, so these hold with the default per-address limits. The proxy's clock is fake and
/// never advanced: no timeout helps, only the connection limits do.
/// </summary>
[Collection("socket floods")]
public sealed class ConnectionFloodTests
{
    private const int Sockets = 2_000;

    [SocketFloodTheory(Sockets)]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Two_thousand_idle_or_keep_alive_sockets_on_the_ATM_port_do_not_keep_a_real_ATM_from_signing_on_and_serving(bool keepAlives)
    {
        await using var f = await ProxyFixture.StartAsync();
        await using var flood = await SocketFlood.StartAsync(f.Proxy.AtmEndPoint, Sockets, keepAlives ? TimeSpan.FromMilliseconds(500) : null, Deadline.Token);

        await using var atm = await FakeAtm.StartAsync("ATM00001", f.Proxy.AtmEndPoint);
        await f.Proxy.WaitForAtmStateAsync("ATM00001", AtmLinkState.Online, Deadline.Token);
        await using var phone = await FakePhone.StartAsync(f.Proxy.PhoneEndPoint);
        var answer = await phone.SendAsync(FakePhone.Withdrawal("ATM00001", 1));

        Assert.Equal(ResponseCodes.Approved, answer.ResponseCode);
        Assert.Equal("AUTH01", answer.AuthorizationCode);
    }

    [SocketFloodTheory(Sockets)]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Two_thousand_idle_or_keep_alive_sockets_on_the_phone_port_do_not_keep_a_real_phone_from_its_withdrawal(bool keepAlives)
    {
        await using var f = await ProxyFixture.StartAsync();
        await using var atm = await FakeAtm.StartAsync("ATM00001", f.Proxy.AtmEndPoint);
        await f.Proxy.WaitForAtmStateAsync("ATM00001", AtmLinkState.Online, Deadline.Token);
        await using var flood = await SocketFlood.StartAsync(f.Proxy.PhoneEndPoint, Sockets, keepAlives ? TimeSpan.FromMilliseconds(500) : null, Deadline.Token);

        await using var phone = await FakePhone.StartAsync(f.Proxy.PhoneEndPoint);
        var answer = await phone.SendAsync(FakePhone.Withdrawal("ATM00001", 2));

        Assert.Equal(ResponseCodes.Approved, answer.ResponseCode);
        Assert.Equal("AUTH01", answer.AuthorizationCode);
    }

    [Fact]
    public async Task A_flood_of_sign_ons_with_random_ids_leaves_the_registry_bounded_and_the_real_ATM_served()
    {
        const int Ids = 10_500; // past the default bound of 10,000 known ATMs
        await using var f = await ProxyFixture.StartAsync();
        await using var atm = await FakeAtm.StartAsync("ATM00001", f.Proxy.AtmEndPoint);
        await f.Proxy.WaitForAtmStateAsync("ATM00001", AtmLinkState.Online, Deadline.Token);

        // Each attacker connection signs on as an id, signs off and signs on as the next: no key, no certificate.
        var attackers = Enumerable.Range(0, 4).Select(async worker =>
        {
            await using var client = new Iso8583Client(new Iso8583ClientOptions { Spec = NetworkSpec.Messages, Host = "127.0.0.1", Port = f.Proxy.AtmEndPoint.Port });
            await client.StartAsync();
            var connection = await client.WaitUntilConnectedAsync(Deadline.Token);
            for (var i = worker; i < Ids; i += 4)
            {
                var id = Id(i);
                var on = await connection.SendRequestAsync(FakeAtm.SignOnRequest(id, (2 * i % 999_998) + 1), Deadline.Token);
                var off = await connection.SendRequestAsync(FakeAtm.SignOnRequest(id, (((2 * i) + 1) % 999_998) + 1, NetworkManagementCodes.SignOff), Deadline.Token);
                if (on.ResponseCode != ResponseCodes.Approved || off.ResponseCode != ResponseCodes.Approved)
                {
                    break; // refused: the proxy stopped this attacker, which is just as good
                }
            }
        });
        await Task.WhenAll(attackers);

        Assert.Equal(AtmLinkState.Unknown, f.Proxy.GetAtmState(Id(0))); // the first of the flood was forgotten
        Assert.True(f.Proxy.KnownAtmCount <= new ProxyOptions().MaxKnownAtms, $"{f.Proxy.KnownAtmCount} ATMs known");
        Assert.Equal(AtmLinkState.Online, f.Proxy.GetAtmState("ATM00001"));
        await using var phone = await FakePhone.StartAsync(f.Proxy.PhoneEndPoint);
        Assert.Equal(ResponseCodes.Approved, (await phone.SendAsync(FakePhone.Withdrawal("ATM00001", 3))).ResponseCode);
    }

    private static string Id(int i) => "X" + i.ToString("D7", CultureInfo.InvariantCulture);
}
