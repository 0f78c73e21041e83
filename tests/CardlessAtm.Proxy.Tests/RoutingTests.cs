using CardlessAtm.Iso8583;
using CardlessAtm.Network;

namespace CardlessAtm.Proxy.Tests;

public class RoutingTests
{
    [Fact]
    public async Task A_phone_request_reaches_the_ATM_named_in_field_41_and_its_answer_comes_back()
    {
        await using var fixture = await ProxyFixture.StartAsync();
        await using var atm1 = await FakeAtm.StartAsync("ATM00001", fixture.Proxy.AtmEndPoint);
        await using var atm2 = await FakeAtm.StartAsync("ATM00002", fixture.Proxy.AtmEndPoint);
        atm2.Answer = (request, _) =>
        {
            var response = request.CreateResponse(ResponseCodes.Approved);
            response.AuthorizationCode = "XYZ789";
            return Task.FromResult<IsoMessage?>(response);
        };
        await fixture.Proxy.WaitForAtmStateAsync("ATM00002", AtmLinkState.Online, Deadline.Token);
        await using var phone = await FakePhone.StartAsync(fixture.Proxy.PhoneEndPoint);

        var request = FakePhone.Withdrawal("ATM00002", stan: 4711);
        var response = await phone.SendAsync(request);

        Assert.Equal(Mti.FinancialResponse, response.Mti);
        Assert.Equal(ResponseCodes.Approved, response.ResponseCode);
        Assert.Equal("XYZ789", response.AuthorizationCode);
        Assert.Equal(4711, response.Stan);
        Assert.Equal("ATM00002", response.TerminalId);
        Assert.Empty(atm1.Received);
        var forwarded = Assert.Single(atm2.Received);

        // Everything but field 11 arrives byte for byte: the phone's MAC inside 127 still verifies.
        Assert.Equal(request.FieldNumbers, forwarded.FieldNumbers);
        foreach (var field in request.FieldNumbers.Where(f => f != 11))
        {
            Assert.Equal(request.GetBytes(field), forwarded.GetBytes(field));
        }

        Assert.Equal(FakePhone.ProtectedData, forwarded.ProtectedData);
        Assert.Equal(new[] { "ATM00001", "ATM00002" }, fixture.Proxy.OnlineAtms);
    }

    [Fact]
    public async Task An_ATM_that_never_signed_on_is_declined_92_without_waiting()
    {
        // The proxy's clock is fake and never advanced: the answer cannot come from a timeout.
        await using var fixture = await ProxyFixture.StartAsync();
        await using var other = await FakeAtm.StartAsync("ATM00001", fixture.Proxy.AtmEndPoint);
        await using var phone = await FakePhone.StartAsync(fixture.Proxy.PhoneEndPoint);

        var response = await phone.SendAsync(FakePhone.Withdrawal("ATM00099", stan: 1));

        Assert.Equal(ResponseCodes.RoutingError, response.ResponseCode);
        Assert.Equal(1, response.Stan);
        Assert.Empty(other.Received);
        Assert.Equal(AtmLinkState.Unknown, fixture.Proxy.GetAtmState("ATM00099"));
    }

    [Fact]
    public async Task An_ATM_that_disconnected_is_declined_91_without_waiting()
    {
        await using var fixture = await ProxyFixture.StartAsync();
        var atm = await FakeAtm.StartAsync("ATM00001", fixture.Proxy.AtmEndPoint);
        await fixture.Proxy.WaitForAtmStateAsync("ATM00001", AtmLinkState.Online, Deadline.Token);
        await atm.DisposeAsync();
        await fixture.Proxy.WaitForAtmStateAsync("ATM00001", AtmLinkState.Offline, Deadline.Token);
        await using var phone = await FakePhone.StartAsync(fixture.Proxy.PhoneEndPoint);

        var response = await phone.SendAsync(FakePhone.Withdrawal("ATM00001", stan: 2));

        Assert.Equal(ResponseCodes.IssuerUnavailable, response.ResponseCode);
        Assert.Empty(atm.Received);
        Assert.Empty(fixture.Proxy.OnlineAtms);
        await Eventually.TrueAsync(() => fixture.Logs.Lines.Any(l => l.EventId == 16 && l.Values["AtmId"] as string == "ATM00001"));
    }

    [Fact]
    public async Task A_signed_off_ATM_is_offline_and_a_sign_off_for_an_id_the_connection_does_not_hold_is_refused()
    {
        await using var fixture = await ProxyFixture.StartAsync();
        await using var atm = await FakeAtm.StartAsync("ATM00001", fixture.Proxy.AtmEndPoint);
        await fixture.Proxy.WaitForAtmStateAsync("ATM00001", AtmLinkState.Online, Deadline.Token);

        var foreign = await atm.Client.SendRequestAsync(FakeAtm.SignOnRequest("ATM00002", 10, NetworkManagementCodes.SignOff), Deadline.Token);
        var signOff = await atm.Client.SendRequestAsync(FakeAtm.SignOnRequest("ATM00001", 11, NetworkManagementCodes.SignOff), Deadline.Token);

        Assert.Equal(ResponseCodes.InvalidTransaction, foreign.ResponseCode);
        Assert.Equal(ResponseCodes.Approved, signOff.ResponseCode);
        Assert.Equal(AtmLinkState.Offline, fixture.Proxy.GetAtmState("ATM00001"));
        await using var phone = await FakePhone.StartAsync(fixture.Proxy.PhoneEndPoint);
        Assert.Equal(ResponseCodes.IssuerUnavailable, (await phone.SendAsync(FakePhone.Withdrawal("ATM00001", 3))).ResponseCode);
        Assert.Empty(atm.Received);
    }

    [Fact]
    public async Task Echo_tests_are_answered_and_other_ATM_requests_are_refused_12()
    {
        await using var fixture = await ProxyFixture.StartAsync();
        await using var atm = await FakeAtm.StartAsync("ATM00001", fixture.Proxy.AtmEndPoint);

        var echo = await atm.Client.SendRequestAsync(FakeAtm.SignOnRequest("ATM00001", 20, NetworkManagementCodes.EchoTest), Deadline.Token);
        var keyChange = await atm.Client.SendRequestAsync(FakeAtm.SignOnRequest("ATM00001", 21, NetworkManagementCodes.KeyChange), Deadline.Token);
        var withdrawal = await atm.Client.SendRequestAsync(FakePhone.Withdrawal("ATM00001", 22), Deadline.Token);

        Assert.Equal(ResponseCodes.Approved, echo.ResponseCode);
        Assert.Equal(ResponseCodes.InvalidTransaction, keyChange.ResponseCode);
        Assert.Equal(ResponseCodes.InvalidTransaction, withdrawal.ResponseCode);
    }

    [Fact]
    public async Task A_second_connection_claiming_a_live_ATM_id_is_refused_and_accepted_once_the_first_has_gone()
    {
        await using var fixture = await ProxyFixture.StartAsync();
        var first = await FakeAtm.StartAsync("ATM00001", fixture.Proxy.AtmEndPoint);
        await fixture.Proxy.WaitForAtmStateAsync("ATM00001", AtmLinkState.Online, Deadline.Token);

        // An impostor: a plain client that signs on by hand so that the refusal can be read.
        await using (var impostor = new Iso8583.Channels.Iso8583Client(new Iso8583.Channels.Iso8583ClientOptions
        {
            Spec = NetworkSpec.Messages,
            Host = "127.0.0.1",
            Port = fixture.Proxy.AtmEndPoint.Port,
            ReconnectInitialDelay = TimeSpan.FromHours(1),
            ReconnectMaxDelay = TimeSpan.FromHours(1),
        }))
        {
            await impostor.StartAsync();
            var connection = await impostor.WaitUntilConnectedAsync(Deadline.Token);
            var refusal = await connection.SendRequestAsync(FakeAtm.SignOnRequest("ATM00001", 77), Deadline.Token);

            Assert.Equal(Mti.NetworkManagementResponse, refusal.Mti);
            Assert.Equal(ResponseCodes.DuplicateTransmission, refusal.ResponseCode);
            await connection.Completion.WaitAsync(Deadline.Token); // the proxy hangs up on it after answering
        }

        Assert.Contains(fixture.Logs.Lines, l => l.EventId == 11 && l.Values["AtmId"] as string == "ATM00001");
        Assert.Contains(fixture.Metrics.Of("cardless_atm.proxy.sign_ons"), m => m.Tags["result"] == "refused");

        // Requests still go to the first connection.
        await using var phone = await FakePhone.StartAsync(fixture.Proxy.PhoneEndPoint);
        Assert.Equal(ResponseCodes.Approved, (await phone.SendAsync(FakePhone.Withdrawal("ATM00001", 5))).ResponseCode);
        Assert.Single(first.Received);

        await first.DisposeAsync();
        await fixture.Proxy.WaitForAtmStateAsync("ATM00001", AtmLinkState.Offline, Deadline.Token);
        await using var second = await FakeAtm.StartAsync("ATM00001", fixture.Proxy.AtmEndPoint);
        await fixture.Proxy.WaitForAtmStateAsync("ATM00001", AtmLinkState.Online, Deadline.Token);

        Assert.Equal(ResponseCodes.Approved, (await phone.SendAsync(FakePhone.Withdrawal("ATM00001", 6))).ResponseCode);
        Assert.Single(second.Received);
    }

    [Fact]
    public async Task An_ATM_connection_that_never_signs_on_is_closed_after_the_sign_on_timeout_and_signed_on_ones_stay()
    {
        await using var fixture = await ProxyFixture.StartAsync(o => o.AtmSignOnTimeout = TimeSpan.FromSeconds(30));
        await using var atm = await FakeAtm.StartAsync("ATM00001", fixture.Proxy.AtmEndPoint);
        await using var silent = new Iso8583.Channels.Iso8583Client(new Iso8583.Channels.Iso8583ClientOptions
        {
            Spec = NetworkSpec.Messages,
            Host = "127.0.0.1",
            Port = fixture.Proxy.AtmEndPoint.Port,
            ReconnectInitialDelay = TimeSpan.FromHours(1),
            ReconnectMaxDelay = TimeSpan.FromHours(1),
        });
        await silent.StartAsync();
        var connection = await silent.WaitUntilConnectedAsync(Deadline.Token);
        var signedOn = atm.Client.Connection!;

        while (!connection.Completion.IsCompleted)
        {
            fixture.Time.Advance(TimeSpan.FromSeconds(31));
            await Task.WhenAny(connection.Completion, Task.Delay(20, Deadline.Token));
        }

        Assert.True(signedOn.IsOpen);
        Assert.Equal(AtmLinkState.Online, fixture.Proxy.GetAtmState("ATM00001"));
        Assert.Contains(fixture.Logs.Lines, l => l.EventId == 19);
    }

    [Fact]
    public async Task A_connection_signed_on_as_one_ATM_cannot_sign_on_as_another_and_a_bad_id_is_a_format_error()
    {
        await using var fixture = await ProxyFixture.StartAsync();
        await using var atm = await FakeAtm.StartAsync("ATM00001", fixture.Proxy.AtmEndPoint);

        var other = await atm.Client.SendRequestAsync(FakeAtm.SignOnRequest("ATM00002", 30), Deadline.Token);
        var again = await atm.Client.SendRequestAsync(FakeAtm.SignOnRequest("ATM00001", 31), Deadline.Token);
        var lower = await atm.Client.SendRequestAsync(FakeAtm.SignOnRequest("atm00003", 32), Deadline.Token);

        Assert.Equal(ResponseCodes.InvalidTransaction, other.ResponseCode);
        Assert.Equal(ResponseCodes.Approved, again.ResponseCode);
        Assert.Equal(ResponseCodes.FormatError, lower.ResponseCode);
        Assert.Equal(new[] { "ATM00001" }, fixture.Proxy.OnlineAtms);
    }

    [Fact]
    public async Task Two_phones_with_the_same_STAN_to_one_ATM_each_get_their_own_answer()
    {
        await using var fixture = await ProxyFixture.StartAsync();
        await using var atm = await FakeAtm.StartAsync("ATM00001", fixture.Proxy.AtmEndPoint);
        var bothArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var arrived = 0;
        atm.Answer = async (request, _) =>
        {
            // Hold every answer until both requests are at the ATM, so both are in flight on one connection at once.
            if (Interlocked.Increment(ref arrived) == 2)
            {
                bothArrived.TrySetResult();
            }

            await bothArrived.Task.WaitAsync(Deadline.Token);
            var response = request.CreateResponse(ResponseCodes.Approved);
            response.AuthorizationCode = request.SessionPayload == "SESSION-ONE" ? "AUTH01" : "AUTH02";
            return response;
        };
        await fixture.Proxy.WaitForAtmStateAsync("ATM00001", AtmLinkState.Online, Deadline.Token);
        await using var phone1 = await FakePhone.StartAsync(fixture.Proxy.PhoneEndPoint);
        await using var phone2 = await FakePhone.StartAsync(fixture.Proxy.PhoneEndPoint);

        var answer1 = phone1.SendAsync(FakePhone.Withdrawal("ATM00001", 42, "SESSION-ONE"));
        var answer2 = phone2.SendAsync(FakePhone.Withdrawal("ATM00001", 42, "SESSION-TWO"));
        var responses = await Task.WhenAll(answer1, answer2);

        Assert.Equal("AUTH01", responses[0].AuthorizationCode);
        Assert.Equal("AUTH02", responses[1].AuthorizationCode);
        Assert.All(responses, r => Assert.Equal(42, r.Stan));
        var atmStans = atm.Received.Select(r => r.Stan).ToArray();
        Assert.Equal(2, atmStans.Distinct().Count());
        Assert.DoesNotContain(42, atmStans);
    }
}
