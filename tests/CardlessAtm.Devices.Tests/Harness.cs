using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.FaultCheck;
using CardlessAtm.Devices.Simulated;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace CardlessAtm.Devices.Tests;

/// <summary>A simulated ATM: the framework dispenser over the simulated device, sensors, display and fault check.</summary>
internal sealed class Harness : IDisposable
{
    private Harness(SimulatedDispenserDevice device, CashDispenser dispenser, SimulatedFaultSensors sensors, SimulatedDisplay display, ICashUnitStore store, FakeTimeProvider time)
    {
        Device = device;
        Dispenser = dispenser;
        Sensors = sensors;
        Display = display;
        Store = store;
        Time = time;
        FaultCheck = new AtmFaultCheck(dispenser, sensors, display, new FaultCheckOptions());
    }

    public SimulatedDispenserDevice Device { get; }

    public CashDispenser Dispenser { get; }

    public SimulatedFaultSensors Sensors { get; }

    public SimulatedDisplay Display { get; }

    public ICashUnitStore Store { get; }

    public FakeTimeProvider Time { get; }

    public AtmFaultCheck FaultCheck { get; }

    public static async Task<Harness> CreateAsync(IReadOnlyList<CashUnit>? units = null, ICashUnitStore? store = null, int maxNotes = 40, PresentCapability? presenting = null)
    {
        units ??= TestUnits.Standard();
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-11-25T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var device = new SimulatedDispenserDevice(units.GroupBy(u => u.Position).ToDictionary(g => g.Key, g => g.Sum(u => u.Count)), maxNotes, time, presenting: presenting);
        var sensors = SimulatedFaultSensors.Standard(units.Count);
        store ??= new InMemoryCashUnitStore();
        var dispenser = await CashDispenser.OpenAsync(device, CashUnitLayout.Create(units), store, MixAlgorithm.MinimumNotes, sensors, NullLogger.Instance, CancellationToken.None);
        return new Harness(device, dispenser, sensors, new SimulatedDisplay(), store, time);
    }

    public void Dispose() => Dispenser.Dispose();
}
