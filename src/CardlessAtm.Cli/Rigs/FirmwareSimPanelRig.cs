using CardlessAtm.Devices.Keypad;
using CardlessAtm.Panel;

namespace CardlessAtm.Cli.Rigs;

/// <summary>
/// The front panel on the FirmwareSim rig: the Raspberry Pi drivers run unchanged against the rig's emulators, and the
/// panel reads and drives those emulators, never the drivers or the flow. The screen is the ILI9341 emulator's
/// framebuffer (the pixels the display driver wrote over SPI, not a re-render), its text the mirror HD44780's rows as the
/// character-LCD driver wrote them over I2C; keys are tapped on the emulated 4×4 key matrix under the matrix driver;
/// the safe door is the rig's reed switch on the virtual GPIO board; cassettes, jams, double notes and silence are
/// injected in the dispenser firmware (LCDM-2000 or LCDM-4000) behind its pseudo-terminal.
/// </summary>
/// <param name="rig">The rig whose emulators the panel drives.</param>
/// <param name="dispenserOffRig">
/// Why the dispenser's switches are not wired, when the terminal's dispenser is not the rig's emulator (a real port,
/// allowed by <c>Panel:AllowRealDevices</c>); null when it is the emulator.
/// </param>
internal sealed class FirmwareSimPanelRig(FirmwareSimRig rig, string? dispenserOffRig = null) : IPanelRig
{
    private static readonly string[] DispenserFaults = ["cassette-removed", "jam", "double-note-reject", "dispenser-silent"];

    private readonly HashSet<int> _removed = [];

    /// <inheritdoc />
    public string Name => $"FirmwareSim rig ({(rig.Dispenser.Model == RigDispenserModel.Lcdm4000 ? "LCDM-4000" : "LCDM-2000")})";

    /// <inheritdoc />
    public bool DriversOnEmulators => true;

    /// <inheritdoc />
    public int ScreenWidth => rig.Panel.NativeWidth;

    /// <inheritdoc />
    public int ScreenHeight => rig.Panel.NativeHeight;

    /// <inheritdoc />
    public string? TouchUnavailable =>
        "the FirmwareSim rig's keypad is the 4x4 key matrix (Devices:Keypad:Kind=Matrix); no XPT2046 touch controller is wired on its SPI bus.";

    /// <inheritdoc />
    public string? TakeNotesUnavailable =>
        "the LCDM dispenser has no presenter: its notes leave the exit as they are counted, and nothing waits there to be taken.";

    /// <inheritdoc />
    public PanelScreenText ScreenText()
    {
        // The version is the emulator's count of pixels written: it moves whenever the driver draws anything.
        var lines = rig.MirrorLcd.Lines().Select(l => l.TrimEnd()).Where(l => l.Length > 0).ToList();
        return new PanelScreenText(rig.Panel.PixelsWritten, Title: lines.Count > 0 ? lines[0] : null, Lines: [.. lines.Skip(1)], SecondsLeft: null, Tone: null, HasQr: null);
    }

    /// <inheritdoc />
    public Task<byte[]> ScreenPngAsync(CancellationToken cancellationToken)
    {
        var (width, height, pixels) = rig.Panel.Snapshot();
        return Task.FromResult(ScreenImage.EncodePng(pixels, width, height));
    }

    /// <inheritdoc />
    public Task PressAsync(AtmKey key, CancellationToken cancellationToken) =>

        // A finger on the matrix: held, released, and waited for until the driver's scanner has seen it.
        Task.Run(() => rig.Press(key), cancellationToken);

    /// <inheritdoc />
    public string? Unavailable(string fault) => fault switch
    {
        "notes-not-taken" => TakeNotesUnavailable,
        _ when dispenserOffRig is not null && DispenserFaults.Contains(fault) => dispenserOffRig,
        _ => null,
    };

    /// <inheritdoc />
    public string WiredTo(string fault) => fault switch
    {
        "safe-door" => "the SafeDoor reed switch on the virtual GPIO board (BCM 17), read by the GPIO sensor driver",
        "cassette-removed" => $"the cassette sensor of the {Model} firmware emulator",
        "jam" => $"a jam injected in the {Model} firmware emulator after the next dispense's first note",
        "double-note-reject" => $"a double note injected in the {Model} firmware emulator at the next dispense's first pick",
        "dispenser-silent" => $"the {Model} firmware emulator muted: it answers nothing on its serial line",
        _ => "not wired",
    };

    /// <inheritdoc />
    public bool TakesPosition(string fault) => fault is "cassette-removed";

    /// <inheritdoc />
    public bool IsOn(string fault, int position)
    {
        lock (_removed)
        {
            return fault switch
            {
                "safe-door" => !rig.IsSwitchClosed("SafeDoor"),
                "cassette-removed" => _removed.Contains(position),
                "jam" => rig.Dispenser.JamPending,
                "double-note-reject" => rig.Dispenser.DoubleNotePending,
                "dispenser-silent" => rig.Dispenser.IsMuted,
                _ => false,
            };
        }
    }

    /// <inheritdoc />
    public void Switch(string fault, bool engaged, int position)
    {
        var on = engaged;
        switch (fault)
        {
            case "safe-door":
                rig.SetSwitch("SafeDoor", closed: !on);
                break;
            case "cassette-removed":
                lock (_removed)
                {
                    rig.Dispenser.SetCassettePresent(position, present: !on);
                    if (on)
                    {
                        _removed.Add(position);
                    }
                    else
                    {
                        _removed.Remove(position);
                    }
                }

                break;
            case "jam":
                if (on)
                {
                    rig.Dispenser.InjectJam(afterNotes: 1);
                }
                else
                {
                    rig.Dispenser.ClearJam();
                }

                break;
            case "double-note-reject":
                if (on)
                {
                    rig.Dispenser.InjectDoubleNote(pickNumber: 1);
                }
                else
                {
                    rig.Dispenser.ClearDoubleNotes();
                }

                break;
            case "dispenser-silent":
                rig.Dispenser.SetMute(on);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(fault), fault, "not a switch of the FirmwareSim rig");
        }
    }

    /// <inheritdoc />
    public IReadOnlyDictionary<string, int> Mechanism() => dispenserOffRig is not null ? new Dictionary<string, int>() : new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["rejectTray"] = rig.Dispenser.RejectTrayCount,
        ["notesInPath"] = rig.Dispenser.NotesInPath,
        ["presentedTotal"] = rig.Dispenser.PresentedCount,
    };

    /// <inheritdoc />
    public void TakeNotes() => throw new InvalidOperationException(TakeNotesUnavailable);

    /// <inheritdoc />
    public void Dispose()
    {
        // The rig belongs to the terminal's device provider, which stops the emulators with the devices.
    }

    private string Model => rig.Dispenser.Model == RigDispenserModel.Lcdm4000 ? "LCDM-4000" : "LCDM-2000";
}
