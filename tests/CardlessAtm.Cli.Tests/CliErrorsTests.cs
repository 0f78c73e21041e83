using CardlessAtm.Cli.Commands;
using CardlessAtm.Proxy;
using CardlessAtm.Qr;
using CardlessAtm.Qr.Sessions;
using CardlessAtm.Terminal;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CardlessAtm.Cli.Tests;

/// <summary>The one place a configuration error becomes exit code 2 and one line naming the setting.</summary>
public sealed class CliErrorsTests
{
    [Fact]
    public void A_configuration_exception_exits_2_with_its_one_line()
    {
        var (exit, line) = CliErrors.Describe(new AggregateException(new ConfigurationException("Devices:Dispenser:StateFile", "must be set")));

        Assert.Equal(CliErrors.ConfigurationExit, exit);
        Assert.Equal("Configuration error in Devices:Dispenser:StateFile: must be set.", line);
    }

    [Fact]
    public void A_failed_options_validation_exits_2_with_one_line_naming_every_setting()
    {
        var invalid = new OptionsValidationException(
            string.Empty,
            typeof(object),
            ["Devices:Dispenser:Lcdm2000:PortName: must be set.", "Devices:Dispenser:Lcdm2000:BaudRate: 12345 is not\na line speed"]);

        var (exit, line) = CliErrors.Describe(invalid);

        Assert.Equal(2, exit);
        Assert.Equal("Configuration error in Devices:Dispenser:Lcdm2000:PortName: must be set; Devices:Dispenser:Lcdm2000:BaudRate: 12345 is not a line speed.", line);
        Assert.DoesNotContain('\n', line);
    }

    [Fact]
    public void A_bad_QrSession_setting_is_one_line_naming_it_without_the_argument_exception_text()
    {
        using var services = new ServiceCollection().AddQrSessionOptions(Configuration(new() { ["QrSession:Lifetime"] = "00:00:01" })).BuildServiceProvider();
        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<QrSessionOptions>>().Value);

        var (exit, line) = CliErrors.Describe(error);

        Assert.Equal(CliErrors.ConfigurationExit, exit);
        Assert.Equal("Configuration error in QrSession:Lifetime: QrSession:Lifetime must be between 00:00:05 and 01:00:00, got 00:00:01.", line);
    }

    [Fact]
    public void A_bad_terminal_setting_read_by_the_terminal_command_is_the_same_one_line_the_setting_error_gives()
    {
        using var services = new ServiceCollection().AddTerminalOptions(Configuration(new() { ["Terminal:AtmId"] = "atm-1" })).BuildServiceProvider();
        var error = Assert.Throws<OptionsValidationException>(() => TerminalCommand.ReadOptions(services));

        var (exit, line) = CliErrors.Describe(error);

        Assert.Equal(CliErrors.ConfigurationExit, exit);
        Assert.Equal(new ConfigurationException("Terminal:AtmId", "'atm-1' is not an ATM id (8 characters, A–Z and 0–9)").Message, line);
    }

    [Fact]
    public void A_bad_proxy_setting_is_one_line_naming_it()
    {
        using var services = new ServiceCollection().AddLogging().AddProxy(Configuration(new() { ["Proxy:Atm:Port"] = "70000" })).BuildServiceProvider();
        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<ProxyOptions>>().Value);

        var (exit, line) = CliErrors.Describe(error);

        Assert.Equal(CliErrors.ConfigurationExit, exit);
        Assert.Equal("Configuration error in Proxy:Atm:Port: Proxy:Atm:Port must be 0–65535 (0 picks a free port).", line);
    }

    private static IConfiguration Configuration(Dictionary<string, string?> settings) => new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
}
