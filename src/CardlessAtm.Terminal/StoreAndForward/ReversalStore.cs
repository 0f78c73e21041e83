using System.Text.Json;

namespace CardlessAtm.Terminal.StoreAndForward;

/// <summary>
/// A reversal the host must receive: it undoes an approved withdrawal in full, or in part when only some
/// notes reached the customer. Everything needed to build the 0420/0421 is here, so it survives restarts.
/// </summary>
/// <param name="Id">Unique id (the original STAN and transmission time).</param>
/// <param name="OriginalStan">Field 11 of the approved 0200.</param>
/// <param name="OriginalTransmission">Field 7 of the approved 0200 (MMDDhhmmss).</param>
/// <param name="RetrievalReference">Field 37 of the approved 0200.</param>
/// <param name="AmountMinor">The approved amount (field 4).</param>
/// <param name="DispensedMinor">What reached the customer (field 95); 0 for a full reversal.</param>
/// <param name="CurrencyNumeric">Field 49.</param>
/// <param name="Reason">Why (journal text: jam, timeout, cancelled, unverifiable approval, recovery…).</param>
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
    /// <summary>Whether some notes were presented (a partial reversal, field 95 carries them).</summary>
    public bool IsPartial => DispensedMinor > 0;
}

/// <summary>
/// The store-and-forward queue of reversals on disk: one file per reversal, written atomically (temporary
/// file, flush to disk, rename), removed only when the host has acknowledged it with an 0430.
/// </summary>
public sealed class ReversalStore
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };
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

    /// <summary>Reversals waiting for an 0430, oldest first.</summary>
    public IReadOnlyList<PendingReversal> Pending
    {
        get
        {
            lock (_gate)
            {
                return [.. System.IO.Directory.EnumerateFiles(Directory, "*.json")
                    .Select(Read)
                    .OfType<PendingReversal>()
                    .OrderBy(r => r.QueuedAt)
                    .ThenBy(r => r.Id, StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>Number of reversals waiting.</summary>
    public int Depth => System.IO.Directory.EnumerateFiles(Directory, "*.json").Count();

    /// <summary>Adds (or replaces, e.g. to count an attempt) a reversal durably.</summary>
    public void Save(PendingReversal reversal)
    {
        ArgumentNullException.ThrowIfNull(reversal);
        lock (_gate)
        {
            var path = PathOf(reversal.Id);
            var temporary = path + ".tmp";
            using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                JsonSerializer.Serialize(stream, reversal, Json);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, path, overwrite: true);
        }

        DepthChanged?.Invoke(Depth);
    }

    /// <summary>Removes a reversal the host acknowledged.</summary>
    public void Complete(string id)
    {
        lock (_gate)
        {
            File.Delete(PathOf(id));
        }

        DepthChanged?.Invoke(Depth);
    }

    private string PathOf(string id)
    {
        if (id.Length == 0 || id.Any(c => !char.IsAsciiLetterOrDigit(c) && c != '-'))
        {
            throw new ArgumentException($"'{id}' is not a reversal id (letters, digits and '-').", nameof(id));
        }

        return System.IO.Path.Combine(Directory, id + ".json");
    }

    private static PendingReversal? Read(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<PendingReversal>(File.ReadAllText(path), Json);
        }
        catch (Exception e) when (e is JsonException or IOException)
        {
            // A file that cannot be read is left in place for an operator; it is never silently dropped.
            return null;
        }
    }
}
