using CardlessAtm.Devices.Configuration;
using CardlessAtm.Devices.Display;
using CardlessAtm.Devices.Simulated;
using CardlessAtm.Devices.Status;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace CardlessAtm.Devices.Tests.Configuration;

/// <summary>
/// The extension point for a new display, used from outside the src projects: a driver implements
/// <see cref="IDisplay"/> and registers a kind with <see cref="AtmDevicesBuilder.AddDisplayKind"/>;
/// <c>Devices:Display:Kind</c> then selects it and the terminal's screens reach it. docs/architecture.md points here.
/// </summary>
public sealed class SampleDisplayKindTests : IDisposable
{
    private readonly string _stateFile = Path.Combine(Path.GetTempPath(), $"cardless-atm-sample-display-{Guid.NewGuid():N}.json");

    public void Dispose() => File.Delete(_stateFile);

    [Fact]
    public async Task A_display_kind_registered_outside_src_is_selected_by_configuration_and_shows_the_screens()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Devices:Display:Kind"] = "Sample",
            ["Devices:Display:Sample:Columns"] = "32",
            ["Devices:Keypad:Kind"] = "Simulated",
            ["Devices:Sensors:Kind"] = "Simulated",
            ["Devices:Dispenser:Kind"] = "Simulated",
            ["Devices:Dispenser:StateFile"] = _stateFile,
            ["Devices:Dispenser:CashUnits:0:Id"] = "CASS1",
            ["Devices:Dispenser:CashUnits:0:Position"] = "1",
            ["Devices:Dispenser:CashUnits:0:Currency"] = "EUR",
            ["Devices:Dispenser:CashUnits:0:Denomination"] = "20",
            ["Devices:Dispenser:CashUnits:0:Count"] = "10",
        }).Build();
        using var services = new ServiceCollection()
            .AddAtmDevices(configuration, kinds => kinds
                .AddSimulatedDevices()
                .AddDisplayKind("Sample", (_, section) => new SampleDisplay(int.Parse(section["Sample:Columns"] ?? "20", System.Globalization.CultureInfo.InvariantCulture))))
            .BuildServiceProvider();

        var devices = await services.OpenAtmDevicesAsync();
        var sample = Assert.IsType<SampleDisplay>(devices.Display);
        await devices.Display.ShowAsync(Screen.Text("Welcome", "Scan the code"), CancellationToken.None);

        Assert.Equal(32, sample.Capabilities.TextColumns);
        Assert.Equal("Welcome", Assert.Single(sample.Shown).Title);
    }

    /// <summary>The smallest honest display: remembers what it was asked to show.</summary>
    private sealed class SampleDisplay(int columns) : IDisplay
    {
        public DisplayCapabilities Capabilities { get; } = new("Sample", 320, 240, columns, 8, CanShowQr: true);

        public DisplayStatus Status { get; } = new("Sample") { Device = DeviceState.Online };

        public List<Screen> Shown { get; } = [];

        public Task ShowAsync(Screen screen, CancellationToken cancellationToken)
        {
            Shown.Add(screen);
            return Task.CompletedTask;
        }
    }
}
