using System.Collections;

namespace CardlessAtm.Terminal.Journal;

/// <summary>A journal line that could not be read as an entry and was skipped (it stays in the file for the auditor).</summary>
/// <param name="Path">The journal file (segment) that holds it.</param>
/// <param name="LineNumber">Its line number in that file, from 1.</param>
/// <param name="Reason">Why it was skipped (never its content).</param>
/// <param name="Torn">True when the line is the file's last and has no end: a crash cut it short while it was written.</param>
public sealed record SkippedJournalLine(string Path, int LineNumber, string Reason, bool Torn)
{
    /// <summary><c>path:line: reason</c>, as the <c>terminal journal --check</c> command prints it.</summary>
    public override string ToString() => $"{Path}:{LineNumber}: {Reason}";
}

/// <summary>
/// What a journal read found: the entries in order, and the lines it skipped. It is itself the list of
/// entries, so code that only wants the entries can use it as one.
/// </summary>
public sealed class JournalReadResult : IReadOnlyList<JournalEntry>
{
    /// <summary>Creates a result.</summary>
    public JournalReadResult(IReadOnlyList<JournalEntry> entries, IReadOnlyList<SkippedJournalLine> skipped, IReadOnlyList<string> files)
    {
        Entries = entries;
        Skipped = skipped;
        Files = files;
    }

    /// <summary>Nothing read.</summary>
    public static JournalReadResult Empty { get; } = new([], [], []);

    /// <summary>The entries, in file order.</summary>
    public IReadOnlyList<JournalEntry> Entries { get; }

    /// <summary>The lines that were not entries (torn or corrupt), in file order.</summary>
    public IReadOnlyList<SkippedJournalLine> Skipped { get; }

    /// <summary>The files that were read, oldest first.</summary>
    public IReadOnlyList<string> Files { get; }

    /// <inheritdoc />
    public int Count => Entries.Count;

    /// <inheritdoc />
    public JournalEntry this[int index] => Entries[index];

    /// <inheritdoc />
    public IEnumerator<JournalEntry> GetEnumerator() => Entries.GetEnumerator();

    /// <inheritdoc />
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
