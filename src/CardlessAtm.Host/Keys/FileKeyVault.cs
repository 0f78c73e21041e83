using System.Security.Cryptography;
using System.Text;
using CardlessAtm.Security;

namespace CardlessAtm.Host.Keys;

/// <summary>
/// Where the host keeps its keys: ATM master and session keys, phone base derivation keys and the
/// PIN verification key. The database holds only references and check values.
/// </summary>
public interface IKeyVault
{
    /// <summary>Loads a key. The caller disposes it.</summary>
    /// <exception cref="KeyVaultException">No such key, or its file is unreadable or unsafe.</exception>
    SecretKey Load(string keyRef);

    /// <summary>Stores (or replaces) a key, atomically.</summary>
    void Store(string keyRef, SecretKey key);

    /// <summary>True when the key exists.</summary>
    bool Contains(string keyRef);
}

/// <summary>A key could not be loaded or stored. The message names the reference, never the key.</summary>
public sealed class KeyVaultException : Exception
{
    /// <summary>Creates the exception.</summary>
    public KeyVaultException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public KeyVaultException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception.</summary>
    public KeyVaultException()
    {
    }
}

/// <summary>
/// Keys as files in one directory readable only by the service user (directory 0700, files 0600):
/// one file per key reference, holding the algorithm name and the key in hex. Writes go to a
/// temporary file that is flushed and renamed, so a crash never leaves half a key. On Unix a file
/// that group or others can read is refused.
/// </summary>
public sealed class FileKeyVault : IKeyVault
{
    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerOnlyDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private readonly string _directory;

    /// <summary>Opens (creating if needed) the vault directory.</summary>
    public FileKeyVault(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        _directory = Path.GetFullPath(directory);
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(_directory);
        }
        else
        {
            Directory.CreateDirectory(_directory, OwnerOnlyDirectory);
        }
    }

    /// <summary>The vault directory.</summary>
    public string DirectoryPath => _directory;

    /// <inheritdoc />
    public bool Contains(string keyRef) => File.Exists(PathOf(keyRef));

    /// <inheritdoc />
    public SecretKey Load(string keyRef)
    {
        var path = PathOf(keyRef);
        if (!File.Exists(path))
        {
            throw new KeyVaultException($"Key '{keyRef}' is not in the key vault {_directory}.");
        }

        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & ~OwnerOnlyFile) != 0)
        {
            throw new KeyVaultException($"Key file for '{keyRef}' can be read by group or others; fix it with chmod 600.");
        }

        var text = File.ReadAllText(path, Encoding.ASCII).Trim();
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            throw new KeyVaultException($"Key file for '{keyRef}' is not in the form '<algorithm>:<hex>'.");
        }

        try
        {
            var algorithm = KeyAlgorithms.Parse(text[..colon]);
            return SecretKey.FromHex(algorithm, text[(colon + 1)..], keyName: keyRef);
        }
        catch (Exception ex) when (ex is ArgumentException or SecurityException)
        {
            throw new KeyVaultException($"Key file for '{keyRef}' is invalid: {ex.Message}", ex);
        }
    }

    /// <inheritdoc />
    public void Store(string keyRef, SecretKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var path = PathOf(keyRef);
        var temp = path + ".tmp";
        var bytes = key.ExportBytes();
        var content = Encoding.ASCII.GetBytes($"{key.Algorithm}:{Convert.ToHexString(bytes)}\n");
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.None };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = OwnerOnlyFile;
            }

            using (var stream = new FileStream(temp, options))
            {
                stream.Write(content);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
            CryptographicOperations.ZeroMemory(content);
        }
    }

    private string PathOf(string keyRef)
    {
        ArgumentException.ThrowIfNullOrEmpty(keyRef);
        if (keyRef.Length > 100 || keyRef.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')) || keyRef[0] == '.')
        {
            throw new KeyVaultException($"Key reference must be 1-100 characters A-Z a-z 0-9 - _ . and not start with a dot; got {keyRef.Length} characters.");
        }

        return Path.Combine(_directory, keyRef + ".key");
    }
}
