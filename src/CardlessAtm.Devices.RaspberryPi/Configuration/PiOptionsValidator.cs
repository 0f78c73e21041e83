namespace CardlessAtm.Devices.RaspberryPi.Configuration;

/// <summary>
/// The shape of every Raspberry Pi options validator: the checks live here, not in the options or the driver, and every
/// failure starts with the full setting path under the section the registration bound (e.g.
/// <c>Devices:Display:CharacterLcd:I2cAddress</c>), so the driver never needs to know it. A driver built without DI
/// (tests, the CLI's rigs, the panel) checks its options with <see cref="ThrowIfInvalid"/> under the options type's name
/// as a neutral section (e.g. <c>CharacterLcdOptions:I2cAddress</c>).
/// </summary>
/// <typeparam name="TOptions">The options checked.</typeparam>
/// <param name="section">The configuration path the options are bound from, e.g. <c>Devices:Display:CharacterLcd</c>.</param>
public abstract class PiOptionsValidator<TOptions>(string section) : ConfigurationValidator<TOptions>
    where TOptions : class
{
    /// <summary>The configuration path every failure starts with.</summary>
    protected string Section { get; } = section;

    /// <summary>Checks <paramref name="options"/>; the first bad setting stops start-up.</summary>
    /// <exception cref="ConfigurationException">A setting is invalid; <see cref="ConfigurationException.Setting"/> is its full path.</exception>
    public void ThrowIfInvalid(TOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Check(options);
    }
}
