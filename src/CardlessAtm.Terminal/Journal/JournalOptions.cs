namespace CardlessAtm.Terminal.Journal;

/// <summary>How the journal rotates and how long it keeps closed segments.</summary>
public sealed record JournalOptions
{
    /// <summary>A segment is closed before an entry would take it past this size (and at every UTC midnight).</summary>
    public long MaxSegmentBytes { get; init; } = 16 * 1024 * 1024;

    /// <summary>
    /// Closed segments whose UTC day is more than this many days ago are deleted — never one that holds a
    /// withdrawal that is not finished, nor any segment after it.
    /// </summary>
    public int RetentionDays { get; init; } = 90;
}
