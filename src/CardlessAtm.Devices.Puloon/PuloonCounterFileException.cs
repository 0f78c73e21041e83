namespace CardlessAtm.Devices.Puloon;

/// <summary>A Puloon driver's counter file cannot be read (torn, corrupt, or of an unknown format). It is never reset silently.</summary>
public sealed class PuloonCounterFileException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="model">The dispenser model, e.g. <c>LCDM-2000</c>.</param>
    /// <param name="path">The counter file.</param>
    /// <param name="problem">What is wrong with it.</param>
    /// <param name="inner">The underlying error, if any.</param>
    public PuloonCounterFileException(string model, string path, string problem, Exception? inner = null)
        : base($"The {model} counter file {path} cannot be used: {problem}. It is not reset automatically: the counters are what "
            + "recovery after a crash relies on. Settle the last dispense by the cash count, then move the file aside to start from zero.", inner)
    {
        Path = path;
    }

    /// <summary>Creates the exception.</summary>
    public PuloonCounterFileException()
    {
        Path = "";
    }

    /// <summary>Creates the exception.</summary>
    public PuloonCounterFileException(string message)
        : base(message)
    {
        Path = "";
    }

    /// <summary>Creates the exception.</summary>
    public PuloonCounterFileException(string message, Exception innerException)
        : base(message, innerException)
    {
        Path = "";
    }

    /// <summary>The counter file.</summary>
    public string Path { get; }
}
