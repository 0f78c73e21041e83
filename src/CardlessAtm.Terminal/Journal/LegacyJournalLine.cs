using System.Globalization;
using System.Text.Json;
using CardlessAtm.Terminal.Flow;

namespace CardlessAtm.Terminal.Journal;

/// <summary>
/// Reads a line written before entries were typed — <c>{"Sequence":…,"At":…,"Event":"…","Session":…,"Stan":…,"Data":{…}}</c>
/// with every detail a string — into its typed entry, so that an ATM upgraded with withdrawals still open
/// settles them. The events recovery and the journal's own state read are converted; any other becomes an
/// <see cref="UntypedEntry"/> for the listing. A value that cannot be converted is a <see cref="FormatException"/>
/// (the line is then skipped and reported like any corrupt one).
/// </summary>
internal static class LegacyJournalLine
{
    /// <summary>Whether <paramref name="root"/> has the old shape (a capitalised <c>Event</c>, no <c>event</c>).</summary>
    public static bool Is(JsonElement root) =>
        root.ValueKind == JsonValueKind.Object && root.TryGetProperty("Event", out _) && !root.TryGetProperty("event", out _);

    /// <summary>The typed entry of an old-format line, or null when it has no event or sequence.</summary>
    /// <exception cref="FormatException">A detail the typed entry needs is missing or not a value of its kind.</exception>
    public static JournalEntry? Convert(JsonElement root)
    {
        var name = root.TryGetProperty("Event", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
        var sequence = root.TryGetProperty("Sequence", out var s) && s.TryGetInt64(out var n) ? n : 0;
        if (string.IsNullOrEmpty(name) || sequence <= 0)
        {
            return null;
        }

        var data = new Dictionary<string, string>(StringComparer.Ordinal);
        if (root.TryGetProperty("Data", out var d) && d.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in d.EnumerateObject())
            {
                data[property.Name] = property.Value.GetString() ?? string.Empty;
            }
        }

        var entry = Typed(name, data) ?? new UntypedEntry(name, data);
        return entry with
        {
            Sequence = sequence,
            At = root.TryGetProperty("At", out var at) ? at.GetDateTimeOffset() : default,
            Session = root.TryGetProperty("Session", out var session) && session.ValueKind == JsonValueKind.String ? session.GetString() : null,
            Stan = root.TryGetProperty("Stan", out var stan) && stan.ValueKind == JsonValueKind.Number ? stan.GetInt32() : null,
        };
    }

    private static JournalEntry? Typed(string name, Dictionary<string, string> data)
    {
        string Get(string key) => data.TryGetValue(key, out var value) ? value : throw new FormatException($"the old-format {name} entry has no '{key}'");
        string? Optional(string key) => data.TryGetValue(key, out var value) && value != "-" && value != "none" ? value : null;
        switch (name)
        {
            case JournalEvents.Started:
                return new TerminalStarted(Optional("atm") ?? "-");
            case JournalEvents.AuthoriseRequest:
                return new AuthoriseRequested(Get("rrn"), Get("transmission"), Amount(Get("amount"), Get("currency")));
            case JournalEvents.AuthoriseAnswer:
                var bound = Optional("bound");
                return new AuthoriseAnswered(
                    Optional("response"),
                    Get("macVerified") == bool.TrueString,
                    bound is null || bound == bool.TrueString ? null : bound.Replace("no: field(s) ", string.Empty, StringComparison.Ordinal),
                    Optional("authCode"),
                    Optional("cancelled") == bool.TrueString,
                    Optional("failure"));
            case JournalEvents.DispenseStart:
                var amount = Amount(Get("amount"), Get("currency"));
                var counters = RecoveryRecord.ParseCounters(Optional("counters"));
                return new DispenseStarted(
                    JournalMixItem.Of(RecoveryRecord.ParseMix(Get("mix"), amount.ToMoney())),
                    RecoveryRecord.ParseCounts(Get("counts")),
                    counters is null ? null : JournalDeviceCounter.Of(counters),
                    Get("reversalId"),
                    Get("rrn"),
                    Get("transmission"),
                    amount);
            case JournalEvents.DispenseEnd:
                var presented = Major(Get("presented"));
                return new DispenseEnded(
                    Get("completion"),
                    new JournalAmount(Minor(Get("presentedMinor")), presented.Currency),
                    [.. (Optional("movements") ?? string.Empty).Split(';', StringSplitOptions.RemoveEmptyEntries).Select(Movement)],
                    Optional("deviceCode"),
                    Optional("detail"));
            case JournalEvents.ReversalAcknowledged:
                return new ReversalAcknowledged(Get("id"), Get("response"), (int)Minor(Optional("attempts") ?? "1"));
            case JournalEvents.WithdrawalEnd:
                return new WithdrawalEnded(Get("response"), Major(Get("presented")), Optional("state") ?? "-", Optional("message") ?? "-");
            case JournalEvents.Recovered:
                return new Recovered(Get("how"), Major(Get("presented")), Get("reversal"));
            case JournalEvents.SegmentStarted:
                return new SegmentStarted(Get("previous"), [.. (Optional("open") ?? string.Empty).Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(Open)]);
            default:
                return null;
        }
    }

    private static JournalAmount Amount(string minor, string numericCurrency) =>
        new(Minor(minor), Currency.FromNumericCode(int.Parse(numericCurrency, NumberStyles.None, CultureInfo.InvariantCulture)).Code);

    /// <summary>"80.00 EUR", as the old entries wrote money for people.</summary>
    private static JournalAmount Major(string text)
    {
        var space = text.LastIndexOf(' ');
        if (space <= 0)
        {
            throw new FormatException($"'{text}' is not an amount and currency");
        }

        return JournalAmount.Of(Money.ParseMajor(text[..space].TrimStart('-'), Currency.FromCode(text[(space + 1)..])));
    }

    private static long Minor(string text) => long.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture);

    /// <summary>"CASS1:2/0/1".</summary>
    private static JournalMovement Movement(string text)
    {
        var colon = text.LastIndexOf(':');
        var counts = text[(colon + 1)..].Split('/');
        if (colon <= 0 || counts.Length != 3)
        {
            throw new FormatException($"'{text}' is not a movement (unit:presented/rejected/unknown)");
        }

        return new JournalMovement(text[..colon], (int)Minor(counts[0]), (int)Minor(counts[1]), (int)Minor(counts[2]));
    }

    /// <summary>"session@sequence".</summary>
    private static OpenWithdrawal Open(string text)
    {
        var at = text.LastIndexOf('@');
        return at > 0 ? new OpenWithdrawal(text[..at], Minor(text[(at + 1)..])) : throw new FormatException($"'{text}' is not session@sequence");
    }
}
