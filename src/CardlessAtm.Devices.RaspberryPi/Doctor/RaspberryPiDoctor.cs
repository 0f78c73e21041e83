using CardlessAtm.Devices.Configuration;
using CardlessAtm.Devices.RaspberryPi.Keypad;
using CardlessAtm.Devices.RaspberryPi.Sensors;
using Microsoft.Extensions.Configuration;

namespace CardlessAtm.Devices.RaspberryPi.Doctor;

/// <summary>The Raspberry Pi boards the doctor tells apart (their GPIO, UART and libgpiod needs differ).</summary>
public enum PiBoard
{
    /// <summary>No <c>/proc/device-tree/model</c> naming a Raspberry Pi.</summary>
    NotAPi,

    /// <summary>Pi 2, 3 or 4 (and Zero, CM3/CM4): GPIO through <c>/dev/gpiomem</c>, header UART as <c>/dev/serial0</c>.</summary>
    Pi4OrEarlier,

    /// <summary>Pi 5 (RP1): GPIO only through libgpiod and every <c>/dev/gpiochip*</c>, header UART <c>/dev/ttyAMA0</c>.</summary>
    Pi5,
}

/// <summary>
/// Checks what the configured devices need of the Pi — each device node, the groups that open it, the boot
/// settings (overlays) that make it appear, and libgpiod — and says how to fix each thing that is missing.
/// Nothing is opened: node access is judged with <c>access(2)</c>, so the doctor runs beside a running terminal.
/// </summary>
/// <remarks>
/// The libgpiod library: Debian/Raspberry Pi OS Bookworm package <c>libgpiod2</c> (<c>libgpiod.so.2</c>);
/// System.Device.Gpio also takes libgpiod v2 (<c>libgpiod.so.3</c>). The Pi 5 driver needs it for every line, the
/// Pi 4 driver for edge events (the GPIO fault sensors).
/// </remarks>
public static class RaspberryPiDoctor
{
    /// <summary>The libgpiod sonames System.Device.Gpio loads, v1 first (Bookworm's <c>libgpiod2</c>).</summary>
    public static readonly IReadOnlyList<string> LibgpiodNames = ["libgpiod.so.2", "libgpiod.so.3"];

    /// <summary>The package that provides <see cref="LibgpiodNames"/> on Raspberry Pi OS / Debian Bookworm.</summary>
    public const string LibgpiodPackage = "libgpiod2";

    private const string ConfigTxt = "/boot/firmware/config.txt";

    /// <summary>Which board <paramref name="machine"/> is, and its model text (null when none).</summary>
    public static (PiBoard Board, string? Model) IdentifyBoard(PiMachine machine)
    {
        ArgumentNullException.ThrowIfNull(machine);
        var model = machine.ReadText("/proc/device-tree/model")?.TrimEnd('\0', '\n', ' ');
        if (string.IsNullOrEmpty(model) || !model.StartsWith("Raspberry Pi", StringComparison.Ordinal))
        {
            return (PiBoard.NotAPi, string.IsNullOrEmpty(model) ? null : model);
        }

        return (model.StartsWith("Raspberry Pi 5", StringComparison.Ordinal) || model.StartsWith("Raspberry Pi Compute Module 5", StringComparison.Ordinal)
            ? PiBoard.Pi5
            : PiBoard.Pi4OrEarlier, model);
    }

    /// <summary>
    /// Throws when the GPIO driver this board needs cannot load: on a Pi 5 always, on earlier boards when edge events
    /// are used. Called at start-up before the GPIO controller is made, so the message names the package.
    /// </summary>
    /// <param name="machine">The machine.</param>
    /// <param name="needsEdgeEvents">True when a configured device waits for GPIO edges.</param>
    /// <param name="setting">The setting that needs GPIO, for the message.</param>
    /// <exception cref="ConfigurationException">libgpiod is needed and does not load.</exception>
    public static void RequireGpioLibrary(PiMachine machine, bool needsEdgeEvents, string setting)
    {
        ArgumentNullException.ThrowIfNull(machine);
        var (board, _) = IdentifyBoard(machine);
        if ((board == PiBoard.Pi5 || (board == PiBoard.Pi4OrEarlier && needsEdgeEvents)) && !LibgpiodNames.Any(machine.CanLoad))
        {
            throw new ConfigurationException(setting, LibgpiodMissing(board));
        }
    }

    /// <summary>Every check the configured devices need, in the order a person would fix them.</summary>
    /// <param name="configuration">The terminal's configuration (its <c>Devices</c> section is read).</param>
    /// <param name="machine">The machine to examine.</param>
    public static IReadOnlyList<DoctorFinding> Examine(IConfiguration configuration, PiMachine machine)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(machine);
        var devices = configuration.GetSection("Devices");
        var needs = Needs.Of(devices);
        var findings = new List<DoctorFinding>();
        var (board, model) = IdentifyBoard(machine);
        var groups = machine.GroupNames();

        if (!needs.Any)
        {
            findings.Add(new DoctorFinding(true, "devices", "no Raspberry Pi device or LCDM-2000 dispenser is configured (Devices:*:Kind); nothing on the board to check."));
            return findings;
        }

        findings.Add(board == PiBoard.NotAPi
            ? new DoctorFinding(
                !needs.Gpio,
                "board",
                model is null ? "not a Raspberry Pi (no /proc/device-tree/model)" : $"not a Raspberry Pi ({model})",
                needs.Gpio ? $"the configured {needs.GpioUsers} need a Raspberry Pi's GPIO header; run this on the Pi, or use the Simulated kinds." : null)
            : new DoctorFinding(true, "board", $"{model} ({(board == PiBoard.Pi5 ? "Pi 5: GPIO through libgpiod on every /dev/gpiochip*" : "GPIO through /dev/gpiomem")})"));

        if (needs.Gpio && board != PiBoard.NotAPi)
        {
            CheckGpio(machine, board, needs, groups, findings);
        }

        foreach (var (node, setting) in needs.SpiNodes)
        {
            CheckNode(machine, node, setting, "spi", groups, findings,
                $"add 'dtparam=spi=on' to {ConfigTxt} (SPI0; 'dtoverlay=spi1-1cs' for SPI1) and reboot.");
        }

        foreach (var (node, setting) in needs.I2cNodes)
        {
            CheckNode(machine, node, setting, "i2c", groups, findings,
                $"add 'dtparam=i2c_arm=on' to {ConfigTxt} (bus 1 on GPIO2/3) and reboot; 'sudo modprobe i2c-dev' if it still does not appear.");
        }

        if (needs.SerialPort is { } port)
        {
            CheckSerial(machine, board, port, groups, findings);
        }

        return findings;
    }

    private static void CheckGpio(PiMachine machine, PiBoard board, Needs needs, IReadOnlySet<string> groups, List<DoctorFinding> findings)
    {
        var library = LibgpiodNames.FirstOrDefault(machine.CanLoad);
        var libraryNeeded = board == PiBoard.Pi5 || needs.EdgeEvents;
        if (library is not null)
        {
            findings.Add(new DoctorFinding(true, "libgpiod", $"{library} loads"));
        }
        else
        {
            findings.Add(new DoctorFinding(
                !libraryNeeded,
                "libgpiod",
                libraryNeeded
                    ? $"none of {string.Join(", ", LibgpiodNames)} loads; {(board == PiBoard.Pi5 ? "the Pi 5 GPIO driver" : "GPIO edge events (" + needs.EdgeEventUsers + ")")} need it"
                    : "not installed (not needed: nothing here waits for GPIO edges on this board)",
                libraryNeeded ? $"sudo apt install {LibgpiodPackage}" : null));
        }

        if (board == PiBoard.Pi4OrEarlier)
        {
            CheckNode(machine, "/dev/gpiomem", needs.GpioUsers, "gpio", groups, findings,
                "the bcm2835-gpiomem driver is missing: use a Raspberry Pi OS kernel.");
        }

        if (board == PiBoard.Pi5 || needs.EdgeEvents)
        {
            // libgpiod walks every chip; one it cannot open fails the lookup of all lines, so every chip must be allowed.
            var chips = machine.List("/dev", "gpiochip*");
            if (chips.Count == 0)
            {
                findings.Add(new DoctorFinding(false, "/dev/gpiochip*", $"no GPIO character device for {needs.GpioUsers}", "use a kernel with the GPIO character device (any Raspberry Pi OS Bookworm kernel)."));
            }

            foreach (var chip in chips)
            {
                CheckNode(machine, chip, needs.GpioUsers, "gpio", groups, findings, string.Empty);
            }
        }
    }

    private static void CheckSerial(PiMachine machine, PiBoard board, string port, IReadOnlySet<string> groups, List<DoctorFinding> findings)
    {
        const string setting = "Devices:Dispenser:Lcdm2000:PortName";
        if (port.Length == 0)
        {
            findings.Add(new DoctorFinding(false, "dispenser port", $"{setting} is not set",
                board == PiBoard.Pi5 ? $"set it to /dev/ttyAMA0 (header UART after 'dtparam=uart0=on') or the USB adapter's /dev/ttyUSB0." : $"set it to /dev/serial0 (header UART) or the USB adapter's /dev/ttyUSB0."));
            return;
        }

        if (board == PiBoard.Pi5 && port is "/dev/serial0" or "/dev/ttyAMA10")
        {
            findings.Add(new DoctorFinding(false, port, $"{setting}: on a Pi 5 this is the debug connector's UART, not the header's GPIO14/15",
                $"wire the dispenser to GPIO14/15, add 'dtparam=uart0=on' to {ConfigTxt}, reboot and set {setting} to /dev/ttyAMA0."));
            return;
        }

        var missingFix = port.StartsWith("/dev/ttyUSB", StringComparison.Ordinal) || port.StartsWith("/dev/ttyACM", StringComparison.Ordinal)
            ? "plug in the USB serial adapter (see 'dmesg | tail' for the name it got)."
            : board == PiBoard.Pi5
                ? $"add 'dtparam=uart0=on' to {ConfigTxt} (header UART on GPIO14/15 = /dev/ttyAMA0) and reboot."
                : $"add 'enable_uart=1' and 'dtoverlay=disable-bt' to {ConfigTxt} (the PL011 UART on GPIO14/15 = /dev/serial0) and reboot.";
        CheckNode(machine, port, setting, "dialout", groups, findings, missingFix);

        var cmdline = machine.ReadText("/boot/firmware/cmdline.txt") ?? machine.ReadText("/boot/cmdline.txt");
        var console = cmdline?.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries)
            .FirstOrDefault(a => a.StartsWith("console=", StringComparison.Ordinal) && SameUart(a["console=".Length..].Split(',')[0], port));
        if (console is not null)
        {
            findings.Add(new DoctorFinding(false, "kernel console", $"'{console}' in cmdline.txt writes boot messages to the dispenser's port {port}",
                $"remove '{console}' from /boot/firmware/cmdline.txt and reboot."));
        }
    }

    private static bool SameUart(string consoleDevice, string port)
    {
        var name = port.StartsWith("/dev/", StringComparison.Ordinal) ? port["/dev/".Length..] : port;
        return consoleDevice == name || (consoleDevice is "serial0" && name is "ttyAMA0" or "ttyS0") || (name == "serial0" && consoleDevice is "ttyAMA0" or "ttyS0");
    }

    private static void CheckNode(PiMachine machine, string node, string setting, string group, IReadOnlySet<string> groups, List<DoctorFinding> findings, string missingFix)
    {
        if (!machine.Exists(node))
        {
            findings.Add(new DoctorFinding(false, node, $"missing ({setting})", missingFix.Length == 0 ? null : missingFix));
            return;
        }

        if (machine.CanReadWrite(node))
        {
            findings.Add(new DoctorFinding(true, node, $"read/write ({setting})"));
            return;
        }

        var fix = groups.Contains(group)
            ? $"this user is in group '{group}' already: check the node's owner and mode (ls -l {node}), and under systemd that the unit allows it (DeviceAllow=, see docs/hardware/raspberry-pi.md)."
            : $"sudo usermod -aG {group} {Environment.UserName}, then log in again (or restart the service; under systemd: SupplementaryGroups={group}).";
        findings.Add(new DoctorFinding(false, node, $"no read/write access ({setting})", fix));
    }

    internal static string LibgpiodMissing(PiBoard board) =>
        $"GPIO needs libgpiod on {(board == PiBoard.Pi5 ? "a Pi 5" : "this board for edge events")} and none of {string.Join(", ", LibgpiodNames)} loads; install it: sudo apt install {LibgpiodPackage} (then run 'cardless-atm devices doctor')";

    /// <summary>What the configured kinds need of the board.</summary>
    private sealed class Needs
    {
        public List<(string Node, string Setting)> SpiNodes { get; } = [];

        public List<(string Node, string Setting)> I2cNodes { get; } = [];

        public List<string> GpioSettings { get; } = [];

        public List<string> EdgeEventSettings { get; } = [];

        public string? SerialPort { get; private set; }

        public bool Gpio => GpioSettings.Count > 0;

        public bool EdgeEvents => EdgeEventSettings.Count > 0;

        public string GpioUsers => string.Join(", ", GpioSettings);

        public string EdgeEventUsers => string.Join(", ", EdgeEventSettings);

        public bool Any => Gpio || SpiNodes.Count > 0 || I2cNodes.Count > 0 || SerialPort is not null;

        public static Needs Of(IConfigurationSection devices)
        {
            var needs = new Needs();
            var display = devices.GetSection("Display");
            if (string.Equals(display["Kind"], RaspberryPiRegistration.Ili934xKind, StringComparison.OrdinalIgnoreCase))
            {
                var options = RaspberryPiRegistration.ReadDisplayOptions(display);
                var tft = options.Ili934x ?? new Display.Ili934xDisplayOptions();
                needs.SpiNodes.Add(($"/dev/spidev{tft.SpiBusId}.{tft.SpiChipSelect}", $"{display.Path}:Ili934x"));
                needs.GpioSettings.Add($"{display.Path}:Ili934x");
                if (options.CharacterLcd is { } lcd)
                {
                    needs.I2cNodes.Add(($"/dev/i2c-{lcd.I2cBusId}", $"{display.Path}:CharacterLcd"));
                }
            }

            var keypad = devices.GetSection("Keypad");
            if (string.Equals(keypad["Kind"], RaspberryPiRegistration.MatrixKind, StringComparison.OrdinalIgnoreCase))
            {
                needs.GpioSettings.Add($"{keypad.Path}:Matrix");
            }
            else if (string.Equals(keypad["Kind"], RaspberryPiRegistration.TouchKind, StringComparison.OrdinalIgnoreCase))
            {
                var touch = new TouchKeypadOptions();
                AtmDevicesBuilder.Bind(keypad.GetSection(RaspberryPiRegistration.TouchKind), touch);
                needs.I2cNodes.Add(($"/dev/i2c-{touch.I2cBusId}", $"{keypad.Path}:Touch"));
                needs.GpioSettings.Add($"{keypad.Path}:Touch");
            }
            else if (string.Equals(keypad["Kind"], RaspberryPiRegistration.Xpt2046Kind, StringComparison.OrdinalIgnoreCase))
            {
                var touch = new Touch.Xpt2046Options();
                AtmDevicesBuilder.Bind(keypad.GetSection(RaspberryPiRegistration.Xpt2046Kind), touch);
                needs.SpiNodes.Add(($"/dev/spidev{touch.SpiBusId}.{touch.SpiChipSelect}", $"{keypad.Path}:Xpt2046"));
                needs.GpioSettings.Add($"{keypad.Path}:Xpt2046");
            }

            var sensors = devices.GetSection("Sensors");
            if (string.Equals(sensors["Kind"], RaspberryPiRegistration.GpioKind, StringComparison.OrdinalIgnoreCase))
            {
                var options = new GpioFaultSensorsOptions();
                AtmDevicesBuilder.Bind(sensors.GetSection(RaspberryPiRegistration.GpioKind), options);
                needs.GpioSettings.Add($"{sensors.Path}:Gpio");
                if (options.Sensors.Any(s => s.Pin is not null))
                {
                    needs.EdgeEventSettings.Add($"{sensors.Path}:Gpio");
                }
            }

            var dispenser = devices.GetSection("Dispenser");
            if (string.Equals(dispenser["Kind"], "Lcdm2000", StringComparison.OrdinalIgnoreCase))
            {
                needs.SerialPort = dispenser["Lcdm2000:PortName"] ?? string.Empty;
            }

            return needs;
        }
    }
}
