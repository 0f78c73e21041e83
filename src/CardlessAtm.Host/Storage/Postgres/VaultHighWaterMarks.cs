using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using CardlessAtm.Security;

namespace CardlessAtm.Host.Storage.Postgres;

/// <summary>
/// This host's high-water marks of the database key vault (<c>Host:Keys:HighWaterMarkPath</c>): per key name the highest
/// <c>row_version</c> this host has read or written, in a 0600 file sealed with HMAC-SHA256 under a key derived from the
/// KEK (HKDF-SHA256, label <c>cardless-atm vault-marks v1</c>), so it cannot be edited down without the KEK. A row read
/// below its mark is a row restored from before a re-key or delete: refused with <see cref="KeyRollbackException"/>.
/// Every update re-reads the file and writes the merged marks durably (temporary file, fsync, rename, fsync of the
/// directory) under an in-process lock and an exclusive lock file (<c>path.lock</c>), before the key is used.
/// </summary>
internal sealed class VaultHighWaterMarks : IDisposable
{
    /// <summary>The setting that names the file.</summary>
    public const string Setting = "Host:Keys:HighWaterMarkPath";

    private const string Header = "# cardless-atm vault high-water marks v1: per key name the highest row_version this host has read or written";
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, object> Locks = new(StringComparer.Ordinal);

    private readonly string _path;
    private readonly string _kekKcv;
    private readonly byte[] _macKey;
    private readonly object _lock;

    private VaultHighWaterMarks(string path, SecretKey kek)
    {
        _path = Path.GetFullPath(path);
        _kekKcv = kek.CheckValue.ToString();
        _macKey = kek.Use(bytes => HKDF.DeriveKey(HashAlgorithmName.SHA256, bytes.ToArray(), 32, salt: [], info: Encoding.ASCII.GetBytes("cardless-atm vault-marks v1")));
        _lock = Locks.GetOrAdd(_path, _ => new object());
    }

    /// <summary>The default: <c>vault-marks</c> beside the KEK file, so each copy of the KEK (each host) has its own.</summary>
    public static string DefaultPathFor(string kekPath) => Path.Combine(Path.GetDirectoryName(Path.GetFullPath(kekPath))!, "vault-marks");

    /// <summary>Opens (creating it empty when missing) and verifies the file.</summary>
    /// <exception cref="ConfigurationException">Too open, malformed or its MAC does not verify; names <see cref="Setting"/>.</exception>
    public static VaultHighWaterMarks Open(string path, SecretKey kek)
    {
        var marks = new VaultHighWaterMarks(path, kek);
        try
        {
            marks.Update(_ => { }, writeAlways: !File.Exists(marks._path));
            return marks;
        }
        catch
        {
            marks.Dispose();
            throw;
        }
    }

    /// <summary>The mark of <paramref name="name"/> (0 when none).</summary>
    public long MarkOf(string name)
    {
        lock (_lock)
        {
            return Read().GetValueOrDefault(name);
        }
    }

    /// <summary>
    /// Refuses a row below its mark, else records a higher version durably before returning (so before the key is used).
    /// </summary>
    /// <exception cref="KeyRollbackException">A row below its mark; nothing is written.</exception>
    public void Observe(IReadOnlyCollection<(string Name, long Version)> rows)
    {
        Update(marks =>
        {
            foreach (var (name, version) in rows)
            {
                var mark = marks.GetValueOrDefault(name);
                if (version < mark)
                {
                    throw new KeyRollbackException(name, version, mark);
                }
            }

            foreach (var (name, version) in rows)
            {
                marks[name] = Math.Max(version, marks.GetValueOrDefault(name));
            }
        });
    }

    /// <summary>Drops the marks of <paramref name="names"/> (session key versions pruned for good: their names are never reused).</summary>
    public void Forget(IReadOnlyCollection<string> names)
    {
        if (names.Count > 0)
        {
            Update(marks =>
            {
                foreach (var name in names)
                {
                    marks.Remove(name);
                }
            });
        }
    }

    public void Dispose() => CryptographicOperations.ZeroMemory(_macKey);

    private void Update(Action<Dictionary<string, long>> change, bool writeAlways = false)
    {
        lock (_lock)
        {
            using var fileLock = LockFile();
            var marks = Read();
            var before = Serialize(marks);
            change(marks);
            var after = Serialize(marks);
            if (writeAlways || !string.Equals(before, after, StringComparison.Ordinal))
            {
                Write(after);
            }
        }
    }

    private FileStream LockFile()
    {
        var directory = Path.GetDirectoryName(_path)!;
        if (!Directory.Exists(directory))
        {
            FileKeyStore.CreatePrivateDirectory(directory);
        }

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                // FileShare.None takes an exclusive advisory lock on Unix: one writer of the file across processes.
                var options = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None };
                if (!OperatingSystem.IsWindows())
                {
                    options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
                }

                return new FileStream(_path + ".lock", options);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(10);
            }
        }
    }

    private Dictionary<string, long> Read()
    {
        var marks = new Dictionary<string, long>(StringComparer.Ordinal);
        if (!File.Exists(_path))
        {
            return marks;
        }

        try
        {
            FileKeyStore.CheckPermissions(_path);
        }
        catch (SecurityException ex)
        {
            throw new ConfigurationException(Setting, ex.Message.TrimEnd('.'));
        }

        var lines = File.ReadAllText(_path, Encoding.UTF8).Split('\n');
        if (lines.Length < 4 || lines[^1].Length != 0 || lines[0] != Header)
        {
            throw Malformed(1, $"is not a vault high-water mark file (expected the line '{Header}')");
        }

        if (!lines[1].StartsWith("kek ", StringComparison.Ordinal))
        {
            throw Malformed(2, "is not 'kek <KCV>'");
        }

        if (!string.Equals(lines[1][4..], _kekKcv, StringComparison.OrdinalIgnoreCase))
        {
            // Sealed under another KEK: the file predates a KEK rotation ('host keys rewrap'), and every row written before
            // the rotation fails authentication under the new KEK anyway; the marks start again from this host's reads.
            return marks;
        }

        var macLine = lines[^2];
        var body = string.Join('\n', lines[..^2]) + "\n";
        if (!macLine.StartsWith("mac ", StringComparison.Ordinal) || !TryHex(macLine[4..], out var mac))
        {
            throw Malformed(lines.Length - 1, "is not 'mac <HMAC-SHA256 hex>'");
        }

        for (var i = 2; i < lines.Length - 2; i++)
        {
            var parts = lines[i].Split(' ');
            if (parts.Length != 3 || parts[0] != "mark" || !long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var version) || version < 1 || !marks.TryAdd(parts[1], version))
            {
                throw Malformed(i + 1, "is not 'mark <key name> <row version>'");
            }
        }

        if (!CryptographicOperations.FixedTimeEquals(mac, HMACSHA256.HashData(_macKey, Encoding.UTF8.GetBytes(body))))
        {
            throw new ConfigurationException(Setting, $"{_path} fails its MAC under the key-encryption key (edited, or from another host); refusing it. Restore this host's own file");
        }

        return marks;
    }

    private string Serialize(Dictionary<string, long> marks)
    {
        var body = new StringBuilder().Append(Header).Append('\n').Append("kek ").Append(_kekKcv).Append('\n');
        foreach (var (name, version) in marks.OrderBy(m => m.Key, StringComparer.Ordinal))
        {
            body.Append(CultureInfo.InvariantCulture, $"mark {name} {version}\n");
        }

        var text = body.ToString();
        return text + "mac " + Convert.ToHexString(HMACSHA256.HashData(_macKey, Encoding.UTF8.GetBytes(text))) + "\n";
    }

    private void Write(string content) => DurableFile.WriteAllBytes(_path, Encoding.UTF8.GetBytes(content));

    private ConfigurationException Malformed(int line, string problem) => new(Setting, $"{_path}: line {line} {problem}");

    private static bool TryHex(string hex, out byte[] bytes)
    {
        try
        {
            bytes = Convert.FromHexString(hex);
            return bytes.Length == 32;
        }
        catch (FormatException)
        {
            bytes = [];
            return false;
        }
    }
}
