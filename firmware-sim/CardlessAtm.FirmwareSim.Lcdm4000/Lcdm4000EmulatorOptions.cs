namespace CardlessAtm.FirmwareSim.Lcdm4000;

/// <summary>Start-up state and timing of the emulated LCDM-4000.</summary>
public sealed class Lcdm4000EmulatorOptions
{
    /// <summary>Notes in cassettes 1 (top) to 4 (bottom). Default 500 each.</summary>
    public int[] Notes { get; set; } = [500, 500, 500, 500];

    /// <summary>A cassette with fewer notes than this reports near end. Default 50.</summary>
    public int NearEndThreshold { get; set; } = 50;

    /// <summary>Time from the ACK to the first note moving. Default 300 ms.</summary>
    public TimeSpan StartDelay { get; set; } = TimeSpan.FromMilliseconds(300);

    /// <summary>Time per note picked. Default 150 ms.</summary>
    public TimeSpan NoteInterval { get; set; } = TimeSpan.FromMilliseconds(150);

    /// <summary>Time a purge takes. Default 1 s.</summary>
    public TimeSpan PurgeTime { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Most notes one dispense command may ask in total; more is "abnormal parameter" (0x51). Default 40.</summary>
    public int MaxNotesPerCommand { get; set; } = 40;

    /// <summary>More rejected notes than this in one command ends it with "too many rejected" (0x2D). Default 10.</summary>
    public int MaxRejectsPerCommand { get; set; } = 10;

    /// <summary>How long the firmware waits for the host's ACK/NAK of a response. Default 1 s.</summary>
    public TimeSpan HostAckTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often the firmware repeats a response the host refused. Default 3.</summary>
    public int ResponseRepeats { get; set; } = 3;

    /// <summary>If set, a symbolic link to the pty slave is made here, and removed on stop.</summary>
    public string? LinkPath { get; set; }

    /// <summary>Options with every delay zero, for tests.</summary>
    public static Lcdm4000EmulatorOptions Instant() => new()
    {
        StartDelay = TimeSpan.Zero,
        NoteInterval = TimeSpan.Zero,
        PurgeTime = TimeSpan.Zero,
    };

    /// <summary>Every problem with these options, each naming the option; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Notes is not { Length: 4 } || Notes.Any(n => n < 0))
        {
            errors.Add($"{nameof(Notes)} must be four non-negative counts.");
        }

        if (StartDelay < TimeSpan.Zero || NoteInterval < TimeSpan.Zero || PurgeTime < TimeSpan.Zero)
        {
            errors.Add($"{nameof(StartDelay)}, {nameof(NoteInterval)} and {nameof(PurgeTime)} must not be negative.");
        }

        if (MaxNotesPerCommand is < 1 or > 95)
        {
            errors.Add($"{nameof(MaxNotesPerCommand)} must be 1..95.");
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

        return errors;
    }
}

/// <summary>Where an injected jam happens (each has its own error code).</summary>
public enum EmulatedJamPoint4000
{
    /// <summary>Between CHK and DVT (0x22).</summary>
    CheckToDivert,

    /// <summary>Between DVT and EJT (0x23).</summary>
    DivertToEject,

    /// <summary>Between EJT and EXIT (0x24).</summary>
    EjectToExit,

    /// <summary>A note stays in the EXIT sensor (0x25).</summary>
    Exit,
}

/// <summary>Where injected garbage bytes are written.</summary>
public enum GarbagePoint4000
{
    /// <summary>Before the ACK of the next command.</summary>
    BeforeAck,

    /// <summary>Before the next response frame.</summary>
    BeforeResponse,
}
