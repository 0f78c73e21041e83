namespace CardlessAtm.Devices.Dispenser;

/// <summary>
/// The configured cash units, checked once: at least one unit, every id and every position used once. Made by
/// <see cref="Configuration.AtmDevicesBuilder.ReadCashUnits"/> from configuration (or <see cref="Create"/> in code);
/// <see cref="CashDispenser.OpenAsync"/> takes it as it is and checks only what needs the device (its positions).
/// </summary>
public sealed class CashUnitLayout
{
    /// <summary>The setting the units are configured under by default.</summary>
    public const string DefaultSetting = "Devices:Dispenser:CashUnits";

    private CashUnitLayout(IReadOnlyList<CashUnit> units, string setting)
    {
        Units = units;
        Setting = setting;
    }

    /// <summary>The units, in configuration order.</summary>
    public IReadOnlyList<CashUnit> Units { get; }

    /// <summary>The configuration path of the list; unit <c>i</c> is <c>{Setting}:{i}</c>.</summary>
    public string Setting { get; }

    /// <summary>Checks <paramref name="units"/> as a whole; each error names <paramref name="setting"/> or the unit's entry under it.</summary>
    /// <param name="units">The units, in configuration order.</param>
    /// <param name="setting">The configuration path of the list, e.g. <see cref="DefaultSetting"/>.</param>
    /// <exception cref="ConfigurationException">No unit, or an id or a position used twice.</exception>
    public static CashUnitLayout Create(IEnumerable<CashUnit> units, string setting = DefaultSetting)
    {
        ArgumentNullException.ThrowIfNull(units);
        ArgumentException.ThrowIfNullOrWhiteSpace(setting);
        List<CashUnit> list = [.. units];
        if (list.Count == 0)
        {
            throw new ConfigurationException(setting, "at least one cash unit must be configured (Id, Position, Currency, Denomination, Count)");
        }

        for (var i = 0; i < list.Count; i++)
        {
            var unit = list[i];
            if (list.Take(i).FirstOrDefault(u => string.Equals(u.Id, unit.Id, StringComparison.Ordinal) || u.Position == unit.Position) is { } clash)
            {
                throw new ConfigurationException(
                    $"{setting}:{i}",
                    string.Equals(clash.Id, unit.Id, StringComparison.Ordinal) ? $"cash unit id '{unit.Id}' is used twice" : $"position {unit.Position} is used by both '{clash.Id}' and '{unit.Id}'");
            }
        }

        return new CashUnitLayout(list.AsReadOnly(), setting);
    }
}
