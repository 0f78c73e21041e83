using CardlessAtm.Devices.Configuration;
using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Simulated;
using CardlessAtm.Devices.Status;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace CardlessAtm.Devices.Tests.Configuration;

/// <summary>
/// The extension point for a new dispenser model, used from outside the src projects: a driver implements
/// <see cref="IDispenserDevice"/> (positions and note counts only) and registers a kind with
/// <see cref="AtmDevicesBuilder.AddDispenserKind"/>; <c>Devices:Dispenser:Kind</c> then selects it and
/// <see cref="CashDispenser"/> does the money, the mix and the accounting on top. docs/architecture.md points here.
/// </summary>
public sealed class SampleDispenserKindTests : IDisposable
{
    private readonly string _stateFile = Path.Combine(Path.GetTempPath(), $"cardless-atm-sample-{Guid.NewGuid():N}.json");

    public void Dispose() => File.Delete(_stateFile);

    [Fact]
    public async Task A_dispenser_kind_registered_outside_src_is_selected_by_configuration_and_dispenses_through_CashDispenser()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Devices:Display:Kind"] = "Simulated",
            ["Devices:Keypad:Kind"] = "Simulated",
            ["Devices:Sensors:Kind"] = "Simulated",
            ["Devices:Dispenser:Kind"] = "Sample",
            ["Devices:Dispenser:Sample:Model"] = "Sample-2",
            ["Devices:Dispenser:StateFile"] = _stateFile,
            ["Devices:Dispenser:CashUnits:0:Id"] = "CASS1",
            ["Devices:Dispenser:CashUnits:0:Position"] = "1",
            ["Devices:Dispenser:CashUnits:0:Currency"] = "EUR",
            ["Devices:Dispenser:CashUnits:0:Denomination"] = "20",
            ["Devices:Dispenser:CashUnits:0:Count"] = "50",
            ["Devices:Dispenser:CashUnits:1:Id"] = "CASS2",
            ["Devices:Dispenser:CashUnits:1:Position"] = "2",
            ["Devices:Dispenser:CashUnits:1:Currency"] = "EUR",
            ["Devices:Dispenser:CashUnits:1:Denomination"] = "50",
            ["Devices:Dispenser:CashUnits:1:Count"] = "50",
        };
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        using var services = new ServiceCollection()
            .AddAtmDevices(configuration, kinds => kinds
                .AddSimulatedDevices()
                .AddDispenserKind("Sample", (_, section) => new SampleDispenser(section["Sample:Model"] ?? "Sample")))
            .BuildServiceProvider();

        var devices = await services.OpenAtmDevicesAsync();
        var sample = Assert.IsType<SampleDispenser>(services.GetRequiredService<IDispenserDevice>());
        Assert.Equal("Sample-2", sample.Info.Model);

        var mix = devices.Dispenser.Denominate(Money.FromMajor(90, "EUR"));
        Assert.True(mix.Succeeded, mix.Explanation);
        var result = await devices.Dispenser.DispenseAsync(mix.Mix!, CancellationToken.None);

        Assert.Equal((DispenseCompletion.Ok, Money.FromMajor(90, "EUR")), (result.Completion, result.Presented));
        Assert.Equal([new PositionCount(1, 2), new PositionCount(2, 1)], sample.Requests.Single().OrderBy(p => p.Position));
        Assert.Equal((48, 49), (devices.Dispenser.CashUnits.Single(u => u.Id == "CASS1").Count, devices.Dispenser.CashUnits.Single(u => u.Id == "CASS2").Count));
    }

    /// <summary>The smallest honest driver: presents what it is asked for and says so per position.</summary>
    private sealed class SampleDispenser : IDispenserDevice
    {
        public SampleDispenser(string model)
        {
            Info = new DispenserDeviceInfo(model, Positions: 2, MaxNotesPerDispense: 40);
            Status = new DispenserStatus(model) { Device = DeviceState.Online };
        }

        public DispenserDeviceInfo Info { get; }

        public DispenserStatus Status { get; }

        public List<IReadOnlyList<PositionCount>> Requests { get; } = [];

        public Task<DeviceDispenseResult> DispenseAsync(IReadOnlyList<PositionCount> notesPerPosition, CancellationToken cancellationToken)
        {
            Requests.Add(notesPerPosition);
            return Task.FromResult(new DeviceDispenseResult(
                DispenseCompletion.Ok, [.. notesPerPosition.Select(p => new PositionMovement(p.Position, Presented: p.Notes, Rejected: 0, Unknown: 0))]));
        }

        public Task<DeviceDispenseResult?> RefreshStatusAsync(CancellationToken cancellationToken) => Task.FromResult<DeviceDispenseResult?>(null);

        public Task<DeviceDispenseResult> ResetAsync(CancellationToken cancellationToken) => Task.FromResult(new DeviceDispenseResult(DispenseCompletion.Ok, []));
    }
}
