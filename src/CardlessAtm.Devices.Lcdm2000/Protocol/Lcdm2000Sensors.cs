namespace CardlessAtm.Devices.Lcdm2000.Protocol;

/// <summary>
/// The sensor bits of the status response, as one value: the low byte is SENSOR0, the high byte
/// SENSOR1. A set path bit means the sensor sees a note (blocked); a set reject-tray bit means the tray is
/// <em>not</em> in place; a set near-end bit means the cassette is nearly empty. The cassette flags always mean
/// "missing": <see cref="Lcdm2000SensorBytes.Decode"/> turns the wire bits into that meaning with the configured
/// <see cref="Lcdm2000CassetteSensorBit"/>.
/// </summary>
[Flags]
public enum Lcdm2000Sensors : ushort
{
    /// <summary>No bit set.</summary>
    None = 0,

    /// <summary>CHK sensor 1 blocked.</summary>
    Check1 = 0x0001,

    /// <summary>CHK sensor 2 blocked.</summary>
    Check2 = 0x0002,

    /// <summary>DIV sensor 1 blocked.</summary>
    Divert1 = 0x0004,

    /// <summary>DIV sensor 2 blocked.</summary>
    Divert2 = 0x0008,

    /// <summary>EJT sensor blocked.</summary>
    Eject = 0x0010,

    /// <summary>EXIT sensor blocked.</summary>
    Exit = 0x0020,

    /// <summary>Upper cassette near end.</summary>
    UpperNearEnd = 0x0040,

    /// <summary>Solenoid sensor.</summary>
    Solenoid = 0x0100,

    /// <summary>Upper cassette not in place.</summary>
    UpperCassetteMissing = 0x0200,

    /// <summary>Lower cassette not in place.</summary>
    LowerCassetteMissing = 0x0400,

    /// <summary>CHK sensor 3 blocked.</summary>
    Check3 = 0x0800,

    /// <summary>CHK sensor 4 blocked.</summary>
    Check4 = 0x1000,

    /// <summary>Lower cassette near end.</summary>
    LowerNearEnd = 0x2000,

    /// <summary>Reject tray not in place.</summary>
    RejectTrayMissing = 0x4000,

    /// <summary>Every sensor of the note path: any of them set means notes are left in the transport.</summary>
    NotePath = Check1 | Check2 | Check3 | Check4 | Divert1 | Divert2 | Eject | Exit,
}

/// <summary>Decoding of the two status sensor bytes.</summary>
public static class Lcdm2000SensorBytes
{
    /// <summary>
    /// Combines SENSOR0 and SENSOR1; bit 7 of each (always 1 / unused on the wire) is dropped. The cassette bits are
    /// read with <paramref name="cassetteBit"/>, so that the result's cassette flags always mean "missing".
    /// </summary>
    public static Lcdm2000Sensors Decode(byte sensor0, byte sensor1, Lcdm2000CassetteSensorBit cassetteBit = Lcdm2000CassetteSensorBit.SetWhenMissing)
    {
        var sensors = (Lcdm2000Sensors)((sensor0 & 0x7F) | ((sensor1 & 0x7F) << 8));
        return cassetteBit == Lcdm2000CassetteSensorBit.SetWhenPresent
            ? sensors ^ (Lcdm2000Sensors.UpperCassetteMissing | Lcdm2000Sensors.LowerCassetteMissing)
            : sensors;
    }
}
