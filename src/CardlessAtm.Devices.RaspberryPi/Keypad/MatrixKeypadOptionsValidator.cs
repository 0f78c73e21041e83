using CardlessAtm.Devices.RaspberryPi.Configuration;

namespace CardlessAtm.Devices.RaspberryPi.Keypad;

/// <summary>The rules for <see cref="MatrixKeypadOptions"/>; every failure starts with the full setting path under <c>section</c>.</summary>
/// <param name="section">The configuration path the options are bound from, e.g. <c>Devices:Keypad:Matrix</c>.</param>
public sealed class MatrixKeypadOptionsValidator(string section) : PiOptionsValidator<MatrixKeypadOptions>(section)
{
    /// <inheritdoc/>
    protected override void Check(MatrixKeypadOptions options)
    {
        if (options.RowPins is null || options.RowPins.Length is < 1 or > 8)
        {
            throw new ConfigurationException($"{Section}:RowPins", "list 1 to 8 row pins (BCM numbers), top row first");
        }

        if (options.ColumnPins is null || options.ColumnPins.Length is < 1 or > 8)
        {
            throw new ConfigurationException($"{Section}:ColumnPins", "list 1 to 8 column pins (BCM numbers), left column first");
        }

        for (var i = 0; i < options.RowPins.Length; i++)
        {
            PinRules.CheckPin($"{Section}:RowPins:{i}", options.RowPins[i]);
        }

        for (var i = 0; i < options.ColumnPins.Length; i++)
        {
            PinRules.CheckPin($"{Section}:ColumnPins:{i}", options.ColumnPins[i]);
        }

        PinRules.CheckDistinct(Section, options.RowPins.Select((p, i) => ($"{Section}:RowPins:{i}", p)).Concat(options.ColumnPins.Select((p, i) => ($"{Section}:ColumnPins:{i}", p))));

        if (options.DebounceMilliseconds is < 1 or > 500)
        {
            throw new ConfigurationException($"{Section}:DebounceMilliseconds", $"{options.DebounceMilliseconds} ms is outside 1–500 ms (25 ms suits membrane keypads)");
        }

        if (options.ScanIntervalMilliseconds is < 1 or > 50)
        {
            throw new ConfigurationException($"{Section}:ScanIntervalMilliseconds", $"{options.ScanIntervalMilliseconds} ms is outside 1–50 ms");
        }

        try
        {
            MatrixKeyMap.Build(options);
        }
        catch (MatrixKeyMapException e)
        {
            throw new ConfigurationException($"{Section}:{e.Property}", e.Problem);
        }
    }
}
