using CardlessAtm.Security;

namespace CardlessAtm.Network;

/// <summary>
/// A single AES-256 key kept in its own key file and named by a setting — the host's key-encryption key
/// (<c>Host:Keys:KekPath</c>) and the proxy fleet's key (<c>Proxy:Routing:Nats:FleetKeyPath</c>). The file goes through
/// <see cref="FileKeyStore.LoadKeyFile"/>'s checks (0600 in a directory no one else may enter, the key-file format, the
/// KCV beside the key); every refusal is a <see cref="ConfigurationException"/> naming the setting, in one line, with
/// no key material (the CLI turns it into exit code 2).
/// </summary>
public static class ConfiguredKeyFile
{
    /// <summary>Reads the AES-256 key file at <paramref name="path"/>, the value of <paramref name="setting"/>.</summary>
    /// <param name="path">The setting's value (the file's path), or null when unset.</param>
    /// <param name="setting">The setting that names the file, e.g. <c>Host:Keys:KekPath</c>.</param>
    /// <param name="requiredRule">What to say when the setting is unset (the rule and how to make the file).</param>
    /// <param name="role">What the key is, for the wrong-algorithm message, e.g. "a key-encryption key".</param>
    /// <exception cref="ConfigurationException">Unset, missing, too open, malformed, a KCV mismatch or not AES-256.</exception>
    public static SecretKey LoadAes256(string? path, string setting, string requiredRule, string role)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            throw new ConfigurationException(setting, requiredRule);
        }

        SecretKey key;
        try
        {
            key = FileKeyStore.LoadKeyFile(path);
        }
        catch (SecurityException ex)
        {
            throw new ConfigurationException(setting, ex.Message.TrimEnd('.'));
        }

        if (key.Algorithm != KeyAlgorithm.Aes256)
        {
            var algorithm = key.Algorithm.DisplayName();
            key.Dispose();
            throw new ConfigurationException(setting, $"{Path.GetFullPath(path)} holds an {algorithm} key; {role} must be AES-256");
        }

        return key;
    }
}
