using System.Buffers.Binary;
using System.Net.Sockets;
using CardlessAtm.Iso8583;
using CardlessAtm.Network;

namespace CardlessAtm.Proxy.Tests;

public class FaultTests
{
    [Fact]
    public async Task A_forward_without_an_answer_times_out_to_91_logged_as_outcome_unknown_and_a_late_answer_is_dropped()
    {
        await using var fixture = await ProxyFixture.StartAsync(o =>
        {
            o.ForwardTimeout = TimeSpan.FromSeconds(90);
            o.PhoneIdleTimeout = TimeSpan.FromDays(1);
            o.AtmEchoInterval = null;
        });
        await using var atm = await FakeAtm.StartAsync("ATM00001", fixture.Proxy.AtmEndPoint);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        atm.Answer = async (request, _) =>
        {
            await release.Task.WaitAsync(Deadline.Token);
            var late = request.CreateResponse(ResponseCodes.Approved);
            late.AuthorizationCode = "LATE01";
            return late;
        };
        await fixture.Proxy.WaitForAtmStateAsync("ATM00001", AtmLinkState.Online, Deadline.Token);
        await using var phone = await FakePhone.StartAsync(fixture.Proxy.PhoneEndPoint);

        var pending = phone.SendAsync(FakePhone.Withdrawal("ATM00001", 7));
        await atm.NextRequestAsync();
        Assert.False(pending.IsCompleted);
        // The proxy's clock moves only here; repeat in case the forward's timer was armed just after the ATM saw it.
        while (!pending.IsCompleted)
        {
            fixture.Time.Advance(TimeSpan.FromSeconds(90));
            await Task.WhenAny(pending, Task.Delay(20));
        }

        var response = await pending;
        Assert.Equal(ResponseCodes.IssuerUnavailable, response.ResponseCode);
        Assert.Equal(7, response.Stan);
        Assert.True(
            fixture.Logs.Lines.Any(l => l.EventId == 33 && l.Level == Microsoft.Extensions.Logging.LogLevel.Error
                && l.Text.Contains("OUTCOME UNKNOWN", StringComparison.Ordinal) && l.Values["AtmId"] as string == "ATM00001" && l.Values["PhoneStan"] as string == "000007"),
            string.Join(Environment.NewLine, fixture.Logs.Lines.Select(l => $"{l.Level} {l.EventId} {l.Text}")));
        Assert.Contains(fixture.Metrics.Of("cardless_atm.proxy.requests"), m => m.Tags["outcome"] == ForwardOutcomes.Timeout && m.Tags["response_code"] == "91");

        release.TrySetResult();
        await Eventually.TrueAsync(() => fixture.Metrics.Of("cardless_atm.proxy.late_answers").Count == 1);
        Assert.Contains(fixture.Logs.Lines, l => l.EventId == 18 && l.Values["AtmId"] as string == "ATM00001");
    }

    [Fact]
    public async Task An_ATM_that_drops_its_connection_while_a_request_is_out_gives_91_outcome_unknown()
    {
        await using var fixture = await ProxyFixture.StartAsync();
        var atm = await FakeAtm.StartAsync("ATM00001", fixture.Proxy.AtmEndPoint);
        atm.Answer = async (_, ct) =>
        {
            await Task.Delay(Timeout.Infinite, ct); // the ATM is working on it when its link goes
            return null;
        };
        await fixture.Proxy.WaitForAtmStateAsync("ATM00001", AtmLinkState.Online, Deadline.Token);
        await using var phone = await FakePhone.StartAsync(fixture.Proxy.PhoneEndPoint);

        var pending = phone.SendAsync(FakePhone.Withdrawal("ATM00001", 9));
        await atm.NextRequestAsync();
        await atm.Client.Connection!.DisposeAsync();
        var response = await pending;
        await atm.DisposeAsync();

        Assert.Equal(ResponseCodes.IssuerUnavailable, response.ResponseCode);
        Assert.Contains(fixture.Logs.Lines, l => l.EventId == 33 && l.Values["PhoneStan"] as string == "000009");
        Assert.Contains(fixture.Metrics.Of("cardless_atm.proxy.requests"), m => m.Tags["outcome"] == ForwardOutcomes.AtmDisconnected);
    }

    [Fact]
    public async Task A_phone_that_hangs_up_while_its_request_is_at_the_ATM_is_logged_as_outcome_unknown_and_nobody_else_notices()
    {
        await using var fixture = await ProxyFixture.StartAsync();
        await using var atm = await FakeAtm.StartAsync("ATM00001", fixture.Proxy.AtmEndPoint);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var defaultAnswer = atm.Answer;
        atm.Answer = async (request, ct) =>
        {
            if (request.SessionPayload == "HANGS-UP")
            {
                await release.Task.WaitAsync(Deadline.Token);
            }

            return await defaultAnswer(request, ct);
        };
        await fixture.Proxy.WaitForAtmStateAsync("ATM00001", AtmLinkState.Online, Deadline.Token);
        await using var leaving = await FakePhone.StartAsync(fixture.Proxy.PhoneEndPoint);
        await using var staying = await FakePhone.StartAsync(fixture.Proxy.PhoneEndPoint);

        _ = leaving.SendAsync(FakePhone.Withdrawal("ATM00001", 10, "HANGS-UP")).ContinueWith(static t => t.Exception, TaskScheduler.Default);
        await atm.NextRequestAsync();
        await leaving.Client.Connection!.DisposeAsync(); // hangs up at once, without waiting for the answer
        await Eventually.TrueAsync(() => fixture.Metrics.Of("cardless_atm.proxy.requests").Any(m => m.Tags["outcome"] == ForwardOutcomes.PhoneGone));
        release.TrySetResult();

        Assert.Equal(ResponseCodes.Approved, (await staying.SendAsync(FakePhone.Withdrawal("ATM00001", 10))).ResponseCode);
        Assert.Contains(fixture.Logs.Lines, l => l.EventId == 33 && l.Values["PhoneStan"] as string == "000010" && l.Text.Contains("phone", StringComparison.Ordinal));
        await Eventually.TrueAsync(() => fixture.Metrics.Of("cardless_atm.proxy.late_answers").Count == 1);
    }

    [Fact]
    public async Task An_ATM_with_its_maximum_of_unanswered_forwards_gets_no_more_and_the_phone_is_answered_91()
    {
        await using var fixture = await ProxyFixture.StartAsync(o => o.MaxUnansweredPerAtm = 1);
        await using var atm = await FakeAtm.StartAsync("ATM00001", fixture.Proxy.AtmEndPoint);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var defaultAnswer = atm.Answer;
        atm.Answer = async (request, ct) =>
        {
            await release.Task.WaitAsync(Deadline.Token);
            return await defaultAnswer(request, ct);
        };
        await fixture.Proxy.WaitForAtmStateAsync("ATM00001", AtmLinkState.Online, Deadline.Token);
        await using var phone1 = await FakePhone.StartAsync(fixture.Proxy.PhoneEndPoint);
        await using var phone2 = await FakePhone.StartAsync(fixture.Proxy.PhoneEndPoint);

        var first = phone1.SendAsync(FakePhone.Withdrawal("ATM00001", 1));
        await atm.NextRequestAsync();
        var second = await phone2.SendAsync(FakePhone.Withdrawal("ATM00001", 2));

        Assert.Equal(ResponseCodes.IssuerUnavailable, second.ResponseCode);
        release.TrySetResult();
        Assert.Equal(ResponseCodes.Approved, (await first).ResponseCode);
        Assert.Single(atm.Received);
        Assert.Contains(fixture.Metrics.Of("cardless_atm.proxy.requests"), m => m.Tags["outcome"] == ForwardOutcomes.AtmBusy);
    }

    [Fact]
    public async Task A_phone_connection_is_closed_after_its_request_limit_and_requests_past_it_are_answered_91()
    {
        await using var fixture = await ProxyFixture.StartAsync(o =>
        {
            o.MaxRequestsPerPhoneConnection = 2;
            o.MaxConcurrentRequestsPerPhoneConnection = 2;
        });
        await using var atm = await FakeAtm.StartAsync("ATM00001", fixture.Proxy.AtmEndPoint);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var defaultAnswer = atm.Answer;
        atm.Answer = async (request, ct) =>
        {
            await release.Task.WaitAsync(Deadline.Token);
            return await defaultAnswer(request, ct);
        };
        await fixture.Proxy.WaitForAtmStateAsync("ATM00001", AtmLinkState.Online, Deadline.Token);
        await using var phone = await FakePhone.StartAsync(fixture.Proxy.PhoneEndPoint);
        var connection = await phone.Client.WaitUntilConnectedAsync(Deadline.Token);

        var first = connection.SendRequestAsync(FakePhone.Withdrawal("ATM00001", 1), Deadline.Token);
        var second = connection.SendRequestAsync(FakePhone.Withdrawal("ATM00001", 2), Deadline.Token);
        await atm.NextRequestAsync();
        await atm.NextRequestAsync();
        var third = await connection.SendRequestAsync(FakePhone.Withdrawal("ATM00001", 3), Deadline.Token);

        Assert.Equal(ResponseCodes.IssuerUnavailable, third.ResponseCode);
        release.TrySetResult();
        Assert.Equal(ResponseCodes.Approved, (await first).ResponseCode);
        Assert.Equal(ResponseCodes.Approved, (await second).ResponseCode);
        await connection.Completion.WaitAsync(Deadline.Token);
        Assert.Equal(2, atm.Received.Count);
        Assert.Contains(fixture.Logs.Lines, l => l.EventId == 35);

        // The phone may come back on a new connection.
        var next = await phone.SendAsync(FakePhone.Withdrawal("ATM00001", 4));
        Assert.Equal(ResponseCodes.Approved, next.ResponseCode);
        Assert.NotEqual(connection.Id, phone.Client.Connection!.Id);
    }

    [Fact]
    public async Task Garbage_and_malformed_frames_from_a_phone_hurt_only_that_phone()
    {
        await using var fixture = await ProxyFixture.StartAsync();
        await using var atm = await FakeAtm.StartAsync("ATM00001", fixture.Proxy.AtmEndPoint);
        await fixture.Proxy.WaitForAtmStateAsync("ATM00001", AtmLinkState.Online, Deadline.Token);
        await using var goodPhone = await FakePhone.StartAsync(fixture.Proxy.PhoneEndPoint);

        // 1. A well-framed 0200 whose field 49 is not numeric: the STAN is readable, so the answer is 30.
        using (var raw = new TcpClient())
        {
            await raw.ConnectAsync(fixture.Proxy.PhoneEndPoint, Deadline.Token);
            var stream = raw.GetStream();
            var message = new IsoMessage(NetworkSpec.Messages, Mti.FinancialRequest) { ProcessingCode = "010000", AmountMinor = 5000, Stan = 99, TerminalId = "ATM00001", CurrencyCode = 978 };
            var packed = message.Pack();
            var currencyAt = packed.Length - 3;
            packed[currencyAt] = (byte)'X';
            await WriteFrameAsync(stream, packed);
            var answer = NetworkSpec.Unpack(await ReadFrameAsync(stream));
            Assert.Equal(Mti.FinancialResponse, answer.Mti);
            Assert.Equal(ResponseCodes.FormatError, answer.ResponseCode);
            Assert.Equal(99, answer.Stan);
        }

        // 2. Bytes that are no ISO 8583 message at all: the proxy hangs up on that connection.
        using (var raw = new TcpClient())
        {
            await raw.ConnectAsync(fixture.Proxy.PhoneEndPoint, Deadline.Token);
            var stream = raw.GetStream();
            await WriteFrameAsync(stream, "hello, proxy"u8.ToArray());
            var buffer = new byte[64];
            Assert.Equal(0, await stream.ReadAsync(buffer, Deadline.Token));
        }

        // 3. A phone trying to sign on as an ATM, and a phone sending a reversal: refused, and nothing registered.
        var signOn = await goodPhone.SendAsync(FakeAtm.SignOnRequest("ATM00002", 5));
        var reversal = FakePhone.Withdrawal("ATM00001", 6);
        reversal.Mti = Mti.ReversalAdvice;
        var reversalAnswer = await goodPhone.SendAsync(reversal);
        var noTerminal = FakePhone.Withdrawal("ATM00001", 8);
        noTerminal.TerminalId = null;
        var noTerminalAnswer = await goodPhone.SendAsync(noTerminal);
        Assert.Equal(ResponseCodes.InvalidTransaction, signOn.ResponseCode);
        Assert.Equal(ResponseCodes.InvalidTransaction, reversalAnswer.ResponseCode);
        Assert.Equal(ResponseCodes.FormatError, noTerminalAnswer.ResponseCode);
        Assert.Equal(AtmLinkState.Unknown, fixture.Proxy.GetAtmState("ATM00002"));
        Assert.Empty(atm.Received);

        // Every other phone is served as before.
        var response = await goodPhone.SendAsync(FakePhone.Withdrawal("ATM00001", 7));
        Assert.Equal(ResponseCodes.Approved, response.ResponseCode);
        Assert.Single(atm.Received);
    }

    [Fact]
    public async Task After_a_proxy_restart_the_ATM_reconnects_by_itself_and_routing_works_again()
    {
        var first = await ProxyFixture.StartAsync();
        var atmPort = first.Proxy.AtmEndPoint.Port;
        var phonePort = first.Proxy.PhoneEndPoint.Port;
        await using var atm = await FakeAtm.StartAsync("ATM00001", first.Proxy.AtmEndPoint);
        await first.Proxy.WaitForAtmStateAsync("ATM00001", AtmLinkState.Online, Deadline.Token);
        var firstConnection = atm.Client.Connection!;
        await first.DisposeAsync();
        await firstConnection.Completion.WaitAsync(Deadline.Token);

        await using var second = await ProxyFixture.StartAsync(o =>
        {
            o.Atm.Port = atmPort;
            o.Phone.Port = phonePort;
        });
        await second.Proxy.WaitForAtmStateAsync("ATM00001", AtmLinkState.Online, Deadline.Token);
        await using var phone = await FakePhone.StartAsync(second.Proxy.PhoneEndPoint);

        var response = await phone.SendAsync(FakePhone.Withdrawal("ATM00001", 12));

        Assert.Equal(ResponseCodes.Approved, response.ResponseCode);
        Assert.NotSame(firstConnection, atm.Client.Connection); // a new connection served it (it may already be cycling again, so it can read null)
        Assert.Single(atm.Received);
    }

    private static async Task WriteFrameAsync(NetworkStream stream, byte[] payload)
    {
        var frame = new byte[payload.Length + 2];
        BinaryPrimitives.WriteUInt16BigEndian(frame, (ushort)payload.Length);
        payload.CopyTo(frame, 2);
        await stream.WriteAsync(frame, Deadline.Token);
    }

    private static async Task<byte[]> ReadFrameAsync(NetworkStream stream)
    {
        var header = new byte[2];
        await stream.ReadExactlyAsync(header, Deadline.Token);
        var payload = new byte[BinaryPrimitives.ReadUInt16BigEndian(header)];
        await stream.ReadExactlyAsync(payload, Deadline.Token);
        return payload;
    }
}
