namespace CardlessAtm.Devices.Lcdm2000.Protocol;

/// <summary>The LCDM-2000 command bytes (the <c>CMD</c> byte of a frame; the response echoes it).</summary>
public enum Lcdm2000Command : byte
{
    /// <summary>Purge: resets the mechanism and moves notes left in the path to the reject tray.</summary>
    Purge = 0x44,

    /// <summary>Dispense from the upper cassette (2 ASCII digits of count).</summary>
    UpperDispense = 0x45,

    /// <summary>Reports the last error and the sensor bits.</summary>
    Status = 0x46,

    /// <summary>Reports the firmware (ROM) version.</summary>
    RomVersion = 0x47,

    /// <summary>Dispense from the lower cassette (2 ASCII digits of count).</summary>
    LowerDispense = 0x55,

    /// <summary>Dispense from both cassettes in one operation (2 + 2 ASCII digits).</summary>
    UpperAndLowerDispense = 0x56,

    /// <summary>Picks one note from the upper cassette into the reject tray.</summary>
    UpperTestDispense = 0x76,

    /// <summary>Picks one note from the lower cassette into the reject tray.</summary>
    LowerTestDispense = 0x77,
}
