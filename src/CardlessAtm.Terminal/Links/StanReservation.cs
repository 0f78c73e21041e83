using System.Globalization;
using System.Text;
using CardlessAtm.Iso8583;

namespace CardlessAtm.Terminal.Links;

/// <summary>
/// Keeps the terminal's STANs unique across restarts: the last STAN that may be issued is reserved on disk
/// (durably) a block at a time, and a restart continues after the reservation. So an answer to a request of
/// an earlier run can never carry the STAN of a request of this one; a STAN comes round again only after
/// 999,999 others.
/// </summary>
public static class StanReservation
{
    /// <summary>STANs reserved per disk write.</summary>
    public const int BlockSize = 1_000;

    /// <summary>Opens (or starts) the reservation file and returns the STAN source that extends it as it goes.</summary>
    /// <exception cref="StanFileException">The file exists but does not hold a STAN (the message names it).</exception>
    public static StanGenerator Open(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var full = Path.GetFullPath(path);
        var reservedThrough = Read(full);
        return new StanGenerator(reservedThrough, stan =>
        {
            if (stan == StanGenerator.After(reservedThrough))
            {
                var through = ((stan - 1 + BlockSize - 1) % 999_999) + 1;
                DurableFile.WriteAllBytes(full, Encoding.ASCII.GetBytes(through.ToString("D6", CultureInfo.InvariantCulture) + "\n"));
                reservedThrough = through;
            }
        });
    }

    /// <summary>The last STAN reserved in <paramref name="path"/>; 0 when there is no file yet.</summary>
    /// <exception cref="StanFileException">The file does not hold a STAN.</exception>
    public static int Read(string path)
    {
        if (!File.Exists(path))
        {
            return 0;
        }

        var text = File.ReadAllText(path).Trim();
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var stan) || stan is < 1 or > 999_999)
        {
            throw new StanFileException(path, text);
        }

        return stan;
    }
}

/// <summary>The STAN reservation file is not a STAN; guessing could reuse STANs, so the terminal does not start.</summary>
public sealed class StanFileException(string path, string content)
    : IOException($"{path} must hold the last reserved STAN (1–999999), but holds '{(content.Length > 16 ? content[..16] + "…" : content)}'. Restore it from a backup, or set it above the last STAN in the journal.")
{
    /// <summary>The file.</summary>
    public string FilePath { get; } = path;
}
