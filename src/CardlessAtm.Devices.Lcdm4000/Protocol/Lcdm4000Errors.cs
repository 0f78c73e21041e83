using System.Collections.Frozen;
using CardlessAtm.Devices.Dispenser;

namespace CardlessAtm.Devices.Lcdm4000.Protocol;

/// <summary>What one LCDM-4000 error byte means to the driver.</summary>
/// <param name="Code">The raw error byte (0x20 + the manual's code; 0x20 is no error).</param>
/// <param name="Text">The public description (technician text).</param>
/// <param name="Completion">The dispense completion it maps to.</param>
/// <param name="Known">False for a byte the table does not list.</param>
public sealed record Lcdm4000ErrorInfo(byte Code, string Text, DispenseCompletion Completion, bool Known = true)
{
    /// <summary>Whether the code says the operation ended normally.</summary>
    public bool IsSuccess => Code == Lcdm4000Errors.NoError;

    /// <summary>Code for logs and <see cref="DeviceDispenseResult.DeviceCode"/>.</summary>
    public string DeviceCode => $"0x{Code:X2}";

    /// <inheritdoc/>
    public override string ToString() => $"{DeviceCode} {Text}";
}

/// <summary>
/// The public LCDM-4000 error table (as the two public drivers named in docs/hardware/lcdm-4000.md give it, each
/// code sent as 0x20 + the manual's number) mapped to our dispense completions.
/// </summary>
public static class Lcdm4000Errors
{
    /// <summary>The error byte of a good operation.</summary>
    public const byte NoError = 0x20;

    private static readonly FrozenDictionary<byte, Lcdm4000ErrorInfo> Table = new Lcdm4000ErrorInfo[]
    {
        new(0x20, "No error", DispenseCompletion.Ok),
        new(0x21, "Bill pick up error", DispenseCompletion.PickFailure),
        new(0x22, "Jam on the path between CHK and DVT sensors", DispenseCompletion.Jam),
        new(0x23, "Jam on the path between DVT and EJT sensors", DispenseCompletion.Jam),
        new(0x24, "Jam on the path between EJT and EXIT sensors", DispenseCompletion.Jam),
        new(0x25, "A note staying in the EXIT sensor", DispenseCompletion.Jam),
        new(0x26, "Ejecting a note suspected as rejected", DispenseCompletion.HardwareError),
        new(0x27, "Note count mismatch on the eject sensor", DispenseCompletion.HardwareError),
        new(0x28, "A note that should be rejected passed the eject sensor", DispenseCompletion.HardwareError),
        new(0x29, "Media on the eject sensor too long (slip)", DispenseCompletion.Jam),
        new(0x2A, "Media on the exit sensor too long (slip)", DispenseCompletion.Jam),
        new(0x2B, "Notes on the path before the pick-up started", DispenseCompletion.Jam),
        new(0x2C, "Too many notes dispensed for one transaction (limit 100, rejects included)", DispenseCompletion.HardwareError),
        new(0x2D, "Too many notes rejected for one transaction (limit 10)", DispenseCompletion.PickFailure),
        new(0x2E, "Abnormal termination during purge", DispenseCompletion.Jam),
        new(0x40, "Sensor trouble or abnormal material before start", DispenseCompletion.HardwareError),
        new(0x41, "Sensor trouble or abnormal material before start (2)", DispenseCompletion.HardwareError),
        new(0x42, "Solenoid trouble before dispense", DispenseCompletion.HardwareError),
        new(0x43, "Motor or slit sensor trouble before dispense", DispenseCompletion.HardwareError),
        new(0x44, "No cassette where notes were requested", DispenseCompletion.CassetteMissing),
        new(0x45, "Near end in a requested cassette (near-end detection on)", DispenseCompletion.CassetteEmpty),
        new(0x46, "No reject tray", DispenseCompletion.CassetteMissing),
        new(0x50, "Abnormal command", DispenseCompletion.HardwareError),
        new(0x51, "Abnormal parameter in the command", DispenseCompletion.InvalidRequest),
        new(0x52, "VERIFY not run after download and reset", DispenseCompletion.HardwareError),
        new(0x53, "Program area write failure", DispenseCompletion.HardwareError),
        new(0x54, "Verify failure", DispenseCompletion.HardwareError),
        new(0x55, "EEPROM write failure", DispenseCompletion.HardwareError),
        new(0x56, "EEPROM checksum error", DispenseCompletion.HardwareError),
        new(0x60, "A note from cassette 1 detected while dispensing from another", DispenseCompletion.HardwareError),
        new(0x61, "A note from cassette 2 detected while dispensing from another", DispenseCompletion.HardwareError),
        new(0x62, "A note from cassette 3 detected while dispensing from another", DispenseCompletion.HardwareError),
        new(0x63, "A note from cassette 4 detected while dispensing from another", DispenseCompletion.HardwareError),
    }.ToFrozenDictionary(e => e.Code);

    /// <summary>Every code of the public table.</summary>
    public static IEnumerable<Lcdm4000ErrorInfo> All => Table.Values.OrderBy(e => e.Code);

    /// <summary>Looks a code up; an unlisted byte is a hardware error that says so.</summary>
    public static Lcdm4000ErrorInfo Describe(byte code) =>
        Table.TryGetValue(code, out var info)
            ? info
            : new Lcdm4000ErrorInfo(code, $"Unknown error code 0x{code:X2} (not in the LCDM-4000 table)", DispenseCompletion.HardwareError, Known: false);
}
