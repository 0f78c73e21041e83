using CardlessAtm.Cli.Commands;
using CardlessAtm.Cli.Rigs;
using CardlessAtm.Devices.Configuration;
using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Lcdm4000;
using CardlessAtm.Devices.Status;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace CardlessAtm.Cli.Tests;

/// <summary>The firmware-sim rig with <c>FirmwareSim:Dispenser:Model = Lcdm4000</c>: the LCDM-4000 driver into the rig's LCDM-4000 emulator.</summary>
public sealed class FirmwareSimRigLcdm4000Tests : IDisposable
{
    private readonly DirectoryInfo _state = Directory.CreateTempSubdirectory("cardless-atm-rig4000-test-");
    private FirmwareSimRig? _rig;

    [Fact]
    public async Task The_rig_with_the_LCDM_4000_pays_a_withdrawal_out_of_the_emulated_cassettes_through_the_real_driver()
    {
        using var services = Build(RigDispenserOptions.Default(RigDispenserModel.Lcdm4000));
        var devices = await services.OpenAtmDevicesAsync();
        await devices.Dispenser.RefreshStatusAsync(CancellationToken.None);

        Assert.IsType<Lcdm4000Dispenser>(services.GetRequiredService<IDispenserDevice>());
        Assert.Equal(DeviceState.Online, devices.Dispenser.Status.Device);
        Assert.Equal(["CASS1", "CASS2", "CASS3", "CASS4"], devices.Dispenser.CashUnits.Select(u => u.Id));
        var amount = Money.Of(8500, "EUR"); // 50 + 20 + 10 + 5: one note from each cassette
        var verdict = devices.FaultCheck.Check(amount);
        Assert.True(verdict.IsReady, string.Join("; ", verdict.Reasons.Select(r => r.LogText)));

        var result = await devices.Dispenser.DispenseAsync(devices.Dispenser.Denominate(amount).Mix!, CancellationToken.None);

        Assert.True(result.IsComplete, result.Detail);
        Assert.Equal(amount, result.Presented);
        Assert.Equal(4, _rig!.Dispenser.PresentedCount);
        for (var position = 1; position <= 4; position++)
        {
            Assert.Equal(FirmwareSimRig.NotesPerCassette - 1, _rig.Dispenser.CassetteCount(position));
            Assert.Equal(FirmwareSimRig.NotesPerCassette - 1, devices.Dispenser.CashUnits.Single(u => u.Position == position).Count);
        }

        Assert.Contains("  present/retract: no exit sensor", DevicesCommand.DescribeDevices(devices), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_jam_setting_reaches_the_LCDM_4000_emulator_and_the_driver_books_only_what_came_out()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            [FirmwareSimRig.DispenserModelSetting] = "Lcdm4000",
            [FirmwareSimRig.JamAfterNotesSetting] = "1",
        }).Build();
        using var services = Build(RigDispenserOptions.Read(configuration));
        var devices = await services.OpenAtmDevicesAsync();
        await devices.Dispenser.RefreshStatusAsync(CancellationToken.None);

        var result = await devices.Dispenser.DispenseAsync(devices.Dispenser.Denominate(Money.Of(8000, "EUR")).Mix!, CancellationToken.None); // 50 + 20 + 10

        Assert.Equal(DispenseCompletion.Jam, result.Completion);
        Assert.Equal(1, _rig!.Dispenser.PresentedCount);
        Assert.Equal(Money.Of(1000, "EUR"), result.Presented); // the 10 came out; the 20 after it stuck in the exit sensor
        Assert.Equal(_rig.Dispenser.PresentedCount, devices.Dispenser.CashUnits.Sum(u => u.Counters.Presented));
        Assert.Equal(FirmwareSimRig.NotesPerCassette - 1, devices.Dispenser.CashUnits.Single(u => u.Id == "CASS2").Count);
        // The stuck note left its cassette, but the unit's answer does not name it: the terminal still counts it in its
        // cassette, so the cash count finds it in the transport (NotesInPath), not missing.
        Assert.Equal(1, _rig.Dispenser.NotesInPath);
        Assert.Equal(
            devices.Dispenser.CashUnits.Sum(u => u.Count),
            devices.Dispenser.CashUnits.Sum(u => _rig.Dispenser.CassetteCount(u.Position)) + _rig.Dispenser.NotesInPath);
    }

    public void Dispose()
    {
        _rig?.Dispose();
        _state.Delete(recursive: true);
    }

    private ServiceProvider Build(RigDispenserOptions dispenser)
    {
        _rig = FirmwareSimRig.Start(dispenserOptions: dispenser);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(_rig.Settings(_state.FullName)).Build();
        var services = new ServiceCollection().AddSingleton(TimeProvider.System);
        _rig.AddServices(services);
        return services.AddAtmDevices(configuration, DevicesCommand.AddDeviceKinds).BuildServiceProvider();
    }
}
