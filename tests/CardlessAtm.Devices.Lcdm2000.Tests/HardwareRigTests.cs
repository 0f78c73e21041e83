using CardlessAtm.Devices.Dispenser;

namespace CardlessAtm.Devices.Lcdm2000.Tests;

/// <summary>A test that runs only when a real LCDM-2000 is attached and declared.</summary>
public sealed class RigFactAttribute : FactAttribute
{
    public const string Variable = "CARDLESS_ATM_LCDM2000_PORT";

    public RigFactAttribute()
    {
        if (string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(Variable)))
        {
            Skip = $"No LCDM-2000 rig: set {Variable} to its serial device (e.g. /dev/ttyUSB0) to run this test.";
        }
    }
}

public class HardwareRigTests
{
    /// <summary>Reads the version and status of the real unit and test-dispenses one note into its reject tray (no cash is presented).</summary>
    [RigFact]
    public async Task Real_unit_answers_and_test_dispenses_into_the_reject_tray()
    {
        var options = new Lcdm2000Options { PortName = Environment.GetEnvironmentVariable(RigFactAttribute.Variable)! };
        using var dispenser = Lcdm2000Dispenser.Create(options);
        var failure = await dispenser.OpenAsync(CancellationToken.None);
        Assert.True(failure is null, failure?.Detail);
        Assert.NotNull(dispenser.RomVersion);
        var test = await dispenser.TestDispenseAsync(1, CancellationToken.None);
        Assert.True(test.Completion == DispenseCompletion.Ok, test.Detail);
        Assert.Equal(0, test.TotalPresented);
    }
}
