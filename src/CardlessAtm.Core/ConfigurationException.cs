namespace CardlessAtm;

/// <summary>
/// A setting or its combination with others is missing or wrong; start-up stops with this message, and the CLI
/// turns it into exit code 2 and one line on standard error. The one configuration error of every role (device
/// layer, terminal, proxy, host, links). The message never carries a secret (PIN, key): only the setting and what
/// is wrong with it.
/// </summary>
public sealed class ConfigurationException : Exception
{
    /// <summary>Creates the error; the message reads <c>Configuration error in {setting}: {problem}.</c></summary>
    /// <param name="setting">The configuration key at fault, e.g. <c>Devices:Dispenser:Kind</c>.</param>
    /// <param name="problem">What is wrong and, where it helps, the allowed values.</param>
    /// <param name="innerException">The cause, if any.</param>
    public ConfigurationException(string setting, string problem, Exception? innerException = null)
        : base(FormatMessage(setting, problem), innerException)
    {
        Setting = setting;
        Problem = problem;
    }

    /// <summary>Creates the error for an unnamed setting.</summary>
    public ConfigurationException() : this("(unknown setting)", "invalid value")
    {
    }

    /// <summary>Creates the error for an unnamed setting.</summary>
    /// <param name="message">What is wrong.</param>
    public ConfigurationException(string message) : this("(unknown setting)", message)
    {
    }

    /// <summary>Creates the error for an unnamed setting.</summary>
    /// <param name="message">What is wrong.</param>
    /// <param name="innerException">The cause.</param>
    public ConfigurationException(string message, Exception innerException) : this("(unknown setting)", message, innerException)
    {
    }

    /// <summary>The configuration key at fault, e.g. <c>Proxy:Phone:Port</c>.</summary>
    public string Setting { get; }

    /// <summary>What is wrong with <see cref="Setting"/>, without the setting's name in front.</summary>
    public string Problem { get; }

    private static string FormatMessage(string setting, string problem) =>
        $"Configuration error in {setting}: {(problem ?? "invalid value").TrimEnd('.')}.";
}
