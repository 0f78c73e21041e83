using CardlessAtm.Cli.Rigs;
using CardlessAtm.Devices.Keypad;
using CardlessAtm.Devices.Sensors;
using CardlessAtm.Devices.Simulated;
using CardlessAtm.Phone;
using CardlessAtm.Phone.Scanning;
using CardlessAtm.Qr.Rendering;

namespace CardlessAtm.Cli.Demo;

/// <summary>Which devices the demo's terminal runs on (<c>demo --rig</c>).</summary>
internal enum DemoRigKind
{
    /// <summary>In-memory simulated devices.</summary>
    Simulated,

    /// <summary>The Raspberry Pi drivers on firmware-sim (see <see cref="FirmwareSimRig"/>).</summary>
    FirmwareSim,
}

/// <summary>
/// What the demo does to the ATM's hardware, on either rig: a finger on the keys, a fault injected where it would happen
/// (in the simulated devices, or in the firmware: the dispenser emulator, a reed switch on the virtual board), and the
/// picture of the screen the phone photographs.
/// </summary>
internal interface IDemoAtmHardware
{
    /// <summary>Presses keys in turn.</summary>
    void Press(params AtmKey[] keys);

    /// <summary>Types digits.</summary>
    void Type(string digits);

    /// <summary>The dispenser jams after its first note.</summary>
    void JamAfterFirstNote();

    /// <summary>The safe door opens.</summary>
    void OpenSafeDoor();

    /// <summary>The cassette of 50s is pulled out.</summary>
    void PullFiftiesCassette();

    /// <summary>A PNG of the screen showing <paramref name="modules"/> (the QR of <paramref name="qrText"/>), as the phone's camera sees it.</summary>
    Task<byte[]> PhotographQrAsync(ModuleMatrix modules, string qrText, CancellationToken cancellationToken);
}

/// <summary>The simulated devices: faults set on the simulators, the QR picture drawn from the QR model.</summary>
internal sealed class SimulatedDemoHardware(SimulatedKeypad keypad, SimulatedDispenserDevice dispenser, SimulatedFaultSensors sensors) : IDemoAtmHardware
{
    /// <summary>The simulated dispenser (its exit, retract bin and customer faults), for the present/retract scenario.</summary>
    public SimulatedDispenserDevice Dispenser => dispenser;

    public void Press(params AtmKey[] keys) => keypad.Press(keys);

    public void Type(string digits) => keypad.Type(digits);

    public void JamAfterFirstNote() => dispenser.Faults.JamAfterNotes = 1;

    public void OpenSafeDoor() => sensors.Set(SensorKind.SafeDoor, SensorState.Alert);

    public void PullFiftiesCassette() => sensors.Set(SensorKind.CassettePresent, SensorState.Alert, position: 3);

    public Task<byte[]> PhotographQrAsync(ModuleMatrix modules, string qrText, CancellationToken cancellationToken) => Task.FromResult(PngQrRenderer.Render(modules));
}

/// <summary>
/// The firmware-sim rig: keys tapped on the key matrix, faults in the firmware (a jam in the dispenser emulator, the safe
/// door's reed switch opened on the virtual board, the 50s cassette pulled out of the emulator) and the QR picture
/// taken from the panel emulator's framebuffer — what the glass shows, not what the terminal meant to draw.
/// </summary>
internal sealed class FirmwareSimDemoHardware(FirmwareSimRig rig, string directory) : IDemoAtmHardware
{
    private int _photos;

    /// <summary>The rig's dispenser firmware (its cassettes, as the emulator counts them).</summary>
    public RigDispenser Dispenser => rig.Dispenser;

    /// <summary>The rig itself (its panel emulator, key matrix, reed switches), for the front panel.</summary>
    public FirmwareSimRig Rig => rig;

    public void Press(params AtmKey[] keys) => rig.Press(keys);

    public void Type(string digits) => rig.Type(digits);

    public void JamAfterFirstNote() => rig.Dispenser.InjectJam(afterNotes: 1);

    public void OpenSafeDoor() => rig.SetSwitch("SafeDoor", closed: false);

    public void PullFiftiesCassette() => rig.Dispenser.SetCassettePresent(rig.Dispenser.CashUnits.Single(u => u.Denomination == 50).Position, present: false);

    /// <summary>
    /// The panel's framebuffer as PNG once it shows this session's QR: the terminal announces the session as the screen
    /// goes out over SPI, so, like a phone held up to the glass, it looks again until the code on it reads as this one.
    /// </summary>
    public async Task<byte[]> PhotographQrAsync(ModuleMatrix modules, string qrText, CancellationToken cancellationToken)
    {
        using var patience = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        patience.CancelAfter(TimeSpan.FromSeconds(10));
        while (true)
        {
            var path = Path.Combine(directory, $"panel-{Interlocked.Increment(ref _photos)}.png");
            rig.Panel.SaveAsPng(path);
            var png = await File.ReadAllBytesAsync(path, cancellationToken);
            if (ShowsQr(png, qrText) || patience.IsCancellationRequested)
            {
                return png; // after the patience, the phone's own decode reports what it sees
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), CancellationToken.None);
        }
    }

    private static bool ShowsQr(byte[] png, string qrText)
    {
        try
        {
            return QrImageReader.Read(png, "the ATM screen") == qrText;
        }
        catch (PhoneInputException)
        {
            return false;
        }
    }
}
