using System.Security.Cryptography;
using System.Text;
using CardlessAtm.Security.Primitives;

namespace CardlessAtm.Security;

/// <summary>
/// Keys in files, one per key, readable only by the service user. Every read refuses a file that group
/// or others can access (the error names the file and the <c>chmod 600</c> fix); every write creates the
/// file with mode 0600 and replaces it atomically. The text format (no secret outside the <c>key=</c> or
/// <c>state=</c> line) is:
/// <code>
/// # cardless-atm key file v1
/// type=key            (or dukpt-device)
/// algorithm=AES-256   (keys only)
/// kcv=1A2B3C4D5E      (keys only; checked on load)
/// key=HEX             (or state=HEX for a DUKPT device)
/// </code>
/// Conventional names: <c>tmk-ATM00001</c>, <c>bdk-&lt;id&gt;</c>, <c>pvk</c>, <c>phone-dukpt</c>.
/// </summary>
public sealed class FileKeyStore
{
    private const string Header = "# cardless-atm key file v1";
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode GroupOrOther = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>Opens (and creates, mode 0700) the store directory.</summary>
    public FileKeyStore(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        Directory = Path.GetFullPath(directory);
        if (!System.IO.Directory.Exists(Directory))
        {
            if (OperatingSystem.IsWindows())
            {
                System.IO.Directory.CreateDirectory(Directory);
            }
            else
            {
                System.IO.Directory.CreateDirectory(Directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }
    }

    /// <summary>The store directory (absolute).</summary>
    public string Directory { get; }

    /// <summary>The file that holds <paramref name="name"/>.</summary>
    public string PathOf(string name) => Path.Combine(Directory, ValidateName(name) + ".key");

    /// <summary>True when a file for <paramref name="name"/> exists.</summary>
    public bool Contains(string name) => File.Exists(PathOf(name));

    /// <summary>Names of all keys in the store.</summary>
    public IReadOnlyList<string> List() =>
        System.IO.Directory.EnumerateFiles(Directory, "*.key").Select(f => Path.GetFileNameWithoutExtension(f)).Order(StringComparer.Ordinal).ToList();

    /// <summary>
    /// What a key file holds: <c>key</c> or <c>dukpt-device</c> (after the same permission check as a load).
    /// </summary>
    /// <exception cref="KeyFileRejectedException">Missing, group/other-accessible or without a type line.</exception>
    public string TypeOf(string name)
    {
        var path = PathOf(name);
        return Read(path, expectedType: null)["type"];
    }

    /// <summary>Writes a key (mode 0600, atomic). Refuses to replace an existing key unless <paramref name="overwrite"/>.</summary>
    public void SaveKey(string name, SecretKey key, bool overwrite = false)
    {
        ArgumentNullException.ThrowIfNull(key);
        var hex = Convert.ToHexString(key.Material);
        Write(name, $"{Header}\ntype=key\nalgorithm={key.Algorithm.DisplayName()}\nkcv={key.CheckValue}\nkey={hex}\n", overwrite);
    }

    /// <summary>Reads a key after checking the file's permissions and the key's KCV.</summary>
    /// <exception cref="KeyFileRejectedException">Missing, group/other-accessible or malformed file.</exception>
    /// <exception cref="KeyCheckValueMismatchException">The key does not match the KCV recorded beside it.</exception>
    public SecretKey LoadKey(string name)
    {
        var path = PathOf(name);
        var fields = Read(path, "key");
        var algorithm = Parse(fields, "algorithm", path, KeyAlgorithms.Parse);
        var kcv = Parse(fields, "kcv", path, KeyCheckValue.Parse);
        var key = Parse(fields, "key", path, hex => SecretKey.FromHex(algorithm, hex, keyName: $"Key file {path}"));
        try
        {
            kcv.Verify(key, $"Key file {path}");
            return key;
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }

    /// <summary>Writes a phone's DUKPT device state (mode 0600, atomic, always replaces: the counter only moves forward).</summary>
    public void SaveDukptDevice(string name, DukptDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        var state = device.ExportState();
        try
        {
            Write(name, $"{Header}\ntype=dukpt-device\nstate={Convert.ToHexString(state)}\n", overwrite: true);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(state);
        }
    }

    /// <summary>Reads a phone's DUKPT device state.</summary>
    public DukptDevice LoadDukptDevice(string name)
    {
        var path = PathOf(name);
        var fields = Read(path, "dukpt-device");
        var state = Parse(fields, "state", path, hex => HexText.ParseSecret(hex, $"Key file {path}"));
        try
        {
            return DukptDevice.ImportState(state);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(state);
        }
    }

    /// <summary>
    /// Throws unless <paramref name="path"/> exists and neither group nor others have any access to it.
    /// The message names the file and gives the fix. (No check on Windows, where ACLs apply instead.)
    /// </summary>
    /// <exception cref="KeyFileRejectedException">Missing or too open.</exception>
    public static void CheckPermissions(string path)
    {
        if (!File.Exists(path))
        {
            throw new KeyFileRejectedException($"Key file {path} does not exist.");
        }

        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var mode = File.GetUnixFileMode(path);
        if ((mode & GroupOrOther) != 0)
        {
            throw new KeyFileRejectedException(
                $"Key file {path} is accessible by group or others (mode {Convert.ToString((int)mode, 8).PadLeft(4, '0')}); refusing to use it. Fix: chmod 600 {path}");
        }
    }

    /// <summary>The path only.</summary>
    public override string ToString() => $"Key store {Directory}";

    private static string ValidateName(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            {
                throw new ArgumentException($"Key name '{name}' may contain only letters, digits, '-', '_' and '.'.", nameof(name));
            }
        }

        return name.StartsWith('.') ? throw new ArgumentException($"Key name '{name}' must not start with '.'.", nameof(name)) : name;
    }

    private void Write(string name, string content, bool overwrite)
    {
        var path = PathOf(name);
        if (!overwrite && File.Exists(path))
        {
            throw new KeyFileRejectedException($"Key file {path} already exists; refusing to replace it (remove it first or pass --force).");
        }

        var temp = Path.Combine(Directory, $".{name}.{Guid.NewGuid():N}.tmp");
        var bytes = Encoding.ASCII.GetBytes(content);
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Options = FileOptions.WriteThrough };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = OwnerOnly;
            }

            using (var stream = new FileStream(temp, options))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }

    private static Dictionary<string, string> Read(string path, string? expectedType)
    {
        CheckPermissions(path);
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        var lines = File.ReadAllLines(path);
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new KeyFileRejectedException($"Key file {path}: line {i + 1} is not 'name=value'.");
            }

            fields[line[..eq]] = line[(eq + 1)..];
        }

        if (!fields.TryGetValue("type", out var type) || (expectedType is not null && type != expectedType))
        {
            throw new KeyFileRejectedException($"Key file {path}: type is '{type ?? "missing"}', expected '{expectedType ?? "key or dukpt-device"}'.");
        }

        return fields;
    }

    private static T Parse<T>(Dictionary<string, string> fields, string field, string path, Func<string, T> parse)
    {
        if (!fields.TryGetValue(field, out var value))
        {
            throw new KeyFileRejectedException($"Key file {path}: '{field}=' line is missing.");
        }

        try
        {
            return parse(value);
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or SecurityException)
        {
            throw new KeyFileRejectedException($"Key file {path}: '{field}' is invalid: {ex.Message}");
        }
    }
}

/// <summary>
/// Host: finds base derivation keys in a <see cref="FileKeyStore"/> by name <c>bdk-&lt;id&gt;</c>, where the id is
/// the AES KSN's 4-byte BDK id (8 hex digits) or the TDES KSN's leading 5-byte key set id (10 hex digits).
/// Loaded keys are cached for the life of the provider.
/// </summary>
public sealed class KeyStoreBaseDerivationKeyProvider(FileKeyStore store) : IBaseDerivationKeyProvider, IDisposable
{
    private readonly Dictionary<string, SecretKey> _cache = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>The key name under which the BDK for <paramref name="ksn"/> is stored.</summary>
    public static string KeyNameFor(KeySerialNumber ksn)
    {
        ArgumentNullException.ThrowIfNull(ksn);
        return "bdk-" + (ksn.Kind == DukptKind.Aes ? ksn.AesBaseDerivationKeyId : Convert.ToHexString(ksn.Bytes[..5]));
    }

    /// <inheritdoc/>
    public SecretKey? FindBaseDerivationKey(KeySerialNumber ksn)
    {
        var name = KeyNameFor(ksn);
        lock (_gate)
        {
            if (_cache.TryGetValue(name, out var cached))
            {
                return cached;
            }

            if (!store.Contains(name))
            {
                return null;
            }

            var key = store.LoadKey(name);
            _cache[name] = key;
            return key;
        }
    }

    /// <summary>Zeroes the cached keys.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var key in _cache.Values)
            {
                key.Dispose();
            }

            _cache.Clear();
        }
    }
}
