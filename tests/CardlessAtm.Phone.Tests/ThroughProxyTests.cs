using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Channels;
using CardlessAtm.Network;
using CardlessAtm.Phone.Scanning;
using CardlessAtm.Phone.Withdrawal;
using CardlessAtm.Proxy;
using CardlessAtm.Security;

namespace CardlessAtm.Phone.Tests;

/// <summary>The phone against the real proxy, with an ATM that dials in, signs on and opens field 127 with the host-side opener.</summary>
public sealed class ThroughProxyTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_withdrawal_through_the_proxy_arrives_intact_and_the_answer_comes_back()
    {
        using var phone = new PhoneFixture();
        await using var proxy = await ProxyServer.StartAsync(LoopbackProxy());
        var opener = phone.Profile.CreatePhoneOpener(new FixedBdk(phone.Bdk));
        string? openedAccount = null;
        await using var atm = await SignedOnAtmAsync(proxy, "ATM00042", request =>
        {
            var binding = PhoneWithdrawalRequest.FromIso(request).Binding;
            using var opened = opener.Open(request.ProtectedData!, binding);
            openedAccount = opened.AccountId;
            var response = request.CreateResponse(opened.PinEquals(TestKeys.Pin) ? ResponseCodes.Approved : ResponseCodes.IncorrectPin);
            response.AuthorizationCode = "PX0001";
            return response;
        });
        var client = phone.Client(new ProxyEndpoint("127.0.0.1", proxy.PhoneEndPoint.Port));

        var outcome = await WithinDeadline(phone, client.WithdrawAsync(ScannedSession.FromText(Fixtures.Payload(6_000).Text), TestKeys.AccountId, WithdrawalInteraction.Automatic(TestKeys.Pin)));

        Assert.Equal(WithdrawalStatus.Approved, outcome.Status);
        Assert.Equal("PX0001", outcome.AuthorisationCode);
        Assert.Equal(6_000, outcome.Dispensed!.Value.MinorUnits);
        Assert.Equal(TestKeys.AccountId, openedAccount);
    }

    [Fact]
    public async Task An_atm_that_never_signed_on_is_declined_at_once_by_the_proxy()
    {
        using var phone = new PhoneFixture();
        await using var proxy = await ProxyServer.StartAsync(LoopbackProxy());
        var client = phone.Client(new ProxyEndpoint("127.0.0.1", proxy.PhoneEndPoint.Port));

        var outcome = await WithinDeadline(phone, client.WithdrawAsync(ScannedSession.FromText(Fixtures.Payload().Text), TestKeys.AccountId, WithdrawalInteraction.Automatic(TestKeys.Pin)));

        Assert.Equal(WithdrawalStatus.Declined, outcome.Status);
        Assert.Equal(ResponseCodes.RoutingError, outcome.ResponseCode);
        Assert.Contains("Nothing was dispensed", outcome.Message, StringComparison.Ordinal);
    }

    /// <summary>Waits for the withdrawal; past the safety net the failure carries what the phone logged.</summary>
    private static async Task<WithdrawalOutcome> WithinDeadline(PhoneFixture phone, Task<WithdrawalOutcome> withdrawal)
    {
        try
        {
            return await withdrawal.WaitAsync(Deadline);
        }
        catch (TimeoutException)
        {
            throw new Xunit.Sdk.XunitException($"no outcome within {Deadline.TotalSeconds:0} s; the phone logged:{Environment.NewLine}{phone.LogText()}");
        }
    }

    private static ProxyOptions LoopbackProxy() => new()
    {
        Atm = new ProxyListenerOptions { Port = 0, Insecure = true }, // ATM identity is not what these tests are about
        Phone = new ProxyListenerOptions { Port = 0, Insecure = true }, // TLS to the proxy is tested in WithdrawalTests
    };

    private static async Task<Iso8583Client> SignedOnAtmAsync(ProxyServer proxy, string atmId, Func<IsoMessage, IsoMessage> answer)
    {
        var client = new Iso8583Client(new Iso8583ClientOptions
        {
            Spec = NetworkSpec.Messages,
            Host = "127.0.0.1",
            Port = proxy.AtmEndPoint.Port,
            TerminalId = atmId,
            SignOn = async (connection, ct) =>
            {
                var signOn = new IsoMessage(NetworkSpec.Messages, Mti.NetworkManagementRequest) { Stan = 1, TerminalId = atmId, NetworkManagementCode = NetworkManagementCodes.SignOn };
                signOn.SetTransmissionDateTime(DateTimeOffset.UtcNow);
                var response = await connection.SendRequestAsync(signOn, ct);
                Assert.Equal(ResponseCodes.Approved, response.ResponseCode);
            },
            RequestHandler = (request, _, _) => ValueTask.FromResult<IsoMessage?>(answer(request)),
        });
        await client.StartAsync();
        await client.WaitUntilConnectedAsync().WaitAsync(Deadline);
        await proxy.WaitForAtmStateAsync(atmId, AtmLinkState.Online).WaitAsync(Deadline);
        return client;
    }

    private sealed class FixedBdk(SecretKey bdk) : IBaseDerivationKeyProvider
    {
        public SecretKey? FindBaseDerivationKey(KeySerialNumber ksn) => bdk;
    }
}
