using System.Text;
using System.Text.Json;
using CardlessAtm.Devices.Keypad;
using CardlessAtm.Iso8583;
using CardlessAtm.Network;
using CardlessAtm.Terminal.Flow;
using CardlessAtm.Terminal.Journal;

namespace CardlessAtm.Terminal.Tests;

/// <summary>The electronic journal's robustness as the running ATM lives it (issue 11, problems 3 and 7).</summary>
public class JournalTests
{
    private const string Torn = """{"Sequence":3,"At":"2025-01-01T00:00:02+00:00","Event":"qr-sh""";

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_atm_starts_and_serves_an_approved_withdrawal_after_a_torn_journal_line(bool inTheMiddle)
    {
        using var meters = new TestMeters();
        // The journal left behind dates from 2025: kept beyond the retention so that the torn line can be looked at.
        await using var lab = await Lab.StartAsync(meters: meters, configure: o => o.JournalRetentionDays = 36_500, prepareDataDirectory: directory =>
        {
            var text = new StringBuilder()
                .Append(Line(1, JournalEvents.Started)).Append('\n')
                .Append(Line(2, JournalEvents.AmountEntered)).Append('\n')
                .Append(Torn);
            if (inTheMiddle)
            {
                // An earlier start appended after the torn line: it is no longer the last one.
                text.Append('\n').Append(Line(4, JournalEvents.Started)).Append('\n');
            }

            File.WriteAllText(Path.Combine(directory, "journal.log"), text.ToString());
        });
        var before = await lab.BalanceAsync();
        var qr = await lab.ShowQrAsync(80);

        var reply = await lab.SendAsync(lab.PhoneRequest(qr));

        Assert.Equal(ResponseCodes.Approved, reply.ResponseCode);
        Assert.Equal(before - 8_000, await lab.BalanceAsync());
        Assert.Equal(3, lab.Dispenser.PresentedTotal);
        Assert.Equal(1, meters.Total("cardless_atm.journal.corrupt_lines")); // reported at start-up
        var torn = Assert.Single(lab.Journal().Skipped);
        Assert.Equal(3, torn.LineNumber);
        Assert.Equal(Torn, File.ReadAllLines(torn.Path)[2]); // never deleted or rewritten
        Assert.Contains(lab.Journal(), e => e is WithdrawalEnded { Response: ResponseCodes.Approved });
        Assert.Equal(1, meters.Total("cardless_atm.journal.corrupt_lines")); // once per run, however often it is read
    }

    [Fact]
    public async Task Five_thousand_requests_that_match_no_session_add_a_handful_of_journal_lines_and_are_all_counted()
    {
        using var meters = new TestMeters();
        await using var lab = await Lab.StartAsync(meters: meters);
        var qr = await lab.ShowQrAsync(20);
        var wrongAmount = await lab.SendAsync(lab.PhoneRequest(qr, amountOverride: 999_00)); // concerns the session on screen
        lab.Keypad.Press(AtmKey.Cancel);
        await lab.WaitForStateAsync(TerminalState.Idle);
        var used = lab.PhoneRequest(qr);
        var stranger = lab.PhoneRequest(qr);
        stranger.SessionPayload = "not a session code";
        var linesBefore = File.ReadAllLines(lab.Terminal.Journal.Path).Length;

        var codes = new List<string?>();
        for (var i = 0; i < 5_000; i++)
        {
            codes.Add((await lab.SendAsync(i % 5 == 0 ? stranger : used)).ResponseCode);
        }

        var linesAfterFlood = File.ReadAllLines(lab.Terminal.Journal.Path).Length;
        lab.Time.Advance(TimeSpan.FromSeconds(61));
        await lab.SendAsync(used); // the next one after the interval writes the summary of the 5,000

        Assert.Equal(ResponseCodes.InvalidAmount, wrongAmount.ResponseCode);
        Assert.Single(lab.Journal(), e => e is RequestRefused { Response: ResponseCodes.InvalidAmount });
        Assert.Equal(4_000, codes.Count(c => c == ResponseCodes.DuplicateTransmission));
        Assert.Equal(1_000, codes.Count(c => c == ResponseCodes.InvalidTransaction));
        Assert.InRange(linesAfterFlood - linesBefore, 0, 3);
        Assert.InRange(File.ReadAllLines(lab.Terminal.Journal.Path).Length - linesBefore, 1, 4);
        var summary = Assert.IsType<RequestsUnmatched>(Assert.Single(lab.Journal(), e => e.Event == JournalEvents.RequestsUnmatched));
        Assert.Equal(5_000, summary.Total);
        Assert.Equal(4_000, summary.Counts[$"{ResponseCodes.DuplicateTransmission} the session was already used"]);
        Assert.Equal(1_000, summary.Counts[$"{ResponseCodes.InvalidTransaction} no session on screen"]);
        Assert.Equal(5_001, meters.Total("cardless_atm.requests.unmatched"));
        Assert.Equal(4_001, meters.Total("cardless_atm.requests.unmatched", "response_code", ResponseCodes.DuplicateTransmission));
    }

    [Fact]
    public async Task A_withdrawal_interrupted_in_an_older_journal_segment_is_recovered_at_start()
    {
        const string session = "ABCDEFGHJKLMNPQR";
        await using var lab = await Lab.StartAsync(prepareDataDirectory: directory => LeaveRotatedJournal(directory, session));

        var journal = lab.Journal();
        var recovered = Assert.Single(journal, e => e.Event == JournalEvents.Recovered);
        Assert.Equal(session, recovered.Session);
        Assert.Equal("full", Assert.IsType<Recovered>(recovered).Reversal);
        Assert.Contains(journal, e => e is ReversalQueued { Amount: { AmountMinor: 5_000, Currency: "EUR" } } && e.Session == session);
        Assert.True(journal.Files.Count >= 3, string.Join(", ", journal.Files));
        Assert.Equal(journal.Select(e => e.Sequence).Order(), journal.Select(e => e.Sequence)); // increasing across segments
    }

    /// <summary>
    /// A journal that rotated twice while a withdrawal was open: its authorise-request is in the oldest
    /// segment, the host's approval in the next, and it never finished (the ATM lost power). Written in the
    /// old untyped format (<see cref="Line"/>): recovering it is what an ATM upgraded mid-withdrawal must do.
    /// </summary>
    internal static void LeaveRotatedJournal(string directory, string session, int stan = 123)
    {
        var request = new Dictionary<string, string> { ["amount"] = "5000", ["currency"] = "978", ["transmission"] = "0101120000", ["rrn"] = "000000000123" };
        var approved = new Dictionary<string, string> { ["response"] = ResponseCodes.Approved, ["macVerified"] = bool.TrueString };
        File.WriteAllLines(Path.Combine(directory, "journal-20250101-001.log"),
        [
            Line(1, JournalEvents.Started),
            Line(2, JournalEvents.QrShown, session),
            Line(3, JournalEvents.AuthoriseRequest, session, stan, request),
            Line(4, JournalEvents.Sensor),
        ]);
        File.WriteAllLines(Path.Combine(directory, "journal-20250101-002.log"),
        [
            Line(5, "journal-segment", data: new() { ["previous"] = "journal-20250101-001.log", ["open"] = $"{session}@3" }),
            Line(6, JournalEvents.AuthoriseAnswer, session, stan, approved),
            Line(7, JournalEvents.Sensor),
        ]);
        File.WriteAllLines(Path.Combine(directory, "journal.log"),
        [
            Line(8, "journal-segment", data: new() { ["previous"] = "journal-20250101-002.log", ["open"] = $"{session}@3" }),
            Line(9, JournalEvents.Sensor),
        ]);
    }

    /// <summary>A line exactly as journals wrote it before entries were typed: every detail a string under <c>Data</c>.</summary>
    internal static string Line(long sequence, string @event, string? session = null, int? stan = null, Dictionary<string, string>? data = null) =>
        JsonSerializer.Serialize(new OldFormatLine(sequence, new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero).AddSeconds(sequence), @event, session, stan, data), OldFormat);

    private static readonly JsonSerializerOptions OldFormat = new() { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };

    private sealed record OldFormatLine(long Sequence, DateTimeOffset At, string Event, string? Session, int? Stan, IReadOnlyDictionary<string, string>? Data);
}
