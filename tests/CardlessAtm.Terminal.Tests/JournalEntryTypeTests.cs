using System.Text.Json;
using System.Text.RegularExpressions;
using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Iso8583;
using CardlessAtm.Terminal.Flow;
using CardlessAtm.Terminal.Journal;
using CardlessAtm.Terminal.Tests.MoneyPath;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace CardlessAtm.Terminal.Tests;

/// <summary>
/// The journal's typed entries: every type written and read back as itself, money only as minor units and a
/// letter currency, no secret-bearing field, and lines of the old untyped format still read (an upgraded ATM).
/// </summary>
public sealed partial class JournalEntryTypeTests : IDisposable
{
    private static readonly JournalAmount Eur80 = new(8_000, "EUR");
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("cardless-atm-entries-");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 1, 10, 0, 0, TimeSpan.Zero));

    private string JournalPath => Path.Combine(_directory.FullName, "journal.log");

    /// <summary>One entry of every type the journal writes, with every optional value set.</summary>
    private static List<JournalEntry> OneOfEach() =>
    [
        JournalSamples.Started(),
        new AmountEntered(Eur80),
        new FaultChecked(Eur80, false, ["CASSETTE_LOW: cassette 3 low"]) { Session = "S" },
        new QrShown(Eur80, new DateTimeOffset(2026, 12, 1, 10, 2, 0, TimeSpan.Zero)) { Session = "S" },
        new SessionEnded("expired") { Session = "S" },
        new RequestRefused("13", "amount or currency differs from the session on screen", "000007") { Session = "S" },
        new RequestsUnmatched(DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch.AddMinutes(1), 3, new Dictionary<string, long> { ["12 no session on screen"] = 3 }),
        new RequestReceived("000007", Eur80) { Session = "S", Stan = 5 },
        JournalSamples.Asked("S", 5),
        new AuthoriseAnswered("00", true, "11", "123456", true, "timeout") { Session = "S", Stan = 5 },
        JournalSamples.DispenseStart("S", 5, MoneyPathRig.Mix80, [new CashUnit("CASS1", 1, Money.FromMajor(10, "EUR"), 100, 100, 10, 2000, CashUnitCounters.None)], new DeviceCounters([new PositionMovement(1, 12, 1, 0)])),
        JournalSamples.DispenseEnd("S", 5, new DispenseResult(DispenseCompletion.Jam, Eur80.ToMoney(), [new UnitMovement("CASS1", Money.FromMajor(10, "EUR"), 1, 1, 1)], "E3", "jam at the exit")),
        new PresentStarted(Eur80, TimeSpan.FromSeconds(20), CanRetract: true) { Session = "S", Stan = 5 },
        new NotesTaken(NotesTaken.ByCustomer) { Session = "S", Stan = 5 },
        new RetractStarted(new Dictionary<string, int> { ["CASS1"] = 2, ["CASS3"] = 0 }, new Dictionary<string, int> { ["CASS1"] = 1, ["CASS3"] = 0 }) { Session = "S", Stan = 5 },
        new NotesRetracted(Eur80, new Dictionary<string, int> { ["CASS1"] = 1, ["CASS3"] = 1 }, Counted: true, "retracted after the present timeout") { Session = "S", Stan = 5 },
        new ReversalQueued("000005-1201100000", Eur80, Eur80 with { AmountMinor = 1_000 }, "partial", "21", "jam") { Session = "S", Stan = 5 },
        new ReversalAcknowledged("000005-1201100000", "00", 2) { Session = "S", Stan = 5 },
        new ReversalNotAcknowledged("000005-1201100000", "91", "RetryLater", 1, "host unavailable") { Session = "S", Stan = 5 },
        new WithdrawalFault("Dispensing", "InvalidMixException", "cassette 3 gone") { Session = "S", Stan = 5 },
        new WithdrawalEnded("00", Eur80, "Done", "Please take your cash.") { Session = "S" },
        new Recovered("dispense had ended", Eur80, "none needed") { Session = "S", Stan = 5 },
        new SegmentStarted("journal-20261201-001.log", [new OpenWithdrawal("S", 9)]),
        new SensorChanged("SafeDoor", "Normal", "Alert", "Idle"),
        new DispenserReset("Ok", 2) { Session = "S" },
        new HostRekey(HostRekey.Failed, 2, 7, "The host refused sign-on of ATM00001: 12 (invalid transaction); next attempt in 00:00:04"),
    ];

    [Fact]
    public void The_samples_cover_every_entry_type_the_journal_writes()
    {
        Assert.Equal(JournalEntry.Types.Keys.OrderBy(t => t.Name), OneOfEach().Select(e => e.GetType()).OrderBy(t => t.Name));
    }

    [Fact]
    public async Task Every_entry_type_is_read_back_as_itself_with_the_same_values()
    {
        var samples = OneOfEach();
        using (var journal = new ElectronicJournal(JournalPath, _time))
        {
            foreach (var sample in samples)
            {
                await journal.WriteAsync(sample);
            }
        }

        var read = ElectronicJournal.ReadAll(JournalPath);

        Assert.Empty(read.Skipped);
        Assert.Equal(samples.Select(s => s.GetType()), read.Select(e => e.GetType()));
        for (var i = 0; i < samples.Count; i++)
        {
            var expected = samples[i] with { Sequence = i + 1, At = _time.GetUtcNow() };
            Assert.Equal(JsonSerializer.Serialize<JournalEntry>(expected), JsonSerializer.Serialize(read[i]));
        }

        var lines = File.ReadAllLines(JournalPath);
        Assert.All(lines.Zip(samples), pair => Assert.Equal(pair.Second.Event, JsonDocument.Parse(pair.First).RootElement.GetProperty("event").GetString()));
    }

    [Fact]
    public async Task No_entry_type_has_a_field_for_a_pin_key_card_or_account_number_and_money_is_always_minor_units_and_currency()
    {
        using var journal = new ElectronicJournal(JournalPath, _time);
        foreach (var sample in OneOfEach())
        {
            await journal.WriteAsync(sample);
        }

        foreach (var line in File.ReadAllLines(JournalPath))
        {
            var names = new List<string>();
            var amounts = new List<JsonElement>();
            Walk(JsonDocument.Parse(line).RootElement, names, amounts);
            Assert.DoesNotContain(names, n => Secret().IsMatch(n));
            Assert.DoesNotContain(names, n => n.EndsWith("minor", StringComparison.OrdinalIgnoreCase) && n != "amountMinor"); // no second money form
            Assert.All(amounts, a => Assert.Matches("^[A-Z]{3}$", a.GetProperty("currency").GetString()));
        }

        Assert.DoesNotContain(File.ReadAllText(JournalPath), "\"amount\":\"", StringComparison.Ordinal); // never money as text
    }

    [Fact]
    public async Task Old_format_lines_of_an_open_withdrawal_are_read_typed_and_recovery_reverses_it()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        var path = Path.Combine(_directory.FullName, "old", "journal.log");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllLines(path,
        [
            JournalTests.Line(1, JournalEvents.Started, data: new() { ["atm"] = "ATM00001" }),
            JournalTests.Line(2, JournalEvents.QrShown, "s-old", data: new() { ["amount"] = "80.00 EUR", ["expires"] = "2025-01-01 00:02:00Z" }),
            JournalTests.Line(3, JournalEvents.AuthoriseRequest, "s-old", 7, new() { ["rrn"] = "633510000007", ["transmission"] = "0101000000", ["amount"] = "8000", ["currency"] = "978" }),
            JournalTests.Line(4, JournalEvents.AuthoriseAnswer, "s-old", 7, new() { ["response"] = "00", ["macVerified"] = "True", ["bound"] = "True", ["authCode"] = "654321", ["cancelled"] = "False", ["failure"] = "-" }),
            JournalTests.Line(5, JournalEvents.DispenseStart, "s-old", 7, new()
            {
                ["mix"] = "CASS1@1:1x1000EUR;CASS2@2:1x2000EUR;CASS3@3:1x5000EUR",
                ["counts"] = "CASS1=100;CASS2=100;CASS3=100",
                ["counters"] = "none",
                ["reversalId"] = "000007-0101000000",
                ["rrn"] = "633510000007",
                ["transmission"] = "0101000000",
                ["amount"] = "8000",
                ["currency"] = "978",
            }),
            JournalTests.Line(6, JournalEvents.DispenseEnd, "s-old", 7, new() { ["completion"] = "Jam", ["presented"] = "10.00 EUR", ["presentedMinor"] = "1000", ["movements"] = "CASS1:1/0/0;CASS2:0/0/0;CASS3:0/0/0", ["deviceCode"] = "-", ["detail"] = "-" }),
        ]);
        using var journal = new ElectronicJournal(path, rig.Time);

        var read = journal.ReadAllEntries();

        Assert.Empty(read.Skipped);
        var asked = Assert.IsType<AuthoriseRequested>(read[2]);
        Assert.Equal((Eur80, "0101000000", "633510000007", "s-old", (int?)7, 3L), (asked.Amount, asked.Transmission, asked.Rrn, asked.Session, asked.Stan, asked.Sequence));
        Assert.True(Assert.IsType<AuthoriseAnswered>(read[3]).IsAuthentic);
        var start = Assert.IsType<DispenseStarted>(read[4]);
        Assert.Equal(MoneyPathRig.Mix80.Items, JournalMixItem.ToMix(start.Mix, Eur80.ToMoney()).Items.OrderBy(i => i.Position));
        Assert.Null(start.Counters);
        var end = Assert.IsType<DispenseEnded>(read[5]);
        Assert.Equal((new JournalAmount(1_000, "EUR"), 0), (end.Presented, end.UnknownNotes));
        var shown = Assert.IsType<UntypedEntry>(read[1]); // not read by recovery: kept for the listing as it was
        Assert.Equal((JournalEvents.QrShown, "80.00 EUR"), (shown.Event, shown.Data["amount"]));

        Assert.Equal(1, await new TerminalRecovery(journal, rig.Dispenser, rig.Forwarder, rig.Time, NullLogger.Instance).RecoverAsync(CancellationToken.None));

        var reversal = rig.SingleReversal();
        Assert.Equal(("000007-0101000000", 8_000L, 1_000L, ReversalReasons.PartialDispense), (reversal.Id, reversal.AmountMinor, reversal.DispensedMinor, reversal.ReasonCode));
        // The old lines are of another day: the first new entry closed their segment, and its header carries the
        // withdrawal the old lines left open; the numbering continues the old one.
        var after = journal.ReadAllEntries();
        Assert.Equal(new OpenWithdrawal("s-old", 3), Assert.Single(Assert.IsType<SegmentStarted>(after[^2]).Open));
        Assert.Equal(8L, Assert.IsType<Recovered>(after[^1]).Sequence);
    }

    [Theory]
    [InlineData("""{"Sequence":2,"At":"2025-01-01T00:00:00+00:00","Event":"authorise-request","Data":{"amount":"80.00","currency":"978","rrn":"r","transmission":"t"}}""")]
    [InlineData("""{"Sequence":2,"At":"2025-01-01T00:00:00+00:00","Event":"authorise-request","Data":{"amount":"8000","currency":"978"}}""")]
    [InlineData("""{"event":"dispense-start","sequence":2,"at":"2025-01-01T00:00:00+00:00","amount":"8000"}""")]
    [InlineData("""{"event":"no-such-event","sequence":2,"at":"2025-01-01T00:00:00+00:00"}""")]
    public void A_well_formed_line_that_is_not_a_readable_entry_is_skipped_and_reported_not_thrown(string line)
    {
        File.WriteAllLines(JournalPath, [JournalTests.Line(1, JournalEvents.Started), line, JournalTests.Line(3, JournalEvents.Started)]);

        var read = ElectronicJournal.ReadAll(JournalPath);

        Assert.Equal([1L, 3L], read.Select(e => e.Sequence));
        var skipped = Assert.Single(read.Skipped);
        Assert.Equal((2, false), (skipped.LineNumber, skipped.Torn));
        Assert.StartsWith("JSON but not a journal entry", skipped.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain("8000", skipped.Reason, StringComparison.Ordinal); // the reason never quotes the line
    }

    [Fact]
    public async Task The_listing_shows_every_detail_with_amounts_in_their_one_form()
    {
        using var journal = new ElectronicJournal(JournalPath, _time);
        await journal.WriteAsync(new WithdrawalEnded("00", Eur80, "Done", "Please take your cash.") { Session = "S" });

        var text = ElectronicJournal.Export(journal.ReadAllEntries());

        Assert.Contains("""session=S response=00 presented={"amountMinor":8000,"currency":"EUR"} state=Done message=Please take your cash.""", text, StringComparison.Ordinal);
    }

    public void Dispose() => _directory.Delete(recursive: true);

    private static void Walk(JsonElement element, List<string> names, List<JsonElement> amounts)
    {
        if (element.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in element.EnumerateArray())
            {
                Walk(item, names, amounts);
            }
        }
        else if (element.ValueKind == JsonValueKind.Object)
        {
            if (element.TryGetProperty("amountMinor", out _))
            {
                amounts.Add(element);
            }

            foreach (var property in element.EnumerateObject())
            {
                names.Add(property.Name);
                if (property.Name != "counts") // its names are cash-unit ids and refusal reasons, not fields
                {
                    Walk(property.Value, names, amounts);
                }
            }
        }
    }

    [GeneratedRegex("pan|account|pin|key|track|cvv|password|secret|iban", RegexOptions.IgnoreCase)]
    private static partial Regex Secret();
}
