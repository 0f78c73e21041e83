namespace CardlessAtm.FirmwareSim.Lcdm2000;

/// <summary>Start-up state and timing of the emulated LCDM-2000.</summary>
public sealed class Lcdm2000EmulatorOptions
{
    /// <summary>Notes in the upper cassette (position 1). Default 500.</summary>
    public int UpperNotes { get; set; } = 500;

    /// <summary>Notes in the lower cassette (position 2). Default 500.</summary>
    public int LowerNotes { get; set; } = 500;

    /// <summary>A cassette with fewer notes than this reports near end. Default 50.</summary>
    public int NearEndThreshold { get; set; } = 50;

    /// <summary>Time from the ACK to the first note moving. Default 300 ms.</summary>
    public TimeSpan StartDelay { get; set; } = TimeSpan.FromMilliseconds(300);

    /// <summary>Time per note picked. Default 150 ms (about 7 notes a second).</summary>
    public TimeSpan NoteInterval { get; set; } = TimeSpan.FromMilliseconds(150);

    /// <summary>Time a purge takes. Default 1 s.</summary>
    public TimeSpan PurgeTime { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// If set, the firmware behaves as on a line at this baud rate (10 bits a byte): it handles a command
    /// only after the command's wire time and sends each answer after its wire time. Default null: as fast as the pty goes.
    /// </summary>
    public int? LineBaudRate { get; set; }

    /// <summary>Most notes one dispense command may ask of one cassette; more is a note request error. Default 60.</summary>
    public int MaxNotesPerCommand { get; set; } = 60;

    /// <summary>More rejected notes than this in one command ends it with over reject. Default 8.</summary>
    public int MaxRejectsPerCommand { get; set; } = 8;

    /// <summary>How long the firmware waits for the host's ACK/NAK of a response. Default 1 s.</summary>
    public TimeSpan HostAckTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often the firmware repeats a response the host refused. Default 3.</summary>
    public int ResponseRepeats { get; set; } = 3;

    /// <summary>The four version characters of the ROM version answer. Default <c>T20T</c>.</summary>
    public string RomVersion { get; set; } = "T20T";

    /// <summary>The four check characters of the ROM version answer. Default <c>5624</c>.</summary>
    public string RomCheck { get; set; } = "5624";

    /// <summary>
    /// The field order of the combined (0x56) dispense answer this unit uses; public sources differ.
    /// Default <see cref="EmulatedCombinedAnswerOrder.CassetteByCassette"/>.
    /// </summary>
    public EmulatedCombinedAnswerOrder CombinedAnswerOrder { get; set; } = EmulatedCombinedAnswerOrder.CassetteByCassette;

    /// <summary>What a set cassette bit of the status answer means on this unit; public sources differ. Default <see cref="EmulatedCassetteBit.SetWhenMissing"/>.</summary>
    public EmulatedCassetteBit CassetteBit { get; set; } = EmulatedCassetteBit.SetWhenMissing;

    /// <summary>If set, a symbolic link to the pty slave is made here (a stable name to configure), and removed on stop.</summary>
    public string? LinkPath { get; set; }

    /// <summary>Options with every delay zero, for tests.</summary>
    public static Lcdm2000EmulatorOptions Instant() => new()
    {
        StartDelay = TimeSpan.Zero,
        NoteInterval = TimeSpan.Zero,
        PurgeTime = TimeSpan.Zero,
    };

    /// <summary>Every problem with these options, each naming the option; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (UpperNotes < 0 || LowerNotes < 0)
        {
            errors.Add($"{nameof(UpperNotes)}/{nameof(LowerNotes)} must not be negative.");
        }

        if (StartDelay < TimeSpan.Zero || NoteInterval < TimeSpan.Zero || PurgeTime < TimeSpan.Zero)
        {
            errors.Add($"{nameof(StartDelay)}, {nameof(NoteInterval)} and {nameof(PurgeTime)} must not be negative.");
        }

        if (LineBaudRate is <= 0)
        {
            errors.Add($"{nameof(LineBaudRate)} must be positive when set.");
        }

        if (MaxNotesPerCommand is < 1 or > 99)
        {
            errors.Add($"{nameof(MaxNotesPerCommand)} must be 1..99.");
        }

        if (MaxRejectsPerCommand < 0)
        {
            errors.Add($"{nameof(MaxRejectsPerCommand)} must not be negative.");
        }

        if (HostAckTimeout <= TimeSpan.Zero)
        {
            errors.Add($"{nameof(HostAckTimeout)} must be positive.");
        }

        if (ResponseRepeats < 0)
        {
            errors.Add($"{nameof(ResponseRepeats)} must not be negative.");
        }

        if (!Enum.IsDefined(CombinedAnswerOrder))
        {
            errors.Add($"{nameof(CombinedAnswerOrder)} must be one of {string.Join(", ", Enum.GetNames<EmulatedCombinedAnswerOrder>())}.");
        }

        if (!Enum.IsDefined(CassetteBit))
        {
            errors.Add($"{nameof(CassetteBit)} must be one of {string.Join(", ", Enum.GetNames<EmulatedCassetteBit>())}.");
        }

        if (RomVersion.Length != 4 || RomCheck.Length != 4 || !(RomVersion + RomCheck).All(char.IsAscii))
        {
            errors.Add($"{nameof(RomVersion)} and {nameof(RomCheck)} must be four ASCII characters each.");
        }

        return errors;
    }
}

/// <summary>
/// Field orders of the combined (0x56) dispense answer. The emulator keeps its own copy of the two conventions
/// (it does not reference the driver), so that a driver bug cannot hide behind shared code; the names match the
/// driver's <c>CombinedAnswerOrder</c> setting.
/// </summary>
public enum EmulatedCombinedAnswerOrder
{
    /// <summary><c>CHK(u) EXIT(u) CHK(l) EXIT(l) ERROR ST(u) ST(l) REJ(u) REJ(l)</c>.</summary>
    CassetteByCassette,

    /// <summary><c>CHK(u) CHK(l) EXIT(u) EXIT(l) ERROR ST(u) ST(l) REJ(u) REJ(l)</c>.</summary>
    CountByCount,
}

/// <summary>What a set cassette bit (SENSOR1 bits 1 and 2) of the status answer means; names match the driver's <c>CassetteSensorBit</c> setting.</summary>
public enum EmulatedCassetteBit
{
    /// <summary>A set bit means the cassette is not in place.</summary>
    SetWhenMissing,

    /// <summary>A set bit means the cassette is in place.</summary>
    SetWhenPresent,
}

/// <summary>Where an injected jam happens (each has its own error code and blocked sensor).</summary>
public enum EmulatedJamPoint
{
    /// <summary>CHK1,2 sensors (error 0x33).</summary>
    Check12,

    /// <summary>CHK3,4 sensors (error 0x4C).</summary>
    Check34,

    /// <summary>DIV sensor (error 0x36).</summary>
    Divert,

    /// <summary>EJT sensor (error 0x48).</summary>
    Eject,

    /// <summary>EXIT sensor (error 0x35, "EXIT or EJT").</summary>
    Exit,
}

/// <summary>Where injected garbage bytes are written.</summary>
public enum GarbagePoint
{
    /// <summary>Before the ACK of the next command.</summary>
    BeforeAck,

    /// <summary>Before the next response frame.</summary>
    BeforeResponse,
}
