using System.Security.Cryptography;
using System.Text;

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
public sealed class FileKeyStore : IKeyVault
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
            CreatePrivateDirectory(Directory);
        }
    }

    /// <summary>
    /// Makes <paramref name="directory"/> (and its missing parents) with mode 0700 when it does not exist, and
    /// throws when it exists but group or others can access it: a key written there would be refused when loaded.
    /// </summary>
    /// <exception cref="KeyFileRejectedException">The directory exists and is too open.</exception>
    public static void CreatePrivateDirectory(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        var full = Path.GetFullPath(directory);
        if (OperatingSystem.IsWindows())
        {
            System.IO.Directory.CreateDirectory(full);
            return;
        }

        if (!System.IO.Directory.Exists(full))
        {
            System.IO.Directory.CreateDirectory(full, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            return;
        }

        CheckDirectoryPermissions(full);
    }

    /// <summary>The store directory (absolute).</summary>
    public string Directory { get; }

    /// <summary>The file that holds <paramref name="name"/>.</summary>
    public string PathOf(string name) => Path.Combine(Directory, ValidateName(name) + ".key");

    /// <inheritdoc/>
    public string Describe(string name) => $"key file {PathOf(name)}";

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
        using var content = Read(path, expectedType: null, secretField: null);
        return content.Fields["type"];
    }

    /// <summary>Writes a key (mode 0600, atomic). Refuses to replace an existing key unless <paramref name="overwrite"/>.</summary>
    public void SaveKey(string name, SecretKey key, bool overwrite = false)
    {
        ArgumentNullException.ThrowIfNull(key);
        Write(name, $"{Header}\ntype=key\nalgorithm={key.Algorithm.DisplayName()}\nkcv={key.CheckValue}\n", "key", key.Material, overwrite);
    }

    /// <summary>Removes a key file (a pruned, superseded key); false when there was none.</summary>
    public bool Delete(string name)
    {
        var path = PathOf(name);
        if (!File.Exists(path))
        {
            return false;
        }

        File.Delete(path);
        return true;
    }

    /// <summary>Reads a key after checking the file's permissions and the key's KCV.</summary>
    /// <exception cref="KeyFileRejectedException">Missing, group/other-accessible or malformed file.</exception>
    /// <exception cref="KeyCheckValueMismatchException">The key does not match the KCV recorded beside it.</exception>
    public SecretKey LoadKey(string name) => LoadKeyFile(PathOf(name));

    /// <summary>
    /// Reads the key file at <paramref name="path"/> (any name) with the same checks as <see cref="LoadKey"/>: the file
    /// and its directory not group/other-accessible, the format, the KCV. For a single key kept outside a store, such as
    /// the host's key-encryption key.
    /// </summary>
    /// <exception cref="KeyFileRejectedException">Missing, group/other-accessible or malformed file.</exception>
    /// <exception cref="KeyCheckValueMismatchException">The key does not match the KCV recorded beside it.</exception>
    public static SecretKey LoadKeyFile(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        path = Path.GetFullPath(path);
        using var content = Read(path, "key", "key");
        var algorithm = Parse(content.Fields, "algorithm", path, KeyAlgorithms.Parse);
        var kcv = Parse(content.Fields, "kcv", path, KeyCheckValue.Parse);
        SecretKey key;
        try
        {
            key = SecretKey.Create(algorithm, content.Secret, keyName: $"Key file {path}");
        }
        catch (InvalidKeyException ex)
        {
            throw new KeyFileRejectedException($"Key file {path}: 'key' is invalid: {ex.Message}");
        }

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
            Write(name, $"{Header}\ntype=dukpt-device\n", "state", state, overwrite: true);
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
        using var content = Read(path, "dukpt-device", "state");
        try
        {
            return DukptDevice.ImportState(content.Secret);
        }
        catch (MalformedDataException ex)
        {
            throw new KeyFileRejectedException($"Key file {path}: {ex.Message}");
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

        // A file at 0600 in a directory others can write can be swapped for one of theirs: the directory is part of the check.
        CheckDirectoryPermissions(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static void CheckDirectoryPermissions(string directory)
    {
        var directoryMode = File.GetUnixFileMode(directory);
        if ((directoryMode & GroupOrOther) != 0)
        {
            throw new KeyFileRejectedException(
                $"Key directory {directory} is accessible by group or others (mode {Convert.ToString((int)directoryMode, 8).PadLeft(4, '0')}); it must be 0700. Fix: chmod 700 {directory}");
        }
    }

    /// <summary>The path only.</summary>
    public override string ToString() => $"Key store {Directory}";

    /// <summary>Returns <paramref name="name"/> when it is a valid key name (letters, digits, '-', '_', '.'; not starting with '.'), the rule of every vault.</summary>
    /// <exception cref="ArgumentException">Any other name.</exception>
    public static string ValidateName(string name)
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

    private void Write(string name, string publicLines, string secretField, ReadOnlySpan<byte> secret, bool overwrite)
    {
        var path = PathOf(name);
        if (!overwrite && File.Exists(path))
        {
            throw new KeyFileRejectedException($"Key file {path} already exists; refusing to replace it (remove it first or pass --force).");
        }

        var temp = Path.Combine(Directory, $".{name}.{Guid.NewGuid():N}.tmp");
        // Built as bytes (not a string) so that the hex of the secret can be wiped afterwards.
        var prefix = Encoding.ASCII.GetBytes($"{publicLines}{secretField}=");
        var bytes = new byte[prefix.Length + (secret.Length * 2) + 1];
        try
        {
            prefix.CopyTo(bytes, 0);
            for (var i = 0; i < secret.Length; i++)
            {
                bytes[prefix.Length + (2 * i)] = HexDigit(secret[i] >> 4);
                bytes[prefix.Length + (2 * i) + 1] = HexDigit(secret[i] & 0xF);
            }

            bytes[^1] = (byte)'\n';
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

    private static byte HexDigit(int nibble) => (byte)(nibble < 10 ? '0' + nibble : 'A' + nibble - 10);

    private static int HexValue(byte c) => c switch
    {
        >= (byte)'0' and <= (byte)'9' => c - '0',
        >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
        >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
        _ => -1,
    };

    private static KeyFileContent Read(string path, string? expectedType, string? secretField)
    {
        CheckPermissions(path);
        var raw = File.ReadAllBytes(path);
        var content = new KeyFileContent();
        try
        {
            var lineNumber = 0;
            var start = 0;
            while (start < raw.Length)
            {
                var end = Array.IndexOf(raw, (byte)'\n', start);
                if (end < 0)
                {
                    end = raw.Length;
                }

                lineNumber++;
                var line = raw.AsSpan(start, end - start).Trim(" \r\t"u8);
                start = end + 1;
                if (line.IsEmpty || line[0] == (byte)'#')
                {
                    continue;
                }

                var eq = line.IndexOf((byte)'=');
                if (eq <= 0)
                {
                    throw new KeyFileRejectedException($"Key file {path}: line {lineNumber} is not 'name=value'.");
                }

                var fieldName = Encoding.ASCII.GetString(line[..eq]);
                var value = line[(eq + 1)..];
                if (fieldName == secretField)
                {
                    content.Secret = DecodeSecretHex(value, path, fieldName);
                }
                else if (fieldName is not ("key" or "state"))
                {
                    content.Fields[fieldName] = Encoding.ASCII.GetString(value);
                }
            }

            if (!content.Fields.TryGetValue("type", out var type) || (expectedType is not null && type != expectedType))
            {
                throw new KeyFileRejectedException($"Key file {path}: type is '{type ?? "missing"}', expected '{expectedType ?? "key or dukpt-device"}'.");
            }

            if (secretField is not null && content.Secret is null)
            {
                throw new KeyFileRejectedException($"Key file {path}: '{secretField}=' line is missing.");
            }

            return content;
        }
        catch
        {
            content.Dispose();
            throw;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(raw);
        }
    }

    private static byte[] DecodeSecretHex(ReadOnlySpan<byte> hex, string path, string field)
    {
        if (hex.Length % 2 != 0)
        {
            throw new KeyFileRejectedException($"Key file {path}: '{field}' has an odd number of hex digits.");
        }

        var bytes = new byte[hex.Length / 2];
        for (var i = 0; i < bytes.Length; i++)
        {
            var high = HexValue(hex[2 * i]);
            var low = HexValue(hex[(2 * i) + 1]);
            if (high < 0 || low < 0)
            {
                CryptographicOperations.ZeroMemory(bytes);
                throw new KeyFileRejectedException($"Key file {path}: '{field}' character {(2 * i) + 1} is not a hex digit.");
            }

            bytes[i] = (byte)((high << 4) | low);
        }

        return bytes;
    }

    private sealed class KeyFileContent : IDisposable
    {
        public Dictionary<string, string> Fields { get; } = new(StringComparer.Ordinal);

        public byte[]? Secret { get; set; }

        public void Dispose()
        {
            if (Secret is not null)
            {
                CryptographicOperations.ZeroMemory(Secret);
            }
        }
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
