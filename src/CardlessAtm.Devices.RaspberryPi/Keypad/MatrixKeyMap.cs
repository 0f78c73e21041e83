using CardlessAtm.Devices.Keypad;

namespace CardlessAtm.Devices.RaspberryPi.Keypad;

/// <summary>
/// Parses <see cref="MatrixKeypadOptions.KeyMap"/> into the key at each [row, column]. One builder serves the validator,
/// the driver and the CLI's firmware-sim rig, so the three cannot read a map differently. It knows no configuration path:
/// a failure names the entry by its property (e.g. <c>KeyMap:3</c>), and the validator puts the section in front.
/// </summary>
public static class MatrixKeyMap
{
    /// <summary>The key at each position of <paramref name="options"/>' matrix [row, column], null where there is no key.</summary>
    /// <exception cref="MatrixKeyMapException">The map does not fit the rows and columns, names an unknown key or a key twice.</exception>
    public static AtmKey?[,] Build(MatrixKeypadOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var rows = options.RowPins?.Length ?? 0;
        var columns = options.ColumnPins?.Length ?? 0;
        var keyMap = options.KeyMap;
        if (keyMap is null || keyMap.Length != rows)
        {
            throw new MatrixKeyMapException(nameof(options.KeyMap), $"give one string per row ({rows} rows), each with {columns} key names separated by spaces");
        }

        var map = new AtmKey?[rows, columns];
        var seen = new Dictionary<AtmKey, string>();
        for (var row = 0; row < keyMap.Length; row++)
        {
            var entry = $"{nameof(options.KeyMap)}:{row}";
            var names = (keyMap[row] ?? string.Empty).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (names.Length != columns)
            {
                throw new MatrixKeyMapException(entry, $"'{keyMap[row]}' names {names.Length} keys; the keypad has {columns} columns (use '-' for a position without a key)");
            }

            for (var column = 0; column < names.Length; column++)
            {
                if (names[column] == "-")
                {
                    continue;
                }

                if (!KeyNames.TryParse(names[column], out var key))
                {
                    throw new MatrixKeyMapException(entry, $"column {column + 1}: '{names[column]}' is not a key; use {KeyNames.Allowed} or '-'");
                }

                if (!seen.TryAdd(key, $"row {row + 1} column {column + 1}"))
                {
                    throw new MatrixKeyMapException(entry, $"column {column + 1}: {names[column]} is already at {seen[key]}; each key appears once");
                }

                map[row, column] = key;
            }
        }

        return map;
    }
}

/// <summary>A <see cref="MatrixKeypadOptions.KeyMap"/> that cannot be built; <see cref="Property"/> names the entry (e.g. <c>KeyMap:3</c>).</summary>
public sealed class MatrixKeyMapException : Exception
{
    /// <summary>Creates the error for <paramref name="property"/> with <paramref name="problem"/>.</summary>
    public MatrixKeyMapException(string property, string problem)
        : base($"{property}: {problem}")
    {
        Property = property;
        Problem = problem;
    }

    /// <summary>The offending entry under the options, e.g. <c>KeyMap</c> or <c>KeyMap:3</c>.</summary>
    public string Property { get; }

    /// <summary>What is wrong with it and how to fix it.</summary>
    public string Problem { get; }
}
