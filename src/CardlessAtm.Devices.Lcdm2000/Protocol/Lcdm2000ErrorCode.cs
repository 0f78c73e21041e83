using System.Collections.Frozen;
using CardlessAtm.Devices.Dispenser;

namespace CardlessAtm.Devices.Lcdm2000.Protocol;

/// <summary>The LCDM-2000's error byte (ASCII, from the public protocol manual's table).</summary>
public enum Lcdm2000ErrorCode : byte
{
    /// <summary>Good.</summary>
    Good = 0x30,

    /// <summary>Normal stop.</summary>
    NormalStop = 0x31,

    /// <summary>Pickup error: the cassette did not give a note.</summary>
    PickupError = 0x32,

    /// <summary>Jam at the CHK1/CHK2 sensors.</summary>
    JamAtChk12 = 0x33,

    /// <summary>More notes passed than were asked for.</summary>
    OverflowBill = 0x34,

    /// <summary>Jam at the EXIT or EJT sensor.</summary>
    JamAtExitOrEjt = 0x35,

    /// <summary>Jam at the DIV sensor.</summary>
    JamAtDiv = 0x36,

    /// <summary>The device did not understand the command.</summary>
    UndefinedCommand = 0x37,

    /// <summary>The upper cassette is out of notes.</summary>
    UpperBillEnd = 0x38,

    /// <summary>Counting error between the CHK3/CHK4 and DIV sensors.</summary>
    CountingErrorChkToDiv = 0x3A,

    /// <summary>The requested note count is not valid.</summary>
    NoteRequestError = 0x3B,

    /// <summary>Counting error between the DIV and EJT sensors.</summary>
    CountingErrorDivToEjt = 0x3C,

    /// <summary>Counting error between the EJT and EXIT sensors.</summary>
    CountingErrorEjtToExit = 0x3D,

    /// <summary>The reject tray is not recognised (missing).</summary>
    RejectTrayNotRecognized = 0x3F,

    /// <summary>The lower cassette is out of notes.</summary>
    LowerBillEnd = 0x40,

    /// <summary>The transport motor stopped.</summary>
    MotorStop = 0x41,

    /// <summary>Jam at the DIV sensor (during the divert).</summary>
    JamAtDivSensor = 0x42,

    /// <summary>A note did not travel from the DIV to the EJT sensor in time.</summary>
    TimeoutDivToEjt = 0x43,

    /// <summary>Too many notes were rejected in one dispense.</summary>
    OverReject = 0x44,

    /// <summary>The upper cassette is not recognised (missing).</summary>
    UpperCassetteNotRecognized = 0x45,

    /// <summary>The lower cassette is not recognised (missing).</summary>
    LowerCassetteNotRecognized = 0x46,

    /// <summary>The device's own dispensing timeout expired.</summary>
    DispensingTimeout = 0x47,

    /// <summary>Jam at the EJT sensor.</summary>
    JamAtEjt = 0x48,

    /// <summary>Diverter solenoid or SOL sensor error.</summary>
    DiverterSolenoidError = 0x49,

    /// <summary>SOL sensor error.</summary>
    SolSensorError = 0x4A,

    /// <summary>Jam at the CHK3/CHK4 sensors.</summary>
    JamAtChk34 = 0x4C,

    /// <summary>Purge failed: jam at the DIV sensor.</summary>
    PurgeError = 0x4E,
}

/// <summary>What one error code means to the driver.</summary>
/// <param name="Code">The raw error byte.</param>
/// <param name="Text">The manual's description (technician text).</param>
/// <param name="Completion">The dispense completion it maps to.</param>
/// <param name="Known">False for a byte the table does not list.</param>
public sealed record Lcdm2000ErrorInfo(byte Code, string Text, DispenseCompletion Completion, bool Known = true)
{
    /// <summary>Whether the code says the operation ended normally.</summary>
    public bool IsSuccess => Code is (byte)Lcdm2000ErrorCode.Good or (byte)Lcdm2000ErrorCode.NormalStop;

    /// <summary>Code and text for logs and <see cref="DeviceDispenseResult.DeviceCode"/>.</summary>
    public string DeviceCode => $"0x{Code:X2}";

    /// <inheritdoc/>
    public override string ToString() => $"{DeviceCode} {Text}";
}

/// <summary>The public LCDM-2000 error table mapped to our dispense completions.</summary>
public static class Lcdm2000Errors
{
    private static readonly FrozenDictionary<byte, Lcdm2000ErrorInfo> Table = new Lcdm2000ErrorInfo[]
    {
        new(0x30, "Good", DispenseCompletion.Ok),
        new(0x31, "Normal stop", DispenseCompletion.Ok),
        new(0x32, "Pickup error", DispenseCompletion.PickFailure),
        new(0x33, "Jam at CHK1,2 sensor", DispenseCompletion.Jam),
        new(0x34, "Overflow bill", DispenseCompletion.HardwareError),
        new(0x35, "Jam at EXIT or EJT sensor", DispenseCompletion.Jam),
        new(0x36, "Jam at DIV sensor", DispenseCompletion.Jam),
        new(0x37, "Undefined command", DispenseCompletion.HardwareError),
        new(0x38, "Upper bill end", DispenseCompletion.CassetteEmpty),
        new(0x3A, "Counting error between CHK3,4 and DIV sensors", DispenseCompletion.HardwareError),
        new(0x3B, "Note request error", DispenseCompletion.InvalidRequest),
        new(0x3C, "Counting error between DIV and EJT sensors", DispenseCompletion.HardwareError),
        new(0x3D, "Counting error between EJT and EXIT sensors", DispenseCompletion.HardwareError),
        new(0x3F, "Reject tray not recognized", DispenseCompletion.CassetteMissing),
        new(0x40, "Lower bill end", DispenseCompletion.CassetteEmpty),
        new(0x41, "Motor stop", DispenseCompletion.HardwareError),
        new(0x42, "Jam at DIV sensor", DispenseCompletion.Jam),
        new(0x43, "Timeout from DIV to EJT sensor", DispenseCompletion.Jam),
        new(0x44, "Over reject", DispenseCompletion.PickFailure),
        new(0x45, "Upper cassette not recognized", DispenseCompletion.CassetteMissing),
        new(0x46, "Lower cassette not recognized", DispenseCompletion.CassetteMissing),
        new(0x47, "Dispensing timeout", DispenseCompletion.Timeout),
        new(0x48, "Jam at EJT sensor", DispenseCompletion.Jam),
        new(0x49, "Diverter solenoid or SOL sensor error", DispenseCompletion.HardwareError),
        new(0x4A, "SOL sensor error", DispenseCompletion.HardwareError),
        new(0x4C, "Jam at CHK3,4 sensor", DispenseCompletion.Jam),
        new(0x4E, "Purge error (jam at DIV sensor)", DispenseCompletion.Jam),
    }.ToFrozenDictionary(e => e.Code);

    /// <summary>Every code of the public table.</summary>
    public static IEnumerable<Lcdm2000ErrorInfo> All => Table.Values.OrderBy(e => e.Code);

    /// <summary>Looks a code up; an unlisted byte is a hardware error that says so.</summary>
    public static Lcdm2000ErrorInfo Describe(byte code) =>
        Table.TryGetValue(code, out var info)
            ? info
            : new Lcdm2000ErrorInfo(code, $"Unknown error code 0x{code:X2} (not in the LCDM-2000 table)", DispenseCompletion.HardwareError, Known: false);
}
