namespace CardlessAtm.Devices.RaspberryPi.Display;

/// <summary>The TFT's id read over MISO is not its controller's: nothing, or something else, is on that bus and chip select.</summary>
public sealed class DisplayNotAnsweringException : IOException
{
    /// <summary>Creates the exception with what was read back.</summary>
    public DisplayNotAnsweringException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with what was read back and its cause.</summary>
    public DisplayNotAnsweringException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with no message.</summary>
    public DisplayNotAnsweringException()
    {
    }
}
