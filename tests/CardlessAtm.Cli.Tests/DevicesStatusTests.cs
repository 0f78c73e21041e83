using CardlessAtm.Cli.Commands;
using CardlessAtm.Devices.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace CardlessAtm.Cli.Tests;

/// <summary><c>devices status</c> says what the dispenser does with notes left at its exit (issue 19: present/take/retract).</summary>
public sealed class DevicesStatusTests : IDisposable
{
    private readonly DirectoryInfo _state = Directory.CreateTempSubdirectory("cardless-atm-status-test-");

    [Theory]
    [InlineData("true", "true", "true", "detects notes taken; retracts and counts after Terminal:PresentTimeout (retracted notes reversed)")]
    [InlineData("true", "true", "false", "detects notes taken; retracts after Terminal:PresentTimeout without counting (reversed as suspect)")]
    [InlineData("true", "false", "false", "detects notes taken; cannot retract: notes left at the exit count as taken")]
    [InlineData("false", "true", "true", "no exit sensor: notes count as taken when presented (no wait, no retract)")]
    public async Task Status_names_the_dispensers_present_and_retract_capability(string exitSensor, string retract, string countsRetracted, string expected)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Devices:Display:Kind"] = "Simulated",
            ["Devices:Keypad:Kind"] = "Simulated",
            ["Devices:Sensors:Kind"] = "Simulated",
            ["Devices:Dispenser:Kind"] = "Simulated",
            ["Devices:Dispenser:StateFile"] = Path.Combine(_state.FullName, "cash-units.json"),
            ["Devices:Dispenser:CashUnits:0:Id"] = "CASS1",
            ["Devices:Dispenser:CashUnits:0:Position"] = "1",
            ["Devices:Dispenser:CashUnits:0:Currency"] = "EUR",
            ["Devices:Dispenser:CashUnits:0:Denomination"] = "10",
            ["Devices:Dispenser:CashUnits:0:Count"] = "100",
            ["Devices:Dispenser:Simulated:ExitSensor"] = exitSensor,
            ["Devices:Dispenser:Simulated:Retract"] = retract,
            ["Devices:Dispenser:Simulated:CountsRetracted"] = countsRetracted,
        }).Build();
        using var services = new ServiceCollection().AddSingleton(TimeProvider.System)
            .AddAtmDevices(configuration, DevicesCommand.AddDeviceKinds).BuildServiceProvider();

        var text = DevicesCommand.DescribeDevices(await services.OpenAtmDevicesAsync());

        Assert.Contains($"{Environment.NewLine}  present/retract: {expected}{Environment.NewLine}", text, StringComparison.Ordinal);
    }

    public void Dispose() => _state.Delete(recursive: true);
}
