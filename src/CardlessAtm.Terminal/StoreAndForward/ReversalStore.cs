using System.Text.Json;
using System.Text.Json.Serialization;

namespace CardlessAtm.Terminal.StoreAndForward;

/// <summary>Where a reversal stands in its lifecycle.</summary>
public enum ReversalStatus
{
    /// <summary>Waiting to be sent, or to be repeated after its backoff.</summary>
    Pending,

    /// <summary>
    /// The host refused it with a code that repeating cannot fix (e.g. 12 the ATM is blocked, 30 format error).
    /// It stays on disk and is not sent again until an operator runs <c>cardless-atm terminal saf retry ID</c>.
    /// </summary>
    NeedsOperator,
}

/// <summary>
/// A reversal the host must receive: it undoes an approved withdrawal in full, or in part when only some
/// notes reached the customer. Everything needed to build the 0420/0421 is here, so it survives restarts.
/// </summary>
/// <param name="Id">Unique id (the original STAN and transmission time).</param>
/// <param name="OriginalStan">Field 11 of the approved 0200.</param>
/// <param name="OriginalTransmission">Field 7 of the approved 0200 (MMDDhhmmss).</param>
/// <param name="RetrievalReference">Field 37 of the approved 0200.</param>
/// <param name="AmountMinor">The approved amount (field 4).</param>
/// <param name="DispensedMinor">What surely reached the customer (field 95); 0 for a full reversal.</param>
/// <param name="CurrencyNumeric">Field 49.</param>
/// <param name="Reason">Why, in words (journal text: jam, timeout, cancelled, unverifiable approval, recovery…).</param>
/// <param name="Session">The withdrawal session, for the journal and logs.</param>
/// <param name="QueuedAt">When it was queued.</param>
/// <param name="Attempts">How many times it was sent so far.</param>
public sealed record PendingReversal(
    string Id,
    int OriginalStan,
    string OriginalTransmission,
    string RetrievalReference,
    long AmountMinor,
    long DispensedMinor,
    int CurrencyNumeric,
    string Reason,
    string? Session,
    DateTimeOffset QueuedAt,
    int Attempts = 0)
{
    /// <summary>Field 39 of the 0420: <see cref="Iso8583.ReversalReasons"/>; 22 marks the amount beyond 95 as suspect.</summary>
    public string ReasonCode { get; init; } = Iso8583.ReversalReasons.Timeout;

    /// <summary>Field 11 of the 0420, kept for every 0421 repeat; 0 until the first send.</summary>
    public int AdviceStan { get; init; }

    /// <summary>Pending, or waiting for an operator.</summary>
    public ReversalStatus Status { get; init; } = ReversalStatus.Pending;

    /// <summary>The host's last field 39 for it (or "none" when it did not answer), null before the first send.</summary>
    public string? LastResponse { get; init; }

    /// <summary>Why the last attempt did not complete it, in words.</summary>
    public string? LastProblem { get; init; }

    /// <summary>When it may be sent next (null: at once).</summary>
    public DateTimeOffset? NextAttemptAt { get; init; }

    /// <summary>Whether some notes were presented (a partial reversal, field 95 carries them).</summary>
    public bool IsPartial => DispensedMinor > 0;
}

/// <summary>
/// The store-and-forward queue of reversals on disk: one file per reversal, written atomically and durably
/// (temporary file, fsync, rename, fsync of the directory) before anything else records it, removed only when
/// the host has acknowledged it with an authentic 0430 carrying 00.
/// </summary>
public sealed class ReversalStore
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };
    private readonly Lock _gate = new();

    /// <summary>Opens the queue in a directory (created if missing).</summary>
    public ReversalStore(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        Directory = System.IO.Path.GetFullPath(directory);
        System.IO.Directory.CreateDirectory(Directory);
    }

    /// <summary>The queue's directory.</summary>
    public string Directory { get; }

    /// <summary>Raised after the queue's depth changed.</summary>
    public event Action<int>? DepthChanged;

    /// <summary>Reversals waiting for an 0430 with 00, oldest first.</summary>
    /// <exception cref="ReversalStoreException">A file of the queue cannot be read (the message names it).</exception>
    public IReadOnlyList<PendingReversal> Pending
    {
        get
        {
            var (reversals, unreadable) = ReadAll();
            if (unreadable.Count > 0)
            {
                throw new ReversalStoreException(unreadable);
            }

            return reversals;
        }
    }

    /// <summary>Number of reversals waiting (readable or not: an unreadable file is still money owed).</summary>
    public int Depth => System.IO.Directory.EnumerateFiles(Directory, "*.json").Count();

    /// <summary>
    /// Every reversal that can be read, oldest first, and every file that cannot (path and reason). Such a file is
    /// never deleted or skipped silently: <see cref="Pending"/> refuses to work around it.
    /// </summary>
    public (IReadOnlyList<PendingReversal> Reversals, IReadOnlyList<string> Unreadable) ReadAll()
    {
        lock (_gate)
        {
            var reversals = new List<PendingReversal>();
            var unreadable = new List<string>();
            foreach (var path in System.IO.Directory.EnumerateFiles(Directory, "*.json"))
            {
                try
                {
                    if (JsonSerializer.Deserialize<PendingReversal>(File.ReadAllText(path), Json) is { } reversal
                        && System.IO.Path.GetFileNameWithoutExtension(path) == reversal.Id)
                    {
                        reversals.Add(reversal);
                    }
                    else
                    {
                        unreadable.Add($"{path}: not a reversal of this queue (empty, or its id differs from the file name)");
                    }
                }
                catch (JsonException e)
                {
                    unreadable.Add($"{path}: line {(e.LineNumber ?? 0) + 1}: {e.Message}");
                }
                catch (IOException e)
                {
                    unreadable.Add($"{path}: {e.Message}");
                }
            }

            return ([.. reversals.OrderBy(r => r.QueuedAt).ThenBy(r => r.Id, StringComparer.Ordinal)], unreadable);
        }
    }

    /// <summary>The reversal with this id, or null.</summary>
    public PendingReversal? Find(string id) => ReadAll().Reversals.FirstOrDefault(r => r.Id == id);

    /// <summary>Whether a file for this id is on disk.</summary>
    public bool Contains(string id) => File.Exists(PathOf(id));

    /// <summary>Adds (or replaces, e.g. to count an attempt) a reversal durably: when this returns, a power cut cannot lose it.</summary>
    public void Save(PendingReversal reversal)
    {
        ArgumentNullException.ThrowIfNull(reversal);
        lock (_gate)
        {
            var path = PathOf(reversal.Id); // a bad id is refused before anything on disk changes
            using var exclusive = LockDirectory();
            DurableFile.WriteAllBytes(path, JsonSerializer.SerializeToUtf8Bytes(reversal, Json));
        }

        DepthChanged?.Invoke(Depth);
    }

    /// <summary>
    /// Reads, changes and saves one reversal as one step, also against another process (an operator's
    /// <c>saf retry</c> beside the running terminal). False when no readable reversal has this id (e.g. it was just acknowledged).
    /// </summary>
    public bool Update(string id, Func<PendingReversal, PendingReversal> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        lock (_gate)
        {
            var path = PathOf(id);
            using var exclusive = LockDirectory();
            PendingReversal? current;
            try
            {
                current = File.Exists(path) ? JsonSerializer.Deserialize<PendingReversal>(File.ReadAllText(path), Json) : null;
            }
            catch (JsonException)
            {
                current = null;
            }

            if (current is null || current.Id != id)
            {
                return false;
            }

            DurableFile.WriteAllBytes(path, JsonSerializer.SerializeToUtf8Bytes(change(current), Json));
        }

        DepthChanged?.Invoke(Depth);
        return true;
    }

    /// <summary>Removes a reversal the host acknowledged (durably: a power cut after this cannot bring it back).</summary>
    public void Complete(string id)
    {
        lock (_gate)
        {
            var path = PathOf(id);
            using var exclusive = LockDirectory();
            File.Delete(path);
            DurableFile.FlushDirectory(Directory);
        }

        DepthChanged?.Invoke(Depth);
    }

    /// <summary>
    /// An exclusive lock on the queue across processes (<c>.lock</c> in the directory, held open without sharing;
    /// .NET takes an advisory lock on it on Unix), waited for up to 5 s.
    /// </summary>
    private FileStream LockDirectory()
    {
        var path = System.IO.Path.Combine(Directory, ".lock");
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (attempt < 250)
            {
                Thread.Sleep(20);
            }
        }
    }

    private string PathOf(string id)
    {
        if (id.Length == 0 || id.Any(c => !char.IsAsciiLetterOrDigit(c) && c != '-'))
        {
            throw new ArgumentException($"'{id}' is not a reversal id (letters, digits and '-').", nameof(id));
        }

        return System.IO.Path.Combine(Directory, id + ".json");
    }
}

/// <summary>A file of the reversal queue cannot be read; the message names each one. Nothing was changed.</summary>
public sealed class ReversalStoreException(IReadOnlyList<string> unreadable)
    : IOException($"The reversal queue has {unreadable.Count} unreadable file(s), which may be money owed to customers; repair or move them aside by hand: {string.Join("; ", unreadable)}")
{
    /// <summary>Each unreadable file with the reason.</summary>
    public IReadOnlyList<string> Unreadable { get; } = unreadable;
}
