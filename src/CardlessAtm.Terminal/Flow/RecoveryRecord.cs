using System.Globalization;
using CardlessAtm.Devices.Dispenser;

namespace CardlessAtm.Terminal.Flow;

/// <summary>
/// The text forms in which journals written before entries were typed recorded dispense facts — the mix, the
/// cash-unit counts and the device's counters before a dispense — read back so that such a journal still
/// recovers (see <see cref="Journal.LegacyJournalLine"/>). New entries carry them as typed values.
/// </summary>
internal static class RecoveryRecord
{
    /// <summary>Reads a journalled mix, "CASS2@2:1x2000EUR;CASS3@3:2x5000EUR".</summary>
    /// <exception cref="FormatException">The text is not a mix.</exception>
    internal static Mix ParseMix(string text, Money amount)
    {
        ArgumentNullException.ThrowIfNull(text);
        var items = new List<MixItem>();
        foreach (var part in text.Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var at = part.IndexOf('@', StringComparison.Ordinal);
            var colon = part.IndexOf(':', StringComparison.Ordinal);
            var times = part.IndexOf('x', StringComparison.Ordinal);
            if (at <= 0 || colon < at || times < colon || part.Length < times + 4)
            {
                throw new FormatException($"'{part}' is not a journalled mix item (id@position:notesxvalueCUR).");
            }

            var denomination = Money.Of(long.Parse(part[(times + 1)..^3], CultureInfo.InvariantCulture), part[^3..]);
            items.Add(new MixItem(part[..at], int.Parse(part[(at + 1)..colon], CultureInfo.InvariantCulture), denomination, int.Parse(part[(colon + 1)..times], CultureInfo.InvariantCulture)));
        }

        return new Mix(amount, items);
    }

    /// <summary>Reads journalled cash-unit counts, "CASS1=100;CASS2=99".</summary>
    internal static Dictionary<string, int> ParseCounts(string text) =>
        text.Split(';', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('='))
            .ToDictionary(p => p[0], p => int.Parse(p[1], CultureInfo.InvariantCulture), StringComparer.Ordinal);

    /// <summary>Reads journalled device counters, "1=12/0;2=7/1" (position = presented/rejected); null for "none".</summary>
    internal static DeviceCounters? ParseCounters(string? text)
    {
        if (text is null or "none")
        {
            return null;
        }

        return new DeviceCounters([.. text.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(p =>
        {
            var position = p.Split('=');
            var counts = position[1].Split('/');
            return new PositionMovement(
                int.Parse(position[0], CultureInfo.InvariantCulture),
                int.Parse(counts[0], CultureInfo.InvariantCulture),
                int.Parse(counts[1], CultureInfo.InvariantCulture),
                0);
        })]);
    }
}
