using CardlessAtm.Devices.Display;
using CardlessAtm.Devices.Keypad;
using CardlessAtm.Devices.Sensors;
using CardlessAtm.Devices.Simulated;

namespace CardlessAtm.Panel;

/// <summary>The screen as a rig shows it: what the page draws and the phone panes photograph.</summary>
/// <param name="Version">Changes whenever the picture may have changed.</param>
/// <param name="Title">The screen's title as text, when the rig knows it.</param>
/// <param name="Lines">The screen's lines as text.</param>
/// <param name="SecondsLeft">The QR countdown, when the rig knows it.</param>
/// <param name="Tone">The screen's tone, when the rig knows it.</param>
/// <param name="HasQr">Whether a session QR is on screen, when the rig knows it.</param>
public sealed record PanelScreenText(long Version, string? Title, IReadOnlyList<string> Lines, int? SecondsLeft, string? Tone, bool? HasQr);

/// <summary>
/// The hardware side of the ATM the panel drives: its screen, its keys and its fault switches, each wired where the fault
/// happens on that rig (the simulated devices' fault injection, or the firmware emulators under the real drivers) and
/// never to the withdrawal flow.
/// </summary>
public interface IPanelRig : IDisposable
{
    /// <summary>"Simulated rig", "FirmwareSim rig (LCDM-2000)", …: for the page's header.</summary>
    string Name { get; }

    /// <summary>
    /// True when the devices' kinds name real drivers but every one of them talks to an emulator this process built (the
    /// FirmwareSim rig): the panel's refusal of real devices does not apply.
    /// </summary>
    bool DriversOnEmulators { get; }

    /// <summary>Screen width in pixels.</summary>
    int ScreenWidth { get; }

    /// <summary>Screen height in pixels.</summary>
    int ScreenHeight { get; }

    /// <summary>The screen as text, with a version that changes when the picture does.</summary>
    PanelScreenText ScreenText();

    /// <summary>The screen as a PNG file's bytes.</summary>
    Task<byte[]> ScreenPngAsync(CancellationToken cancellationToken);

    /// <summary>Presses and releases one key.</summary>
    Task PressAsync(AtmKey key, CancellationToken cancellationToken);

    /// <summary>Why touch zones are not offered, or null when the rig has a touch screen.</summary>
    string? TouchUnavailable { get; }

    /// <summary>Why a switch is not offered on this rig, or null when it is wired.</summary>
    string? Unavailable(string fault);

    /// <summary>What a switch is wired to on this rig, for the page.</summary>
    string WiredTo(string fault);

    /// <summary>Whether a switch needs a cassette position on this rig.</summary>
    bool TakesPosition(string fault);

    /// <summary>Whether switch <paramref name="fault"/> is on (per-cassette switches: at <paramref name="position"/>).</summary>
    bool IsOn(string fault, int position);

    /// <summary>Turns a wired switch on (<paramref name="engaged"/>) or off; the caller validated the name and position.</summary>
    void Switch(string fault, bool engaged, int position);

    /// <summary>The mechanism beyond the cash units, as name/value pairs (reject tray, notes at the exit, …).</summary>
    IReadOnlyDictionary<string, int> Mechanism();

    /// <summary>Why "Customer takes the notes" is not offered, or null.</summary>
    string? TakeNotesUnavailable { get; }

    /// <summary>The customer takes the notes left at the exit.</summary>
    void TakeNotes();
}

/// <summary>The Simulated rig: the in-memory simulators, the screen drawn by the ILI934x driver on a private emulated panel.</summary>
public sealed class SimulatedPanelRig : IPanelRig
{
    private readonly ScreenImage _renderer;
    private long _version;
    private (long Version, byte[] Png)? _lastPng;

    /// <summary>Wraps the terminal's simulated devices.</summary>
    /// <exception cref="PanelRefusedException">The display is not an ILI934x's resolution.</exception>
    public SimulatedPanelRig(SimulatedDisplay display, SimulatedKeypad keypad, SimulatedDispenserDevice dispenser, SimulatedFaultSensors sensors)
    {
        ArgumentNullException.ThrowIfNull(display);
        Display = display;
        Keypad = keypad;
        Dispenser = dispenser;
        Sensors = sensors;
        var caps = display.Capabilities;
        if (ScreenImage.ModelFor(caps.WidthPixels, caps.HeightPixels) is null)
        {
            throw new PanelRefusedException($"The display is {caps.WidthPixels}x{caps.HeightPixels}; the panel draws its screen with the ILI934x driver, which is 240x320 (ILI9341) or 320x240 (ILI9342).");
        }

        _renderer = new ScreenImage(caps.WidthPixels, caps.HeightPixels);
        display.Shown += OnShown;
    }

    /// <summary>The terminal's display.</summary>
    public SimulatedDisplay Display { get; }

    /// <summary>The terminal's keypad.</summary>
    public SimulatedKeypad Keypad { get; }

    /// <summary>The dispenser mechanism (faults, reject tray, exit).</summary>
    public SimulatedDispenserDevice Dispenser { get; }

    /// <summary>The sensor board (doors, cassette presence).</summary>
    public SimulatedFaultSensors Sensors { get; }

    /// <inheritdoc />
    public string Name => "Simulated rig";

    /// <inheritdoc />
    public bool DriversOnEmulators => false;

    /// <inheritdoc />
    public int ScreenWidth => _renderer.Width;

    /// <inheritdoc />
    public int ScreenHeight => _renderer.Height;

    /// <inheritdoc />
    public string? TouchUnavailable => "The Simulated rig has no touch screen: its keypad is SimulatedKeypad.";

    /// <inheritdoc />
    public string? TakeNotesUnavailable => null;

    /// <inheritdoc />
    public PanelScreenText ScreenText()
    {
        var screen = Display.Current;
        return new PanelScreenText(Interlocked.Read(ref _version), screen?.Title, screen?.Lines ?? [], screen?.SecondsLeft, screen?.Tone.ToString(), screen?.Qr is not null);
    }

    /// <inheritdoc />
    public async Task<byte[]> ScreenPngAsync(CancellationToken cancellationToken)
    {
        var version = Interlocked.Read(ref _version);
        if (_lastPng is { } cached && cached.Version == version)
        {
            return cached.Png;
        }

        var png = await _renderer.RenderPngAsync(Display.Current, cancellationToken);
        _lastPng = (version, png);
        return png;
    }

    /// <inheritdoc />
    public Task PressAsync(AtmKey key, CancellationToken cancellationToken)
    {
        Keypad.Press(key);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public string? Unavailable(string fault) => null;

    /// <inheritdoc />
    public string WiredTo(string fault) => fault switch
    {
        "safe-door" => "SimulatedFaultSensors: the safe-door sensor reads Alert",
        "cassette-removed" => "SimulatedDispenserDevice Faults.RemovedCassettes and the cassette's presence sensor",
        "jam" => "SimulatedDispenserDevice Faults.JamAfterNotes = 1",
        "double-note-reject" => "SimulatedDispenserDevice Faults.PickFailures",
        "dispenser-silent" => "SimulatedDispenserDevice Faults.NoAnswer",
        "notes-not-taken" => "SimulatedDispenserDevice Faults.NotesNotTaken",
        _ => "the relay on the terminal's link",
    };

    /// <inheritdoc />
    public bool TakesPosition(string fault) => fault is "cassette-removed" or "double-note-reject";

    /// <inheritdoc />
    public bool IsOn(string fault, int position) => fault switch
    {
        "safe-door" => Sensors.Status.StateOf(SensorKind.SafeDoor) == SensorState.Alert,
        "cassette-removed" => Dispenser.Faults.RemovedCassettes.Contains(position),
        "jam" => Dispenser.Faults.JamAfterNotes is not null,
        "double-note-reject" => Dispenser.Faults.PickFailures.Contains(position),
        "dispenser-silent" => Dispenser.Faults.NoAnswer,
        "notes-not-taken" => Dispenser.Faults.NotesNotTaken,
        _ => false,
    };

    /// <inheritdoc />
    public void Switch(string fault, bool engaged, int position)
    {
        var on = engaged;
        var faults = Dispenser.Faults;
        switch (fault)
        {
            case "safe-door":
                Sensors.Set(SensorKind.SafeDoor, on ? SensorState.Alert : SensorState.Normal);
                break;
            case "cassette-removed":
                // The cassette leaves the mechanism and its presence switch opens, as when an operator pulls it.
                Toggle(faults.RemovedCassettes, position, on);
                Sensors.Set(SensorKind.CassettePresent, on ? SensorState.Alert : SensorState.Normal, position);
                break;
            case "jam":
                faults.JamAfterNotes = on ? 1 : null; // the next dispense jams after its first note
                break;
            case "double-note-reject":
                Toggle(faults.PickFailures, position, on); // each pick at this position is diverted to the reject tray
                break;
            case "dispenser-silent":
                faults.NoAnswer = on;
                break;
            case "notes-not-taken":
                faults.NotesNotTaken = on;
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(fault), fault, "not a switch of the Simulated rig's devices");
        }
    }

    /// <inheritdoc />
    public IReadOnlyDictionary<string, int> Mechanism() => new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["rejectTray"] = Dispenser.RejectTray,
        ["notesAtExit"] = Dispenser.NotesAtExit,
        ["retractBin"] = Dispenser.RetractBin,
        ["presentedTotal"] = Dispenser.PresentedTotal,
    };

    /// <inheritdoc />
    public void TakeNotes() => Dispenser.TakeNotes();

    /// <inheritdoc />
    public void Dispose()
    {
        Display.Shown -= OnShown;
        _renderer.Dispose();
    }

    private static void Toggle(ISet<int> set, int position, bool on)
    {
        lock (set)
        {
            if (on)
            {
                set.Add(position);
            }
            else
            {
                set.Remove(position);
            }
        }
    }

    private void OnShown(object? sender, Screen screen) => Interlocked.Increment(ref _version);
}
