namespace CardlessAtm.Devices.Lcdm2000.Protocol;

/// <summary>
/// The field order of the combined (0x56) dispense answer. Public descriptions of the protocol disagree, and
/// only a real unit can tell (<c>cardless-atm devices lcdm2000 probe</c> does); both orders end
/// <c>ERROR ST(u) ST(l) REJ(u) REJ(l)</c>.
/// </summary>
public enum Lcdm2000CombinedAnswerOrder
{
    /// <summary><c>CHK(u) EXIT(u) CHK(l) EXIT(l)</c>: each cassette's pair together (the default guess).</summary>
    CassetteByCassette,

    /// <summary><c>CHK(u) CHK(l) EXIT(u) EXIT(l)</c>: both check counts, then both exit counts.</summary>
    CountByCount,
}

/// <summary>
/// What a set cassette bit (SENSOR1 bit 1 = upper, bit 2 = lower) of the status answer means. Public descriptions
/// disagree; the probe tells from a status taken with a cassette pulled.
/// </summary>
public enum Lcdm2000CassetteSensorBit
{
    /// <summary>A set bit means the cassette is not in place (the default guess).</summary>
    SetWhenMissing,

    /// <summary>A set bit means the cassette is in place.</summary>
    SetWhenPresent,
}
