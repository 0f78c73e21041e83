using System.Text;
using System.Text.Json;
using CardlessAtm.Iso8583;
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
        await using var lab = await Lab.StartAsync(meters: meters, prepareDataDirectory: directory =>
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
        var lines = File.ReadAllLines(lab.Terminal.Journal.Path);
        Assert.Equal(Torn, lines[2]); // never deleted or rewritten
        Assert.Contains(lab.Journal(), e => e.Event == JournalEvents.WithdrawalEnd && e["response"] == ResponseCodes.Approved);
        Assert.Equal(3, Assert.Single(lab.Journal().Skipped).LineNumber);
        Assert.Equal(1, meters.Total("cardless_atm.journal.corrupt_lines")); // reported at start-up, once
    }

    internal static string Line(long sequence, string @event, string? session = null, int? stan = null, Dictionary<string, string>? data = null) =>
        JsonSerializer.Serialize(new JournalEntry(sequence, new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero).AddSeconds(sequence), @event, session, stan, data));
}
