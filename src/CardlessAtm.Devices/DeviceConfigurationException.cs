namespace CardlessAtm.Devices;

/// <summary>A device setting is missing or wrong; start-up stops with this message.</summary>
/// <param name="setting">The configuration key, e.g. <c>Devices:Dispenser:Kind</c>.</param>
/// <param name="problem">What is wrong and, where it helps, the allowed values.</param>
public sealed class DeviceConfigurationException(string setting, string problem)
    : Exception($"Configuration error in {setting}: {problem}.")
{
    /// <summary>The configuration key at fault.</summary>
    public string Setting { get; } = setting;
}
