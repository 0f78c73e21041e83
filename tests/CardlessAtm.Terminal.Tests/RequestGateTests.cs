using System.Security.Cryptography;
using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Spec;
using CardlessAtm.Network;
using CardlessAtm.Qr.Payload;
using CardlessAtm.Qr.Sessions;
using CardlessAtm.Terminal.Flow;
using CardlessAtm.Terminal.Journal;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace CardlessAtm.Terminal.Tests;

/// <summary>
/// The gate between the proxy and the session on screen, alone: every refusal and its response code, single
/// use, and the summary that counts the requests matching no session instead of journalling each.
/// </summary>
public sealed class RequestGateTests : IDisposable
{
    private const string AtmId = "ATM00001";
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("cardless-atm-gate-");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 1, 10, 0, 0, TimeSpan.Zero));
    private readonly TestMeters _meters = new();
    private readonly TerminalMetrics _metrics;
    private readonly ElectronicJournal _journal;
    private readonly RequestGate _gate;
    private readonly QrSessionIssuer _issuer;

    public RequestGateTests()
    {
        _metrics = new TerminalMetrics(() => 0, () => 0, _meters);
        _journal = new ElectronicJournal(Path.Combine(_directory.FullName, "journal.log"), _time);
        _gate = new RequestGate(AtmId, _journal, _metrics, _time, NullLogger.Instance);
        _issuer = new QrSessionIssuer(CardlessAtm.AtmId.Parse(AtmId), new TestQrMac(), _time, new QrSessionOptions { Lifetime = TimeSpan.FromMinutes(2) });
    }

    [Fact]
    public async Task The_request_for_the_session_on_screen_is_admitted_and_nothing_is_journalled_by_the_gate()
    {
        var session = Show(80);

        var decision = await _gate.CheckAsync(Request(session), session);

        Assert.True(decision.Admitted);
        Assert.Null(decision.ResponseCode);
        Assert.Empty(_journal.ReadAllEntries());
        Assert.Equal(0, _meters.Total("cardless_atm.withdrawals"));
    }

    [Fact]
    public async Task A_second_request_for_a_claimed_session_is_a_duplicate_and_journalled_against_that_session()
    {
        var session = Show(80);
        Assert.True((await _gate.CheckAsync(Request(session), session)).Admitted);

        var second = await _gate.CheckAsync(Request(session, phoneStan: 8), session);

        Assert.Equal((ResponseCodes.DuplicateTransmission, true), (second.ResponseCode, second.ConcernsSessionOnScreen));
        var refused = Assert.IsType<RequestRefused>(Assert.Single(_journal.ReadAllEntries()));
        Assert.Equal((JournalEvents.RequestRefused, session.Nonce), (refused.Event, refused.Session));
        Assert.Equal((ResponseCodes.DuplicateTransmission, "the session already has a request", "000008"), (refused.Response, refused.Reason, refused.PhoneStan));
        Assert.Equal(1, _meters.Total("cardless_atm.withdrawals", "response_code", ResponseCodes.DuplicateTransmission));
    }

    [Fact]
    public async Task A_session_closed_by_the_dialogue_cannot_be_claimed()
    {
        var session = Show(80);
        Assert.True(session.Close());

        var decision = await _gate.CheckAsync(Request(session), session);

        Assert.Equal(ResponseCodes.DuplicateTransmission, decision.ResponseCode);
    }

    [Fact]
    public async Task A_request_naming_another_atm_is_refused_even_with_the_payload_on_screen()
    {
        var session = Show(80);
        var request = Request(session);
        request.TerminalId = "ATM00002";

        var decision = await _gate.CheckAsync(request, session);

        Assert.Equal((ResponseCodes.InvalidTransaction, "field 41 names another ATM", true), (decision.ResponseCode, decision.Reason, decision.ConcernsSessionOnScreen));
        Assert.Equal(ResponseCodes.InvalidTransaction, Assert.IsType<RequestRefused>(Assert.Single(_journal.ReadAllEntries(), e => e.Event == JournalEvents.RequestRefused)).Response);
        Assert.True((await _gate.CheckAsync(Request(session), session)).Admitted); // the refusal did not claim the session
    }

    [Theory]
    [InlineData(7_999, 978)]
    [InlineData(8_001, 978)]
    [InlineData(8_000, 840)]
    public async Task An_amount_or_currency_other_than_the_sessions_is_refused_as_an_invalid_amount(long amountMinor, int currency)
    {
        var session = Show(80);
        var request = Request(session);
        request.AmountMinor = amountMinor;
        request.CurrencyCode = currency;

        var decision = await _gate.CheckAsync(request, session);

        Assert.Equal((ResponseCodes.InvalidAmount, true), (decision.ResponseCode, decision.ConcernsSessionOnScreen));
        Assert.Equal(ResponseCodes.InvalidAmount, Assert.IsType<RequestRefused>(Assert.Single(_journal.ReadAllEntries())).Response);
    }

    [Fact]
    public async Task A_request_arriving_at_the_expiry_instant_is_refused_and_one_just_before_is_admitted()
    {
        var expired = Show(80);
        _time.SetUtcNow(expired.Payload.ExpiresAt);
        var late = await _gate.CheckAsync(Request(expired), expired);
        Assert.Equal((ResponseCodes.InvalidTransaction, "the session has expired", true), (late.ResponseCode, late.Reason, late.ConcernsSessionOnScreen));

        var fresh = Show(80);
        _time.SetUtcNow(fresh.Payload.ExpiresAt.AddMilliseconds(-1));
        Assert.True((await _gate.CheckAsync(Request(fresh), fresh)).Admitted);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(48)]
    [InlineData(49)]
    [InlineData(127)]
    public async Task A_request_missing_a_required_field_is_a_format_error(int field)
    {
        var session = Show(80);
        var request = Request(session);
        request.Remove(field);

        var decision = await _gate.CheckAsync(request, session);

        Assert.Equal(ResponseCodes.FormatError, decision.ResponseCode);
        Assert.True((await _gate.CheckAsync(Request(session), session)).Admitted); // the refusal did not claim the session
    }

    [Fact]
    public async Task A_malformed_field_is_a_format_error_that_matches_no_session()
    {
        // Field 4 as the proxy might hand over bytes it did not check: a spec that lets the codec carry any text there.
        var network = NetworkSpec.Messages;
        var lenient = new MessageSpec("lenient field 4", network.MtiEncoding, network.BitmapEncoding, network.TertiaryBitmap, network.Fields.Select(f => f.Number != 4 ? f
            : new FieldDefinition(4, f.Name, FieldContent.AlphaNumericSpecial, f.MaxLength, f.Prefix, f.Encoding, f.Padding, f.Sensitivity)));
        var session = Show(80);
        var request = Request(session, spec: lenient);
        request.Set(4, "80x0");

        var decision = await _gate.CheckAsync(request, session);

        Assert.Equal((ResponseCodes.FormatError, "field 4 malformed", false), (decision.ResponseCode, decision.Reason, decision.ConcernsSessionOnScreen));
        Assert.DoesNotContain(_journal.ReadAllEntries(), e => e.Event == JournalEvents.RequestRefused);
    }

    [Fact]
    public async Task A_request_with_no_session_on_screen_or_for_another_session_is_refused()
    {
        var shown = Show(80);
        var other = Show(80);

        var none = await _gate.CheckAsync(Request(other), null);
        var wrong = await _gate.CheckAsync(Request(other), shown);

        Assert.Equal((ResponseCodes.InvalidTransaction, "no session on screen", false), (none.ResponseCode, none.Reason, none.ConcernsSessionOnScreen));
        Assert.Equal((ResponseCodes.InvalidTransaction, "not the session on screen", false), (wrong.ResponseCode, wrong.Reason, wrong.ConcernsSessionOnScreen));
        Assert.True((await _gate.CheckAsync(Request(shown), shown)).Admitted);
    }

    [Fact]
    public async Task A_replay_of_a_used_session_is_a_duplicate_transmission_even_after_later_sessions()
    {
        var used = Show(80);
        Assert.True((await _gate.CheckAsync(Request(used), used)).Admitted);
        _gate.Retire(used);
        var next = Show(20);

        var replayWhileAnotherIsShown = await _gate.CheckAsync(Request(used), next);
        var replayWithNothingShown = await _gate.CheckAsync(Request(used), null);

        Assert.Equal((ResponseCodes.DuplicateTransmission, "the session was already used", false), (replayWhileAnotherIsShown.ResponseCode, replayWhileAnotherIsShown.Reason, replayWhileAnotherIsShown.ConcernsSessionOnScreen));
        Assert.Equal(ResponseCodes.DuplicateTransmission, replayWithNothingShown.ResponseCode);
    }

    [Fact]
    public async Task A_retired_session_cannot_be_claimed_even_by_a_request_that_still_sees_it_on_screen()
    {
        var session = Show(80);
        _gate.Retire(session);

        Assert.Equal(ResponseCodes.DuplicateTransmission, (await _gate.CheckAsync(Request(session), session)).ResponseCode);
    }

    [Fact]
    public async Task Concurrent_requests_for_the_session_on_screen_admit_exactly_one()
    {
        var session = Show(80);

        var decisions = await Task.WhenAll(Enumerable.Range(1, 16).Select(stan => Task.Run(async () => await _gate.CheckAsync(Request(session, phoneStan: stan), session))));

        Assert.Single(decisions, d => d.Admitted);
        Assert.All(decisions.Where(d => !d.Admitted), d => Assert.Equal(ResponseCodes.DuplicateTransmission, d.ResponseCode));
    }

    [Fact]
    public async Task Refused_copies_of_the_session_on_screen_do_not_burn_it()
    {
        var session = Show(80);
        var text = session.Payload.Text;
        var padded = Request(session);
        padded.SessionPayload = text + " ";
        var truncated = Request(session);
        truncated.SessionPayload = text[..70];
        var altered = Request(session);
        altered.SessionPayload = text[..^1] + (text[^1] == 'A' ? 'B' : 'A');
        var otherAmount = Request(session);
        otherAmount.AmountMinor = session.Payload.Amount.MinorUnits + 1;

        foreach (var copy in new[] { padded, truncated, altered, otherAmount })
        {
            Assert.False((await _gate.CheckAsync(copy, session)).Admitted);
        }

        Assert.True((await _gate.CheckAsync(Request(session), session)).Admitted);
    }

    [Fact]
    public async Task Only_the_most_recent_used_sessions_are_remembered()
    {
        var oldest = Show(10);
        _gate.Retire(oldest);
        for (var i = 0; i < RequestGate.UsedSessionsRemembered - 1; i++)
        {
            _gate.Retire(Show(10));
        }

        Assert.Equal(ResponseCodes.DuplicateTransmission, (await _gate.CheckAsync(Request(oldest), null)).ResponseCode);
        _gate.Retire(Show(10));
        Assert.Equal("no session on screen", (await _gate.CheckAsync(Request(oldest), null)).Reason);
    }

    [Fact]
    public async Task Requests_that_match_no_session_are_counted_in_one_summary_not_journalled_one_by_one()
    {
        var used = Show(80);
        _gate.Retire(used);
        var stranger = Show(50);

        for (var i = 0; i < 3; i++)
        {
            await _gate.CheckAsync(Request(stranger), null);
        }

        await _gate.CheckAsync(Request(used), null);
        Assert.Empty(_journal.ReadAllEntries()); // nothing yet: the summary collects for its interval
        await _journal.FlushSummariesAsync();

        var summary = Assert.IsType<RequestsUnmatched>(Assert.Single(_journal.ReadAllEntries()));
        Assert.Equal(JournalEvents.RequestsUnmatched, summary.Event);
        Assert.Equal((4L, 3L, 1L), (summary.Total, summary.Counts["12 no session on screen"], summary.Counts["94 the session was already used"]));
        Assert.Equal(3, _meters.Total("cardless_atm.requests.unmatched", "reason", "no session on screen"));
        Assert.Equal(4, _meters.Total("cardless_atm.withdrawals", "outcome", "refused"));
    }

    public void Dispose()
    {
        _journal.Dispose();
        _metrics.Dispose();
        _meters.Dispose();
        _directory.Delete(recursive: true);
    }

    private GateSession Show(long amountMajor) => new(_issuer.Issue(Money.FromMajor(amountMajor, "EUR")));

    private static IsoMessage Request(GateSession session, int phoneStan = 7, MessageSpec? spec = null) => new IsoMessage(spec ?? NetworkSpec.Messages, Mti.FinancialRequest)
    {
        ProcessingCode = "010000",
        AmountMinor = spec is null ? session.Payload.Amount.MinorUnits : null,
        Stan = phoneStan,
        TerminalId = AtmId,
        SessionPayload = session.Payload.Text,
        CurrencyCode = session.Payload.Amount.Currency.NumericCode,
        ProtectedData = [1, 2, 3],
    };

    /// <summary>Any 8-byte tag will do: the gate compares payload texts, it never verifies the QR MAC (the host does).</summary>
    private sealed class TestQrMac : IQrPayloadMac
    {
        private static readonly byte[] Key = RandomNumberGenerator.GetBytes(32);

        public void Compute(ReadOnlySpan<byte> canonicalForm, Span<byte> tag) =>
            HMACSHA256.HashData(Key, canonicalForm)[..QrPayloadFormat.MacLength].CopyTo(tag);

        public bool Verify(ReadOnlySpan<byte> canonicalForm, ReadOnlySpan<byte> tag) => throw new NotSupportedException("The gate never verifies the QR MAC.");
    }
}
