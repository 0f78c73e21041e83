using CardlessAtm.Devices.RaspberryPi.Doctor;
using Microsoft.Extensions.Configuration;

namespace CardlessAtm.Devices.RaspberryPi.Tests;

/// <summary>
/// The doctor against prepared machine trees (a Pi 4 and a Pi 5 as Raspberry Pi OS Bookworm lays them out): the
/// device nodes are plain files, access and library loading are decided by the test.
/// </summary>
public sealed class DoctorTests : IDisposable
{
    private const string Pi4 = "Raspberry Pi 4 Model B Rev 1.5\0";
    private const string Pi5 = "Raspberry Pi 5 Model B Rev 1.0\0";

    private static readonly Dictionary<string, string?> FullRig = new()
    {
        ["Devices:Display:Kind"] = "Ili934x",
        ["Devices:Display:Ili934x:SpiBusId"] = "0",
        ["Devices:Display:Ili934x:SpiChipSelect"] = "0",
        ["Devices:Keypad:Kind"] = "Touch",
        ["Devices:Keypad:Touch:I2cBusId"] = "1",
        ["Devices:Sensors:Kind"] = "Gpio",
        ["Devices:Sensors:Gpio:Sensors:0:Id"] = "SafeDoor",
        ["Devices:Sensors:Gpio:Sensors:0:Kind"] = "SafeDoor",
        ["Devices:Sensors:Gpio:Sensors:0:Pin"] = "17",
        ["Devices:Dispenser:Kind"] = "Lcdm2000",
        ["Devices:Dispenser:Lcdm2000:PortName"] = "/dev/ttyAMA0",
    };

    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("cardless-doctor-");
    private readonly HashSet<string> _denied = new(StringComparer.Ordinal);
    private readonly HashSet<string> _libraries = new(StringComparer.Ordinal) { "libgpiod.so.2" };

    public void Dispose() => _root.Delete(recursive: true);

    [Fact]
    public void A_complete_Pi_5_rig_has_nothing_to_fix_and_every_chip_is_checked()
    {
        Board(Pi5);
        Nodes("/dev/gpiochip0", "/dev/gpiochip4", "/dev/gpiochip10", "/dev/spidev0.0", "/dev/i2c-1", "/dev/ttyAMA0");
        Groups("gpio", "spi", "i2c", "dialout");

        var findings = Examine(FullRig);

        Assert.All(findings, f => Assert.True(f.Ok, f.ToString()));
        Assert.Contains(findings, f => f.Subject == "board" && f.Detail.Contains("Raspberry Pi 5", StringComparison.Ordinal));
        Assert.Equal(["/dev/gpiochip0", "/dev/gpiochip10", "/dev/gpiochip4"], findings.Where(f => f.Subject.StartsWith("/dev/gpiochip", StringComparison.Ordinal)).Select(f => f.Subject));
        Assert.DoesNotContain(findings, f => f.Subject == "/dev/gpiomem");
    }

    [Fact]
    public void The_xpt2046_touch_keypad_needs_its_own_spidev_node_beside_the_tfts()
    {
        Board(Pi5);
        Nodes("/dev/gpiochip0", "/dev/gpiochip4", "/dev/spidev0.0", "/dev/ttyAMA0");
        Groups("gpio", "spi", "dialout");
        var settings = new Dictionary<string, string?>(FullRig) { ["Devices:Keypad:Kind"] = "Xpt2046" };

        var problem = Assert.Single(Examine(settings), f => !f.Ok);

        Assert.Equal("/dev/spidev0.1", problem.Subject);
        Assert.Contains("Devices:Keypad:Xpt2046", problem.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void On_a_Pi_5_one_gpiochip_the_process_cannot_open_is_a_problem_naming_the_group()
    {
        Board(Pi5);
        Nodes("/dev/gpiochip0", "/dev/gpiochip4", "/dev/spidev0.0", "/dev/i2c-1", "/dev/ttyAMA0");
        Groups("spi", "i2c", "dialout");
        _denied.Add("/dev/gpiochip0");

        var problem = Assert.Single(Examine(FullRig), f => !f.Ok);

        Assert.Equal("/dev/gpiochip0", problem.Subject);
        Assert.Contains("usermod -aG gpio", problem.Fix, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_libgpiod_on_a_Pi_5_names_the_package_to_install()
    {
        Board(Pi5);
        Nodes("/dev/gpiochip0", "/dev/spidev0.0", "/dev/i2c-1", "/dev/ttyAMA0");
        _libraries.Clear();

        var problem = Assert.Single(Examine(FullRig), f => !f.Ok);

        Assert.Equal("libgpiod", problem.Subject);
        Assert.Equal("sudo apt install libgpiod2", problem.Fix);
    }

    [Fact]
    public void On_a_Pi_5_the_serial0_alias_is_refused_as_the_debug_UART_with_the_uart0_fix()
    {
        Board(Pi5);
        Nodes("/dev/gpiochip0", "/dev/spidev0.0", "/dev/i2c-1", "/dev/serial0");
        var settings = new Dictionary<string, string?>(FullRig) { ["Devices:Dispenser:Lcdm2000:PortName"] = "/dev/serial0" };

        var problem = Assert.Single(Examine(settings), f => !f.Ok);

        Assert.Equal("/dev/serial0", problem.Subject);
        Assert.Contains("dtparam=uart0=on", problem.Fix, StringComparison.Ordinal);
        Assert.Contains("/dev/ttyAMA0", problem.Fix, StringComparison.Ordinal);
    }

    [Fact]
    public void A_Pi_4_needs_gpiomem_and_for_the_sensors_edges_libgpiod_and_its_chips()
    {
        Board(Pi4);
        Nodes("/dev/gpiomem", "/dev/gpiochip0", "/dev/spidev0.0", "/dev/i2c-1", "/dev/serial0");
        var settings = new Dictionary<string, string?>(FullRig) { ["Devices:Dispenser:Lcdm2000:PortName"] = "/dev/serial0" };
        _denied.Add("/dev/gpiomem");
        _libraries.Clear();

        var problems = Examine(settings).Where(f => !f.Ok).ToList();

        Assert.Equal(["libgpiod", "/dev/gpiomem"], problems.Select(p => p.Subject));
        Assert.Contains("Devices:Sensors:Gpio", problems[0].Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_Pi_4_without_wired_sensors_does_not_need_libgpiod()
    {
        Board(Pi4);
        Nodes("/dev/gpiomem", "/dev/spidev0.0", "/dev/i2c-1", "/dev/serial0");
        _libraries.Clear();
        var settings = new Dictionary<string, string?>(FullRig)
        {
            ["Devices:Sensors:Gpio:Sensors:0:Pin"] = null,
            ["Devices:Dispenser:Lcdm2000:PortName"] = "/dev/serial0",
        };

        var findings = Examine(settings);

        Assert.All(findings, f => Assert.True(f.Ok, f.ToString()));
        Assert.DoesNotContain(findings, f => f.Subject.StartsWith("/dev/gpiochip", StringComparison.Ordinal));
    }

    [Fact]
    public void Missing_nodes_name_the_boot_setting_that_makes_them_appear()
    {
        Board(Pi4);
        Nodes("/dev/gpiomem", "/dev/gpiochip0");

        var problems = Examine(new Dictionary<string, string?>(FullRig) { ["Devices:Dispenser:Lcdm2000:PortName"] = "/dev/serial0" })
            .Where(f => !f.Ok).ToDictionary(f => f.Subject);

        Assert.Contains("dtparam=spi=on", problems["/dev/spidev0.0"].Fix, StringComparison.Ordinal);
        Assert.Contains("dtparam=i2c_arm=on", problems["/dev/i2c-1"].Fix, StringComparison.Ordinal);
        Assert.Contains("enable_uart=1", problems["/dev/serial0"].Fix, StringComparison.Ordinal);
        Assert.Contains("Devices:Display:Ili934x", problems["/dev/spidev0.0"].Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_kernel_console_on_the_dispensers_UART_is_a_problem()
    {
        Board(Pi4);
        Nodes("/dev/gpiomem", "/dev/gpiochip0", "/dev/spidev0.0", "/dev/i2c-1", "/dev/serial0");
        File("/boot/firmware/cmdline.txt", "console=serial0,115200 console=tty1 root=PARTUUID=1234-02 rootwait\n");

        var problem = Assert.Single(Examine(new Dictionary<string, string?>(FullRig) { ["Devices:Dispenser:Lcdm2000:PortName"] = "/dev/serial0" }), f => !f.Ok);

        Assert.Equal("kernel console", problem.Subject);
        Assert.Contains("remove 'console=serial0,115200'", problem.Fix, StringComparison.Ordinal);
    }

    [Fact]
    public void A_denied_node_for_a_user_already_in_the_group_points_at_the_node_and_the_unit()
    {
        Board(Pi4);
        Nodes("/dev/gpiomem", "/dev/gpiochip0", "/dev/spidev0.0", "/dev/i2c-1", "/dev/serial0");
        Groups("gpio", "spi", "i2c", "dialout");
        _denied.Add("/dev/spidev0.0");

        var problem = Assert.Single(Examine(new Dictionary<string, string?>(FullRig) { ["Devices:Dispenser:Lcdm2000:PortName"] = "/dev/serial0" }), f => !f.Ok);

        Assert.Contains("in group 'spi' already", problem.Fix, StringComparison.Ordinal);
        Assert.Contains("DeviceAllow", problem.Fix, StringComparison.Ordinal);
    }

    [Fact]
    public void Simulated_devices_have_nothing_to_check()
    {
        var finding = Assert.Single(Examine(new Dictionary<string, string?> { ["Devices:Display:Kind"] = "Simulated" }));

        Assert.True(finding.Ok);
    }

    [Fact]
    public void Pi_devices_configured_off_a_Pi_are_a_problem()
    {
        var problem = Assert.Single(Examine(FullRig), f => f.Subject == "board");

        Assert.False(problem.Ok);
        Assert.Contains("not a Raspberry Pi", problem.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void At_start_up_a_Pi_5_without_libgpiod_is_a_configuration_error_naming_the_package_before_GPIO_is_touched()
    {
        Board(Pi5);
        _libraries.Clear();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(FullRig).Build();
        var created = false;

        var error = Assert.Throws<ConfigurationException>(() => RaspberryPiRegistration.OpenGpioController(configuration, Machine(), () =>
        {
            created = true;
            throw new InvalidOperationException("unreachable");
        }));

        Assert.False(created);
        Assert.Contains("sudo apt install libgpiod2", error.Message, StringComparison.Ordinal);
        Assert.Equal("Devices (GPIO)", error.Setting);
    }

    [Fact]
    public void At_start_up_a_GPIO_controller_that_cannot_open_says_why_and_how_to_fix_it_in_one_message()
    {
        Board(Pi4);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>()).Build();

        var error = Assert.Throws<ConfigurationException>(() => RaspberryPiRegistration.OpenGpioController(configuration, Machine(), () =>
            throw new UnauthorizedAccessException("Access to the path '/dev/gpiomem' is denied.")));

        Assert.Contains("permission denied", error.Message, StringComparison.Ordinal);
        Assert.Contains("'gpio' group", error.Message, StringComparison.Ordinal);
        Assert.Contains("devices doctor", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("..", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(".;", error.Message, StringComparison.Ordinal);
    }

    private IReadOnlyList<DoctorFinding> Examine(Dictionary<string, string?> settings) =>
        RaspberryPiDoctor.Examine(new ConfigurationBuilder().AddInMemoryCollection(settings).Build(), Machine());

    private PiMachine Machine() => new(
        _root.FullName,
        path => !_denied.Contains("/" + Path.GetRelativePath(_root.FullName, path).Replace('\\', '/')),
        _libraries.Contains);

    private void Board(string model) => File("/proc/device-tree/model", model);

    private void Nodes(params string[] nodes)
    {
        foreach (var node in nodes)
        {
            File(node, string.Empty);
        }
    }

    private void Groups(params string[] names)
    {
        var lines = names.Select((n, i) => $"{n}:x:{900 + i}:pi").Prepend("root:x:0:");
        File("/etc/group", string.Join('\n', lines) + "\n");
        File("/proc/self/status", $"Name:\tcardless-atm\nGroups:\t{string.Join(' ', names.Select((_, i) => 900 + i))}\n");
    }

    private void File(string absolute, string content)
    {
        var path = Path.Combine(_root.FullName, absolute.TrimStart('/'));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        System.IO.File.WriteAllText(path, content);
    }
}
