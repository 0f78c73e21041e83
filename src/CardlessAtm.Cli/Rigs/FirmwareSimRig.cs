using System.CommandLine;
using System.Device.Gpio;
using System.Device.I2c;
using System.Device.Spi;
using System.Globalization;
using CardlessAtm.Devices.Keypad;
using CardlessAtm.Devices.RaspberryPi.Buses;
using CardlessAtm.Devices.RaspberryPi.Keypad;
using CardlessAtm.FirmwareSim.Gpio;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.Memory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Cli.Rigs;

/// <summary>
/// The firmware-sim rig (<c>Devices:Rig = FirmwareSim</c>, <c>--rig firmware-sim</c>): the Raspberry Pi drivers, through the
/// Pi's own registration, against emulated parts wired to a virtual board — the ILI9341 panel emulator on SPI bus 0 chip
/// select 0 (MISO wired, mode 3, at most <see cref="PanelMaxClockHz"/>), the HD44780/PCF8574 mirror LCD at 0x27 on I2C bus 1,
/// a 4×4 key matrix and the door, shutter and tamper reed switches on the GPIO lines of docs/hardware/raspberry-pi.md, and
/// a Puloon dispenser's firmware on a pseudo-terminal: the LCDM-2000 (two cassettes, the default) or, with
/// <c>FirmwareSim:Dispenser:Model = Lcdm4000</c>, the LCDM-4000 (four cassettes). The wiring is the rig's hardware and never changes; <see cref="Settings"/>
/// is the shipped configuration that matches it, under anything the user sets, so a wrong bus, chip select, clock or
/// address in configuration fails the way it would on a Pi. Nothing here needs the kernel's buses (it runs under QEMU).
/// </summary>
internal sealed class FirmwareSimRig : IDisposable
{
    /// <summary>The setting that selects a rig.</summary>
    public const string RigSetting = "Devices:Rig";

    /// <summary>Its value for this rig.</summary>
    public const string Name = "FirmwareSim";

    /// <summary>The fastest SPI clock the emulated panel follows (the ILI9341 modules of the BOM take 40 MHz on short wires).</summary>
    public const int PanelMaxClockHz = 40_000_000;

    /// <summary>Notes in each emulated cassette at start (and the configured counts).</summary>
    public const int NotesPerCassette = 500;

    /// <summary>The setting that selects the rig's dispenser: <c>Lcdm2000</c> (default) or <c>Lcdm4000</c>.</summary>
    public const string DispenserModelSetting = RigDispenserOptions.ModelSetting;

    /// <summary>
    /// A jam injected in the rig's dispenser emulator (either model) when the rig starts: the first dispense jams at the exit
    /// after this many notes (for a terminal started as its own process, whose rig nobody else can reach). Unset: no jam.
    /// </summary>
    public const string JamAfterNotesSetting = RigDispenserOptions.JamAfterNotesSetting;

    private static readonly (string Id, SensorPin Pin)[] Switches =
    [
        ("SafeDoor", new(17, "SafeDoor")),
        ("CabinetDoor", new(27, "CabinetDoor")),
        ("Shutter", new(22, "ShutterClosed")),
        ("Tamper", new(23, "Tamper")),
    ];

    // A finger holds a key about 100 ms and lifts it for longer; the driver ignores a key while the last one's release has
    // not settled (its 25 ms debounce, on a real clock that a busy machine stretches).
    private static readonly TimeSpan KeyHold = TimeSpan.FromMilliseconds(150);
    private static readonly TimeSpan KeyGap = TimeSpan.FromMilliseconds(200);

    private readonly MatrixKeypadOptions _keypadWiring = new();
    private readonly AtmKey?[,] _keyMap;
    private readonly Dictionary<string, SimulatedSwitch> _switches = [];

    private FirmwareSimRig(RigDispenserOptions dispenserOptions, ILoggerFactory? loggers)
    {
        Board = new VirtualGpioBoard(TimeProvider.System);
        Panel = new Ili934xPanelEmulator(Board, dataCommandPin: 25, resetPin: 24) { MisoWired = true };
        MirrorLcd = new Hd44780Pcf8574Emulator(address: 0x27, busId: 1);
        Buses.AttachSpi(Panel, PanelMaxClockHz);
        Buses.AttachI2c(MirrorLcd);
        Keys = Board.AddKeyMatrix("Keypad", _keypadWiring.RowPins, _keypadWiring.ColumnPins);
        _keyMap = MatrixKeyMap.Build(_keypadWiring);
        foreach (var (id, pin) in Switches)
        {
            _switches[id] = Board.AddSwitch(id, pin.Bcm, PinValue.Low, closed: true);
        }

        Dispenser = RigDispenser.Start(dispenserOptions, loggers);
    }

    /// <summary>The virtual board every emulated part is wired to.</summary>
    public VirtualGpioBoard Board { get; }

    /// <summary>The SPI and I2C buses of the rig.</summary>
    public EmulatedBuses Buses { get; } = new();

    /// <summary>The customer TFT's glass.</summary>
    public Ili934xPanelEmulator Panel { get; }

    /// <summary>The mirror character LCD.</summary>
    public Hd44780Pcf8574Emulator MirrorLcd { get; }

    /// <summary>The key matrix under the keypad driver.</summary>
    public SimulatedKeyMatrix Keys { get; }

    /// <summary>The dispenser firmware (LCDM-2000 or LCDM-4000) behind the pseudo-terminal.</summary>
    public RigDispenser Dispenser { get; }

    /// <summary>True when configuration selects this rig.</summary>
    public static bool IsSelected(IConfiguration configuration) =>
        string.Equals(configuration[RigSetting], Name, StringComparison.OrdinalIgnoreCase);

    /// <summary>Parses <c>--rig</c>: <c>simulated</c> (null: no rig settings) or <c>firmware-sim</c>.</summary>
    /// <exception cref="UsageException">Another value.</exception>
    public static bool ParseRigOption(string? value) => value?.ToLowerInvariant() switch
    {
        null or "simulated" => false,
        "firmware-sim" or "firmwaresim" => true,
        _ => throw new UsageException($"--rig: '{value}' is not a rig; use simulated or firmware-sim"),
    };

    /// <summary>The <c>--dispenser</c> option of <c>demo</c> and <c>terminal</c>: the rig's dispenser, over <see cref="DispenserModelSetting"/>.</summary>
    public static Option<string?> CreateDispenserOption()
    {
        var option = new Option<string?>("--dispenser")
        {
            Description = "With --rig firmware-sim: the dispenser the rig emulates, lcdm2000 (two cassettes, the default) or lcdm4000 (four cassettes, "
                + $"the LCDM-4000 driver); the same as {DispenserModelSetting}=Lcdm2000|Lcdm4000.",
        };
        option.AcceptOnlyFromAmong("lcdm2000", "lcdm4000");
        return option;
    }

    /// <summary>Parses <c>--dispenser</c> (null: not given, the setting decides).</summary>
    /// <exception cref="UsageException">Given without the firmware-sim rig (<paramref name="onRig"/> false).</exception>
    public static RigDispenserModel? ParseDispenserOption(string? value, bool onRig) => value switch
    {
        null => null,
        _ when !onRig => throw new UsageException("--dispenser chooses the firmware-sim rig's dispenser; give it with --rig firmware-sim"),
        _ => RigDispenserOptions.ParseModel(value),
    };

    /// <summary>
    /// When <c>--rig firmware-sim</c> was given (<paramref name="requested"/>) or <c>Devices:Rig</c> is <c>FirmwareSim</c>: starts
    /// the rig, puts its settings under the user's (above the shipped appsettings.json, below --config, environment and --set)
    /// and points the Pi registration at it. The caller owns the returned rig; null when no rig is selected.
    /// </summary>
    /// <param name="builder">The host being built.</param>
    /// <param name="requested">True for <c>--rig firmware-sim</c>.</param>
    /// <param name="model"><c>--dispenser</c>, over <see cref="DispenserModelSetting"/>; null: the setting (default LCDM-2000).</param>
    /// <exception cref="ConfigurationException">A rig setting is wrong; the message names it.</exception>
    public static FirmwareSimRig? AttachIfSelected(HostApplicationBuilder builder, bool requested, RigDispenserModel? model = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (!requested && !IsSelected(builder.Configuration))
        {
            return null;
        }

        var options = RigDispenserOptions.Read(builder.Configuration, model);
        var rig = Start(dispenserOptions: options);
        var data = builder.Configuration["Terminal:DataDirectory"];
        var state = string.IsNullOrWhiteSpace(data)
            ? Directory.CreateTempSubdirectory("cardless-atm-firmware-sim-").FullName
            : Path.Combine(data, "firmware-sim");
        Directory.CreateDirectory(state);
        var below = ((IHostApplicationBuilder)builder).Properties.TryGetValue(CliHost.UserSettingsStartKey, out var index) ? (int)index : builder.Configuration.Sources.Count;
        builder.Configuration.Sources.Insert(below, new MemoryConfigurationSource { InitialData = rig.Settings(state) });
        rig.AddServices(builder.Services);
        return rig;
    }

    /// <summary>Starts the emulators (the dispenser's firmware, by default the LCDM-2000's, on a new pseudo-terminal).</summary>
    public static FirmwareSimRig Start(ILoggerFactory? loggers = null, RigDispenserOptions? dispenserOptions = null) =>
        new(dispenserOptions ?? RigDispenserOptions.Default(), loggers);

    /// <summary>
    /// The shipped settings of the rig: the Pi kinds with the wiring above and the dispenser's kind on its pty with its cash
    /// units (LCDM-2000: EUR 10s in the upper and 50s in the lower cassette; LCDM-4000: EUR 5s, 10s, 20s and 50s in positions
    /// 1–4). They sit under the user's configuration; <paramref name="stateDirectory"/> holds the cash-unit and counter files.
    /// </summary>
    public Dictionary<string, string?> Settings(string stateDirectory)
    {
        var settings = new Dictionary<string, string?>
        {
            [RigSetting] = Name,
            ["Devices:Display:Kind"] = "Ili934x",
            ["Devices:Display:Ili934x:Model"] = "Ili9341",
            ["Devices:Display:Ili934x:SpiBusId"] = "0",
            ["Devices:Display:Ili934x:SpiChipSelect"] = "0",
            ["Devices:Display:Ili934x:SpiClockHz"] = "24000000",
            ["Devices:Display:Ili934x:DataCommandPin"] = "25",
            ["Devices:Display:Ili934x:ResetPin"] = "24",
            ["Devices:Display:Ili934x:BacklightPin"] = "18",
            ["Devices:Display:Ili934x:MisoWired"] = "true",
            ["Devices:Display:CharacterLcd:I2cBusId"] = "1",
            ["Devices:Display:CharacterLcd:I2cAddress"] = "39",
            ["Devices:FaultCheck:AcceptUnverifiedDisplay"] = "false",
            ["Devices:Keypad:Kind"] = "Matrix",
            ["Devices:Sensors:Kind"] = "Gpio",
            ["Devices:Dispenser:StateFile"] = Path.Combine(stateDirectory, "cash-units.json"),
        };
        Dispenser.AddSettings(settings, stateDirectory);
        for (var i = 0; i < Switches.Length; i++)
        {
            settings[$"Devices:Sensors:Gpio:Sensors:{i}:Id"] = Switches[i].Id;
            settings[$"Devices:Sensors:Gpio:Sensors:{i}:Kind"] = Switches[i].Pin.Kind;
            settings[$"Devices:Sensors:Gpio:Sensors:{i}:Pin"] = Switches[i].Pin.Bcm.ToString(CultureInfo.InvariantCulture);
        }

        var units = Dispenser.CashUnits;
        for (var i = 0; i < units.Count; i++)
        {
            settings[$"Devices:Dispenser:CashUnits:{i}:Id"] = units[i].Id;
            settings[$"Devices:Dispenser:CashUnits:{i}:Position"] = units[i].Position.ToString(CultureInfo.InvariantCulture);
            settings[$"Devices:Dispenser:CashUnits:{i}:Currency"] = "EUR";
            settings[$"Devices:Dispenser:CashUnits:{i}:Denomination"] = units[i].Denomination.ToString(CultureInfo.InvariantCulture);
            settings[$"Devices:Dispenser:CashUnits:{i}:Count"] = NotesPerCassette.ToString(CultureInfo.InvariantCulture);
        }

        return settings;
    }

    /// <summary>Points the Pi registration at the rig: the board's GPIO controller and the emulated buses.</summary>
    public void AddServices(IServiceCollection services)
    {
        services.AddSingleton(_ => Board.CreateController());
        services.AddSingleton<IPiBuses>(new RigBuses(Buses));
    }

    /// <summary>A reed switch of the rig by id (SafeDoor, CabinetDoor, Shutter, Tamper): closed = safe.</summary>
    public void SetSwitch(string id, bool closed) =>
        (_switches.TryGetValue(id, out var contact) ? contact : throw new ArgumentException($"The rig has no switch '{id}'.", nameof(id))).Set(closed);

    /// <summary>Whether the reed switch <paramref name="id"/> is closed (safe).</summary>
    public bool IsSwitchClosed(string id) =>
        (_switches.TryGetValue(id, out var contact) ? contact : throw new ArgumentException($"The rig has no switch '{id}'.", nameof(id))).IsClosed;

    /// <summary>Presses and releases each key on the matrix, as a finger would, waiting for the scanner to see it.</summary>
    public void Press(params AtmKey[] keys)
    {
        foreach (var key in keys)
        {
            var (row, column) = PositionOf(key);
            Keys.Tap(row, column, KeyHold, TimeSpan.FromSeconds(5));
            Board.Advance(KeyGap);
        }
    }

    /// <summary>Types digits on the matrix.</summary>
    public void Type(string digits) =>
        Press([.. digits.Select(c => c is >= '0' and <= '9' ? AtmKey.D0 + (c - '0') : throw new ArgumentException($"'{c}' is not a digit.", nameof(digits)))]);

    /// <summary>Stops the dispenser firmware and closes its pseudo-terminal.</summary>
    public void Dispose()
    {
        Dispenser.Dispose();
        Panel.Dispose();
        MirrorLcd.Dispose();
    }

    private (int Row, int Column) PositionOf(AtmKey key)
    {
        for (var row = 0; row < _keyMap.GetLength(0); row++)
        {
            for (var column = 0; column < _keyMap.GetLength(1); column++)
            {
                if (_keyMap[row, column] == key)
                {
                    return (row, column);
                }
            }
        }

        throw new ArgumentException($"The rig's keypad has no {key} key.", nameof(key));
    }

    private readonly record struct SensorPin(int Bcm, string Kind);

    /// <summary>The Pi registration's view of the rig's buses.</summary>
    private sealed class RigBuses(EmulatedBuses buses) : IPiBuses
    {
        public SpiDevice OpenSpi(SpiConnectionSettings settings) => buses.OpenSpi(settings);

        public I2cDevice OpenI2c(I2cConnectionSettings settings) => buses.OpenI2c(settings);
    }
}
