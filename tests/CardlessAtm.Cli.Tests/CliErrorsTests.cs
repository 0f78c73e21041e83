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
}
