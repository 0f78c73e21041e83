using CardlessAtm.Devices.Keypad;
using CardlessAtm.Devices.RaspberryPi.Configuration;

namespace CardlessAtm.Devices.RaspberryPi.Keypad;

/// <summary>
/// Settings of a membrane matrix keypad (e.g. <c>Devices:Keypad:Matrix</c>). Rows are driven one
/// at a time by the scanner, columns are read with pull-downs. <see cref="KeyMap"/> has one string
/// per row with the key names of its columns separated by spaces, <c>-</c> for a position without a key.
/// </summary>
public sealed class MatrixKeypadOptions
{
    /// <summary>BCM pins of the rows (scanner outputs), top row first. Default: the common 4×4 wiring on GPIO 5, 6, 13, 19.</summary>
    public int[] RowPins { get; set; } = [5, 6, 13, 19];

    /// <summary>BCM pins of the columns (scanner inputs), left column first. Default: GPIO 12, 16, 20, 21.</summary>
    public int[] ColumnPins { get; set; } = [12, 16, 20, 21];

    /// <summary>The key at each position, one string per row; default is the usual 4×4 ATM layout with function keys in the right column.</summary>
    public string[] KeyMap { get; set; } = ["1 2 3 F1", "4 5 6 F2", "7 8 9 F3", "Cancel 0 Clear Enter"];

    /// <summary>How long a key must read the same before it counts (ms).</summary>
    public int DebounceMilliseconds { get; set; } = 25;

    /// <summary>Pause between rows of the scan (ms); a full scan takes rows × this.</summary>
    public int ScanIntervalMilliseconds { get; set; } = 2;

    /// <summary>Use the SoC's pull-down resistors on the columns (true), or external pull-downs (false).</summary>
    public bool InternalPullDown { get; set; } = true;

    /// <summary>Checks every setting and returns the parsed key map [row, column] (null where there is no key).</summary>
    /// <exception cref="ConfigurationException">A setting is invalid; the message names it.</exception>
    public AtmKey?[,] Validate(string section = "Devices:Keypad:Matrix")
    {
        if (RowPins is null || RowPins.Length is < 1 or > 8)
        {
            throw new ConfigurationException($"{section}:RowPins", "list 1 to 8 row pins (BCM numbers), top row first");
        }

        if (ColumnPins is null || ColumnPins.Length is < 1 or > 8)
        {
            throw new ConfigurationException($"{section}:ColumnPins", "list 1 to 8 column pins (BCM numbers), left column first");
        }

        for (var i = 0; i < RowPins.Length; i++)
        {
            PinRules.CheckPin($"{section}:RowPins:{i}", RowPins[i]);
        }

        for (var i = 0; i < ColumnPins.Length; i++)
        {
            PinRules.CheckPin($"{section}:ColumnPins:{i}", ColumnPins[i]);
        }

        PinRules.CheckDistinct(section, RowPins.Select((p, i) => ($"{section}:RowPins:{i}", p)).Concat(ColumnPins.Select((p, i) => ($"{section}:ColumnPins:{i}", p))));

        if (DebounceMilliseconds is < 1 or > 500)
        {
            throw new ConfigurationException($"{section}:DebounceMilliseconds", $"{DebounceMilliseconds} ms is outside 1–500 ms (25 ms suits membrane keypads)");
        }

        if (ScanIntervalMilliseconds is < 1 or > 50)
        {
            throw new ConfigurationException($"{section}:ScanIntervalMilliseconds", $"{ScanIntervalMilliseconds} ms is outside 1–50 ms");
        }

        if (KeyMap is null || KeyMap.Length != RowPins.Length)
        {
            throw new ConfigurationException($"{section}:KeyMap", $"give one string per row ({RowPins.Length} rows), each with {ColumnPins.Length} key names separated by spaces");
        }

        var map = new AtmKey?[RowPins.Length, ColumnPins.Length];
        var seen = new Dictionary<AtmKey, string>();
        for (var row = 0; row < KeyMap.Length; row++)
        {
            var names = (KeyMap[row] ?? string.Empty).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (names.Length != ColumnPins.Length)
            {
                throw new ConfigurationException($"{section}:KeyMap:{row}", $"'{KeyMap[row]}' names {names.Length} keys; the keypad has {ColumnPins.Length} columns (use '-' for a position without a key)");
            }

            for (var column = 0; column < names.Length; column++)
            {
                if (names[column] == "-")
                {
                    continue;
                }

                if (!KeyNames.TryParse(names[column], out var key))
                {
                    throw new ConfigurationException($"{section}:KeyMap:{row}", $"column {column + 1}: '{names[column]}' is not a key; use {KeyNames.Allowed} or '-'");
                }

                if (!seen.TryAdd(key, $"row {row + 1} column {column + 1}"))
                {
                    throw new ConfigurationException($"{section}:KeyMap:{row}", $"column {column + 1}: {names[column]} is already at {seen[key]}; each key appears once");
                }

                map[row, column] = key;
            }
        }

        return map;
    }
}
