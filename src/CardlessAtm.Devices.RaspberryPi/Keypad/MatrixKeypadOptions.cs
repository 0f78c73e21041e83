namespace CardlessAtm.Devices.RaspberryPi.Keypad;

/// <summary>
/// Settings of a membrane matrix keypad (e.g. <c>Devices:Keypad:Matrix</c>). Rows are driven one
/// at a time by the scanner, columns are read with pull-downs. <see cref="KeyMap"/> has one string
/// per row with the key names of its columns separated by spaces, <c>-</c> for a position without a key.
/// <see cref="MatrixKeypadOptionsValidator"/> checks them; <see cref="MatrixKeyMap"/> parses the key map.
/// </summary>
public sealed class MatrixKeypadOptions
{
    /// <summary>BCM pins of the rows (scanner outputs), top row first. Default: the common 4×4 wiring on GPIO 5, 6, 13, 19.</summary>
    public int[] RowPins { get; set; } = [5, 6, 13, 19];

    /// <summary>BCM pins of the columns (scanner inputs), left column first. Default: GPIO 12, 16, 20, 21.</summary>
    public int[] ColumnPins { get; set; } = [12, 16, 20, 21];

    /// <summary>The key at each position, one string per row; default is the usual 4×4 ATM layout with function keys in the right column.</summary>
    public string[] KeyMap { get; set; } = ["1 2 3 F1", "4 5 6 F2", "7 8 9 F3", "Cancel 0 Clear Enter"];

    /// <summary>How long a key must read the same before it counts (ms).</summary>
    public int DebounceMilliseconds { get; set; } = 25;

    /// <summary>Pause between rows of the scan (ms); a full scan takes rows × this.</summary>
    public int ScanIntervalMilliseconds { get; set; } = 2;

    /// <summary>Use the SoC's pull-down resistors on the columns (true), or external pull-downs (false).</summary>
    public bool InternalPullDown { get; set; } = true;
}
