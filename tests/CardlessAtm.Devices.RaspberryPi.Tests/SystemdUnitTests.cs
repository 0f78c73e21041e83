namespace CardlessAtm.Devices.RaspberryPi.Tests;

/// <summary>The shipped systemd unit: the doc shows exactly the file, and the file allows what both boards open.</summary>
public sealed class SystemdUnitTests
{
    private static readonly string Hardware = Path.Combine(RepositoryRoot(), "docs", "hardware");

    private static string Unit => File.ReadAllText(Path.Combine(Hardware, "cardless-atm-terminal.service"));

    [Fact]
    public void The_unit_in_the_guide_is_the_shipped_file()
    {
        var guide = File.ReadAllText(Path.Combine(Hardware, "raspberry-pi.md"));
        var start = guide.IndexOf("```ini\n# /etc/systemd/system/cardless-atm-terminal.service", StringComparison.Ordinal);
        Assert.True(start >= 0, "the guide has no copy of the unit");
        var body = guide[(start + "```ini\n".Length)..];
        Assert.Equal(Unit, body[..body.IndexOf("```", StringComparison.Ordinal)]);
    }

    [Theory]
    [InlineData("DeviceAllow=/dev/gpiomem rw")] // Pi 4 GPIO driver
    [InlineData("DeviceAllow=char-gpiochip rw")] // libgpiod opens every chip (Pi 5, edge events)
    [InlineData("DeviceAllow=char-spi rw")]
    [InlineData("DeviceAllow=char-i2c rw")]
    [InlineData("DeviceAllow=char-ttyAMA rw")] // Pi 5 header UART /dev/ttyAMA0, Pi 4 PL011
    [InlineData("DeviceAllow=char-ttyUSB rw")]
    [InlineData("Type=notify")]
    [InlineData("WatchdogSec=30")]
    [InlineData("UMask=0077")]
    [InlineData("DevicePolicy=closed")]
    public void The_unit_has(string line)
    {
        Assert.Contains(line, Unit.Split('\n'));
    }

    [Fact]
    public void No_single_gpiochip_is_listed_since_one_denied_chip_breaks_libgpiod()
    {
        Assert.DoesNotContain(Unit.Split('\n'), l => l.StartsWith("DeviceAllow=/dev/gpiochip", StringComparison.Ordinal));
    }

    private static string RepositoryRoot()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "CardlessAtm.Devices.sln")))
        {
            root = root.Parent;
        }

        return root?.FullName ?? throw new InvalidOperationException("CardlessAtm.Devices.sln not found above " + AppContext.BaseDirectory);
    }
}
