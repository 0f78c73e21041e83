using System.Globalization;
using CardlessAtm.Devices;
using CardlessAtm.Devices.Dispenser;

namespace CardlessAtm.Terminal.Flow;

/// <summary>
/// How dispense facts are written into journal entries and read back by recovery: the mix, the cash-unit
/// counts and the device's counters before a dispense, and exactly what moved after it.
/// </summary>
public static class RecoveryRecord
{
    /// <summary>"CASS2@2:1x2000EUR;CASS3@3:2x5000EUR".</summary>
    public static string FormatMix(Mix mix)
    {
        ArgumentNullException.ThrowIfNull(mix);
        return string.Join(';', mix.Items.Select(i => string.Create(
            CultureInfo.InvariantCulture, $"{i.CashUnitId}@{i.Position}:{i.Notes}x{i.Denomination.MinorUnits}{i.Denomination.Currency.Code}")));
    }

    /// <summary>Reads <see cref="FormatMix"/>'s text back.</summary>
    /// <exception cref="FormatException">The text is not a mix.</exception>
    public static Mix ParseMix(string text, Money amount)
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

    /// <summary>"CASS1=100;CASS2=99".</summary>
    public static string FormatCounts(IEnumerable<CashUnit> units) =>
        string.Join(';', units.Select(u => string.Create(CultureInfo.InvariantCulture, $"{u.Id}={u.Count}")));

    /// <summary>Reads <see cref="FormatCounts"/>'s text back.</summary>
    public static Dictionary<string, int> ParseCounts(string text) =>
        text.Split(';', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('='))
            .ToDictionary(p => p[0], p => int.Parse(p[1], CultureInfo.InvariantCulture), StringComparer.Ordinal);

    /// <summary>"1=12/0;2=7/1" (position = presented/rejected).</summary>
    public static string FormatCounters(DeviceCounters counters)
    {
        ArgumentNullException.ThrowIfNull(counters);
        return string.Join(';', counters.Positions.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Position}={p.Presented}/{p.Rejected}")));
    }

    /// <summary>Reads <see cref="FormatCounters"/>'s text back; null for "none".</summary>
    public static DeviceCounters? ParseCounters(string? text)
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

    /// <summary>The journal details of a dispense result.</summary>
    public static Dictionary<string, string> DescribeResult(DispenseResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return new Dictionary<string, string>
        {
            ["completion"] = result.Completion.ToString(),
            ["presented"] = result.Presented.ToString(),
            ["presentedMinor"] = result.Presented.MinorUnits.ToString(CultureInfo.InvariantCulture),
            ["movements"] = string.Join(';', result.Movements.Select(m => string.Create(CultureInfo.InvariantCulture, $"{m.CashUnitId}:{m.Presented}/{m.Rejected}/{m.Unknown}"))),
            ["deviceCode"] = result.DeviceCode ?? "-",
            ["detail"] = result.Detail ?? "-",
        };
    }
}
