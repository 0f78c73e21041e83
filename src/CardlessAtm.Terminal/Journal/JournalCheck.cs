namespace CardlessAtm.Terminal.Journal;

/// <summary><c>cardless-atm terminal journal --check</c>: lists the journal's torn or corrupt lines.</summary>
public static class JournalCheck
{
    /// <summary>Exit code when every line is an entry.</summary>
    public const int Clean = 0;

    /// <summary>Exit code when some line is not (torn or corrupt).</summary>
    public const int BadLines = 2;

    /// <summary>
    /// Reads the journal at <paramref name="path"/> and writes one <c>path:line: reason</c> line per skipped
    /// line, then a summary; returns <see cref="Clean"/> or <see cref="BadLines"/>. The files are only read.
    /// </summary>
    public static int Run(string path, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var result = ElectronicJournal.ReadAll(path);
        foreach (var line in result.Skipped)
        {
            output.WriteLine(line.ToString());
        }

        output.WriteLine(result.Skipped.Count == 0
            ? $"Journal clean: {result.Count} entries in {result.Files.Count} file(s)."
            : $"Journal has {result.Skipped.Count} line(s) that are not entries (left in place for audit); {result.Count} entries in {result.Files.Count} file(s).");
        return result.Skipped.Count == 0 ? Clean : BadLines;
    }
}
