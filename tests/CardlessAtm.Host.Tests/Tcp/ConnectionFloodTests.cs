using CardlessAtm.Host.Tests.Support;
using CardlessAtm.Iso8583;
using CardlessAtm.Lab;
using CardlessAtm.Network;
using CardlessAtm.Tests.Shared;

namespace CardlessAtm.Host.Tests.Tcp;

/// <summary>
/// Connection starvation against the host's real listener on loopback: sockets that never send anything valid must
/// not keep an ATM from connecting, signing on and having its withdrawal approved within its normal request timeout.
/// Every socket comes from 127.0.0.1, like the ATM, so this holds with the default per-address limit too.
/// </summary>
[Collection("socket floods")]
public sealed class ConnectionFloodTests
{
    private const int Sockets = 2_000;

    [SocketFloodTheory(Sockets)]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Two_thousand_idle_or_keep_alive_sockets_do_not_keep_an_ATM_from_signing_on_and_withdrawing(bool keepAlives)
    {
        await using var h = await HostHarness.StartAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await using var flood = await SocketFlood.StartAsync(h.Host.LocalEndPoint, Sockets, keepAlives ? TimeSpan.FromMilliseconds(500) : null, deadline.Token);

        var alsoApproved = await h.Atm.SendCheckedAsync(h.Withdrawal(1, 2_000)); // the link that was up before the flood

        // A new connection, dialled while the flood holds its sockets (its sign-on supersedes the older link).
        await using var secondLink = await h.ConnectSecondLinkAsync();
        var approved = await secondLink.SendCheckedAsync(h.Withdrawal(0, 5_000));

        Assert.Equal(ResponseCodes.Approved, approved.ResponseCode);
        Assert.Equal(ResponseCodes.Approved, alsoApproved.ResponseCode);
        Assert.True((await h.TotalsAsync()).Balances);
    }
}
