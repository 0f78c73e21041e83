using CardlessAtm.Devices.Dispenser;

namespace CardlessAtm.Devices.Lcdm2000.Tests;

public class SmokeTests
{
    [Fact]
    public async Task Dispense_forty_notes_from_upper()
    {
        using var rig = new Rig();
        Assert.Null(await rig.Dispenser.OpenAsync(CancellationToken.None));
        var result = await rig.Dispenser.DispenseAsync([new PositionCount(1, 40)], CancellationToken.None);
        Assert.Equal(DispenseCompletion.Ok, result.Completion);
        Assert.Equal(40, result.TotalPresented);
        Assert.Equal(460, rig.Emulator.UpperCount);
    }
}
