using System.Security.Cryptography;
using CardlessAtm.Security;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Phone.Enrolment;

/// <summary>
/// The phone's enrolment: its DUKPT device state (the future keys and the next KSN) in one key file written by
/// the security module's <see cref="FileKeyStore"/> (<c>type=dukpt-device</c>, mode 0600, replaced atomically).
/// The file's name must end in <c>.key</c>, e.g. <c>~/.config/cardless-atm/phone-dukpt.key</c>.
/// <para>
/// Every request takes the next KSN, and the advanced state is written to disk before the request may be sent
/// (<see cref="TakeNextTransaction"/>), under an exclusive lock file beside the enrolment file, so neither a
/// restart nor a second process ever reuses a DUKPT key.
/// </para>
/// </summary>
public sealed class PhoneEnrolment
{
    /// <summary>The file name extension <see cref="FileKeyStore"/> gives key files.</summary>
    public const string FileExtension = ".key";

    private readonly FileKeyStore? _store;
    private readonly string _name;
    private readonly ILogger _log;
    private readonly Lock _memoryGate = new();
    private byte[]? _memoryState;

    private PhoneEnrolment(string path, ILogger? logger)
    {
        Path = System.IO.Path.GetFullPath(path);
        var directory = System.IO.Path.GetDirectoryName(Path) ?? throw Invalid(Path, "the path has no directory.");
        _name = System.IO.Path.GetFileNameWithoutExtension(Path);
        _store = new FileKeyStore(directory);
        _log = logger ?? NullLogger.Instance;
    }

    private PhoneEnrolment(byte[] state, ILogger? logger)
    {
        Path = "(in memory)";
        _name = "in-memory";
        _memoryState = state;
        _log = logger ?? NullLogger.Instance;
    }

    /// <summary>The enrolment file (absolute), or <c>(in memory)</c>.</summary>
    public string Path { get; }

    /// <summary>True for an enrolment made by <see cref="CreateInMemory"/>.</summary>
    public bool IsInMemory => _store is null;

    private string Where => $"enrolment file {Path}";

    /// <summary>
    /// Enrols the phone: loads the DUKPT initial key the host issued for it (with its initial KSN, counter 0) into
    /// a new device and writes its state to <paramref name="path"/> (mode 0600). The initial key itself is not kept.
    /// </summary>
    /// <param name="path">The enrolment file to write; must end in <c>.key</c>.</param>
    /// <param name="profile">The security profile (AES or TDES DUKPT) the network runs.</param>
    /// <param name="initialKey">The initial key from the host's enrolment; the caller still owns and disposes it.</param>
    /// <param name="initialKsn">The initial KSN from the host's enrolment.</param>
    /// <param name="overwrite">Replace an existing enrolment (its remaining keys are lost).</param>
    /// <param name="logger">Logs the device id (never a key).</param>
    /// <exception cref="PhoneInputException">Bad path, a directory group or others can access, existing file without <paramref name="overwrite"/>, or a key/KSN that does not suit the profile.</exception>
    public static PhoneEnrolment Create(string path, ISecurityProfile profile, SecretKey initialKey, KeySerialNumber initialKsn, bool overwrite = false, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(initialKey);
        ArgumentNullException.ThrowIfNull(initialKsn);
        var enrolment = new PhoneEnrolment(RequireKeyPath(path), logger);
        DukptDevice device;
        try
        {
            device = profile.LoadPhoneDevice(initialKey, initialKsn);
        }
        catch (SecurityException ex)
        {
            throw new PhoneInputException(PhoneInputError.EnrolmentInvalid, "initial key / KSN", $"cannot enrol under the {profile.Kind} profile: {ex.Message}", ex);
        }

        using (device)
        {
            if (!overwrite && File.Exists(enrolment.Path))
            {
                throw new PhoneInputException(PhoneInputError.InvalidSetting, enrolment.Where, "the phone is already enrolled here; refusing to replace it (its unused keys would be lost). Use another file or overwrite explicitly.");
            }

            try
            {
                // Refused now rather than at the first withdrawal, when the phone could no longer load what it saved.
                FileKeyStore.CreatePrivateDirectory(System.IO.Path.GetDirectoryName(enrolment.Path)!);
            }
            catch (KeyFileRejectedException ex)
            {
                throw new PhoneInputException(PhoneInputError.EnrolmentInsecure, enrolment.Where, $"cannot keep the phone's DUKPT keys here: {ex.Message}", ex);
            }

            using var guard = enrolment.Lock();
            enrolment.Save(device);
            enrolment._log.LogInformation("Phone enrolled as DUKPT device {DeviceId} ({Kind}) in {File}.", device.InitialKeyId, device.Kind, enrolment.Path);
        }

        return enrolment;
    }

    /// <summary>
    /// An enrolment that lives only in this object: for load generators, simulations and tests that run many phones
    /// in one process. Nothing is written to disk, so a restart loses the state and would reuse keys: never use it for
    /// a real phone. Thread-safe; requests on one instance take KSNs one after another.
    /// </summary>
    /// <exception cref="PhoneInputException">A key or KSN that does not suit the profile.</exception>
    public static PhoneEnrolment CreateInMemory(ISecurityProfile profile, SecretKey initialKey, KeySerialNumber initialKsn, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(initialKey);
        ArgumentNullException.ThrowIfNull(initialKsn);
        try
        {
            using var device = profile.LoadPhoneDevice(initialKey, initialKsn);
            return new PhoneEnrolment(device.ExportState(), logger);
        }
        catch (SecurityException ex)
        {
            throw new PhoneInputException(PhoneInputError.EnrolmentInvalid, "initial key / KSN", $"cannot enrol under the {profile.Kind} profile: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Opens an existing enrolment and checks it: the file exists, only its owner can access it, it holds a DUKPT
    /// device of the profile's kind with keys left.
    /// </summary>
    /// <exception cref="PhoneInputException">Missing, group/world-accessible, malformed, other profile or exhausted.</exception>
    public static PhoneEnrolment Open(string path, ISecurityProfile profile, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(profile);
        RequireKeyPath(path);
        if (!File.Exists(path))
        {
            // Checked before the key store is opened, which would create a missing directory.
            throw new PhoneInputException(PhoneInputError.EnrolmentMissing, $"enrolment file {System.IO.Path.GetFullPath(path)}", "the file does not exist; enrol the phone at the host first (cardless-atm host phones enroll -a ACCOUNT --export-to DIR).");
        }

        var enrolment = new PhoneEnrolment(path, logger);
        var status = enrolment.Inspect(profile);
        enrolment._log.LogDebug("Phone enrolment {File}: device {DeviceId}, next KSN {Ksn}.", enrolment.Path, status.DeviceId, status.NextKsn);
        return enrolment;
    }

    /// <summary>Reads the device's identity and next KSN (not secret) after the same checks as <see cref="Open"/>.</summary>
    /// <exception cref="PhoneInputException">As <see cref="Open"/>.</exception>
    public PhoneEnrolmentStatus Inspect(ISecurityProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        using var device = Load(profile);
        return new PhoneEnrolmentStatus(device.InitialKeyId, device.Kind, device.NextKsn!);
    }

    /// <summary>
    /// Takes the phone's next DUKPT transaction: under the enrolment lock, loads the device, hands it to
    /// <paramref name="use"/> (which must take exactly one transaction, e.g. through
    /// <see cref="ISecurityProfile.CreatePhoneProtector"/>), then writes the advanced state to disk. Only when that
    /// write has succeeded is the result returned and may the request be sent.
    /// </summary>
    /// <param name="profile">The security profile.</param>
    /// <param name="use">Builds the request from the device; receives the KSN it will use.</param>
    /// <exception cref="PhoneInputException">The enrolment is missing, insecure, invalid, exhausted or locked by another process.</exception>
    public T TakeNextTransaction<T>(ISecurityProfile profile, Func<DukptDevice, KeySerialNumber, T> use)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(use);
        using var guard = Lock();
        using var device = Load(profile);
        var ksn = device.NextKsn!;
        T result;
        try
        {
            result = use(device, ksn);
        }
        catch (DukptCounterExhaustedException ex)
        {
            throw new PhoneInputException(PhoneInputError.EnrolmentExhausted, Where, ex.Message, ex);
        }

        var advanced = device.NextKsn;
        if (advanced is not null && advanced.TransactionCounter <= ksn.TransactionCounter)
        {
            throw new InvalidOperationException("The request builder did not take a DUKPT transaction; nothing is sent.");
        }

        Save(device);
        _log.LogDebug("Phone DUKPT device {DeviceId}: KSN {Ksn} used, next {Next} saved.", device.InitialKeyId, ksn, advanced?.ToString() ?? "none (exhausted)");
        return result;
    }

    /// <summary>The path only.</summary>
    public override string ToString() => $"Phone enrolment {Path}";

    private static string RequireKeyPath(string path)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            throw new PhoneInputException(PhoneInputError.InvalidSetting, "enrolment file", "no enrolment file was given (--enrolment or Phone:Enrolment).");
        }

        var name = System.IO.Path.GetFileName(path);
        if (!name.EndsWith(FileExtension, StringComparison.Ordinal) || name.Length == FileExtension.Length || name.StartsWith('.'))
        {
            throw new PhoneInputException(PhoneInputError.InvalidSetting, $"enrolment file {path}", $"the file name must end in '{FileExtension}' and not start with '.', e.g. phone-dukpt{FileExtension}.");
        }

        foreach (var c in System.IO.Path.GetFileNameWithoutExtension(name))
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            {
                throw new PhoneInputException(PhoneInputError.InvalidSetting, $"enrolment file {path}", "the file name may contain only letters, digits, '-', '_' and '.'.");
            }
        }

        return path;
    }

    private static PhoneInputException Invalid(string path, string message) =>
        new(PhoneInputError.EnrolmentInvalid, $"enrolment file {path}", message);

    private void Save(DukptDevice device)
    {
        if (_store is not null)
        {
            _store.SaveDukptDevice(_name, device);
            return;
        }

        var old = _memoryState;
        _memoryState = device.ExportState();
        if (old is not null)
        {
            CryptographicOperations.ZeroMemory(old);
        }
    }

    private DukptDevice Load(ISecurityProfile profile) => CheckUsable(_store is null ? LoadFromMemory() : LoadFromFile(_store), profile);

    private DukptDevice LoadFromMemory()
    {
        lock (_memoryGate)
        {
            return DukptDevice.ImportState(_memoryState);
        }
    }

    private DukptDevice LoadFromFile(FileKeyStore store)
    {
        if (!File.Exists(Path))
        {
            throw new PhoneInputException(PhoneInputError.EnrolmentMissing, Where, "the file does not exist; enrol the phone at the host first (cardless-atm host phones enroll -a ACCOUNT --export-to DIR).");
        }

        try
        {
            FileKeyStore.CheckPermissions(Path);
        }
        catch (KeyFileRejectedException ex)
        {
            throw new PhoneInputException(PhoneInputError.EnrolmentInsecure, Where, $"it holds the phone's DUKPT keys and is refused: {ex.Message}", ex);
        }

        DukptDevice device;
        try
        {
            device = store.LoadDukptDevice(_name);
        }
        catch (SecurityException ex)
        {
            throw new PhoneInputException(PhoneInputError.EnrolmentInvalid, Where, $"not a usable phone enrolment: {ex.Message}", ex);
        }
        catch (IOException ex)
        {
            throw new PhoneInputException(PhoneInputError.EnrolmentInvalid, Where, $"cannot be read: {ex.Message}", ex);
        }

        return device;
    }

    private DukptDevice CheckUsable(DukptDevice device, ISecurityProfile profile)
    {
        if (device.Kind != profile.DukptKind)
        {
            device.Dispose();
            throw new PhoneInputException(PhoneInputError.EnrolmentInvalid, Where, $"the phone is enrolled for {device.Kind} DUKPT, but the {profile.Kind} security profile (Security:Profile) uses {profile.DukptKind} DUKPT.");
        }

        if (device.IsExhausted)
        {
            device.Dispose();
            throw new PhoneInputException(PhoneInputError.EnrolmentExhausted, Where, $"DUKPT device {device.InitialKeyId} has used all its keys; re-enrol the phone.");
        }

        return device;
    }

    private IDisposable Lock()
    {
        if (_store is null)
        {
            _memoryGate.Enter();
            return new MemoryLockRelease(_memoryGate);
        }

        var lockPath = Path + ".lock";
        var options = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        // Another process holding the lock is mid-request (milliseconds); wait briefly, then refuse rather than hang.
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return new FileStream(lockPath, options);
            }
            catch (IOException) when (attempt < 50 && File.Exists(lockPath))
            {
                Thread.Sleep(20);
            }
            catch (IOException ex)
            {
                throw new PhoneInputException(PhoneInputError.EnrolmentBusy, Where, $"another process is using this enrolment (lock file {lockPath}): {ex.Message}", ex);
            }
            catch (UnauthorizedAccessException ex)
            {
                throw new PhoneInputException(PhoneInputError.EnrolmentInvalid, Where, $"the lock file {lockPath} cannot be created: {ex.Message}", ex);
            }
        }
    }
}

/// <summary>What an enrolment holds, without its keys.</summary>
/// <param name="DeviceId">The DUKPT initial key id (the host knows the phone by it).</param>
/// <param name="Kind">TDES or AES DUKPT.</param>
/// <param name="NextKsn">The KSN the next request will use.</param>
public sealed record PhoneEnrolmentStatus(string DeviceId, DukptKind Kind, KeySerialNumber NextKsn);

/// <summary>Leaves the in-memory enrolment's lock.</summary>
internal sealed class MemoryLockRelease(Lock gate) : IDisposable
{
    public void Dispose() => gate.Exit();
}
