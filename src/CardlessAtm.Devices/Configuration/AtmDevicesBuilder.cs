using System.ComponentModel.DataAnnotations;
using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Display;
using CardlessAtm.Devices.FaultCheck;
using CardlessAtm.Devices.Keypad;
using CardlessAtm.Devices.Sensors;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Devices.Configuration;

/// <summary>
/// Picks each device's implementation from configuration (<c>Devices:Display:Kind</c>, <c>Devices:Keypad:Kind</c>,
/// <c>Devices:Dispenser:Kind</c>, <c>Devices:Sensors:Kind</c>). Driver packages register their kinds here
/// (e.g. <c>AddSimulatedDevices()</c>), so switching between simulated and real hardware is a
/// configuration change alone.
/// </summary>
public sealed class AtmDevicesBuilder
{
    /// <summary>The configuration section of all devices.</summary>
    public const string SectionName = "Devices";

    private readonly Dictionary<string, Func<IServiceProvider, IConfigurationSection, IDisplay>> _displays = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, Func<IServiceProvider, IConfigurationSection, IKeypad>> _keypads = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, Func<IServiceProvider, IConfigurationSection, IDispenserDevice>> _dispensers = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, Func<IServiceProvider, IConfigurationSection, IFaultSensors>> _sensors = new(StringComparer.OrdinalIgnoreCase);

    internal AtmDevicesBuilder(IServiceCollection services, IConfiguration configuration)
    {
        Services = services;
        Section = configuration.GetSection(SectionName);
    }

    /// <summary>The service collection being built.</summary>
    public IServiceCollection Services { get; }

    /// <summary>The <c>Devices</c> configuration section.</summary>
    public IConfigurationSection Section { get; }

    /// <summary>Registers a display kind; the factory receives <c>Devices:Display</c>.</summary>
    public AtmDevicesBuilder AddDisplayKind(string kind, Func<IServiceProvider, IConfigurationSection, IDisplay> factory) => Add(_displays, kind, factory);

    /// <summary>Registers a keypad kind; the factory receives <c>Devices:Keypad</c>.</summary>
    public AtmDevicesBuilder AddKeypadKind(string kind, Func<IServiceProvider, IConfigurationSection, IKeypad> factory) => Add(_keypads, kind, factory);

    /// <summary>Registers a dispenser device kind; the factory receives <c>Devices:Dispenser</c>.</summary>
    public AtmDevicesBuilder AddDispenserKind(string kind, Func<IServiceProvider, IConfigurationSection, IDispenserDevice> factory) => Add(_dispensers, kind, factory);

    /// <summary>Registers a fault-sensor kind; the factory receives <c>Devices:Sensors</c>.</summary>
    public AtmDevicesBuilder AddSensorsKind(string kind, Func<IServiceProvider, IConfigurationSection, IFaultSensors> factory) => Add(_sensors, kind, factory);

    /// <summary>
    /// Reads the configured cash units, validated (each unit here, the layout as a whole by <see cref="CashUnitLayout.Create"/>),
    /// with the setting named in every error.
    /// </summary>
    /// <exception cref="ConfigurationException">No unit, a unit is missing a value or has a bad one, or an id or position is used twice.</exception>
    public static CashUnitLayout ReadCashUnits(IConfigurationSection dispenserSection)
    {
        ArgumentNullException.ThrowIfNull(dispenserSection);
        var units = new List<CashUnit>();
        var list = dispenserSection.GetSection("CashUnits");
        foreach (var child in list.GetChildren())
        {
            var options = new CashUnitOptions();
            Bind(child, options);
            var results = new List<ValidationResult>();
            if (!Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true))
            {
                var first = results[0];
                throw new ConfigurationException($"{child.Path}:{first.MemberNames.FirstOrDefault()}", first.ErrorMessage ?? "invalid value");
            }

            Currency currency;
            try
            {
                currency = Currency.FromCode(options.Currency);
            }
            catch (UnknownCurrencyException e)
            {
                throw new ConfigurationException($"{child.Path}:Currency", e.Message.TrimEnd('.'));
            }

            Money denomination;
            try
            {
                denomination = Money.ParseMajor(options.Denomination, currency);
            }
            catch (FormatException e)
            {
                throw new ConfigurationException($"{child.Path}:Denomination", e.Message.TrimEnd('.'));
            }

            if (!denomination.IsPositive)
            {
                throw new ConfigurationException($"{child.Path}:Denomination", "must be greater than zero");
            }

            if (options.Count > options.HighThreshold)
            {
                throw new ConfigurationException($"{child.Path}:Count", $"{options.Count} notes is over the unit's capacity (HighThreshold {options.HighThreshold})");
            }

            units.Add(new CashUnit(options.Id, options.Position, denomination, options.Count, options.Count, options.LowThreshold, options.HighThreshold, CashUnitCounters.None));
        }

        return CashUnitLayout.Create(units, list.Path);
    }

    /// <summary>Binds a section to an options object, turning binder errors into a message that names the setting.</summary>
    /// <exception cref="ConfigurationException">A value cannot be converted.</exception>
    public static void Bind(IConfigurationSection section, object options)
    {
        ArgumentNullException.ThrowIfNull(section);
        try
        {
            section.Bind(options, o => o.ErrorOnUnknownConfiguration = false);
        }
        catch (InvalidOperationException e)
        {
            throw new ConfigurationException(section.Path, e.Message.TrimEnd('.'));
        }
    }

    internal void Register()
    {
        // TryAdd: a second AddAtmDevices call adds its kinds to this builder's registries and nothing to the services.
        Services.TryAddSingleton(this);
        Services.TryAddSingleton(sp => Create(sp, "Display", _displays));
        Services.TryAddSingleton(sp => Create(sp, "Keypad", _keypads));
        Services.TryAddSingleton(sp => Create(sp, "Dispenser", _dispensers));
        Services.TryAddSingleton(sp => Create(sp, "Sensors", _sensors));
        Services.TryAddSingleton<ICashUnitStore>(_ =>
        {
            var path = Section["Dispenser:StateFile"];
            return string.IsNullOrWhiteSpace(path)
                ? throw new ConfigurationException($"{SectionName}:Dispenser:StateFile", "the file where cash-unit counts persist must be set (e.g. /var/lib/cardless-atm/cash-units.json)")
                : new JsonFileCashUnitStore(path);
        });
        Services.TryAddSingleton(sp => new CashDispenserOpening(this, sp));
        Services.TryAddSingleton<ICashDispenser>(sp => sp.GetRequiredService<CashDispenserOpening>().Opened);
        Services.TryAddSingleton(_ =>
        {
            var options = new FaultCheckOptions();
            var required = Section.GetSection("FaultCheck:RequiredSensors");
            if (required.Exists())
            {
                options.RequiredSensors.Clear();
                foreach (var child in required.GetChildren())
                {
                    if (!Enum.TryParse<SensorKind>(child.Value, ignoreCase: true, out var kind) || !Enum.IsDefined(kind))
                    {
                        throw new ConfigurationException(child.Path, $"'{child.Value}' is not a sensor kind; allowed: {string.Join(", ", Enum.GetNames<SensorKind>())}");
                    }

                    options.RequiredSensors.Add(kind);
                }
            }

            var acceptUnverified = Section.GetSection("FaultCheck:AcceptUnverifiedDisplay");
            if (acceptUnverified.Value is { } text)
            {
                options.AcceptUnverifiedDisplay = bool.TryParse(text, out var accept)
                    ? accept
                    : throw new ConfigurationException(acceptUnverified.Path, $"'{text}' is not true or false");
            }

            return options;
        });
        Services.TryAddSingleton<IFaultCheck>(sp => new AtmFaultCheck(
            sp.GetRequiredService<ICashDispenser>(), sp.GetRequiredService<IFaultSensors>(), sp.GetRequiredService<IDisplay>(), sp.GetRequiredService<FaultCheckOptions>()));
        Services.TryAddSingleton(sp => new AtmDevices(
            sp.GetRequiredService<IDisplay>(), sp.GetRequiredService<IKeypad>(), sp.GetRequiredService<ICashDispenser>(),
            sp.GetRequiredService<IFaultSensors>(), sp.GetRequiredService<IFaultCheck>()));
    }

    /// <summary>Opens the cash dispenser: the settings, then the persisted counts (asynchronously), as <see cref="CashDispenser.OpenAsync"/> does.</summary>
    internal Task<CashDispenser> OpenDispenserAsync(IServiceProvider sp, CancellationToken cancellationToken)
    {
        var section = Section.GetSection("Dispenser");
        var algorithmText = section["MixAlgorithm"] ?? nameof(MixAlgorithm.MinimumNotes);
        if (!Enum.TryParse<MixAlgorithm>(algorithmText, ignoreCase: true, out var algorithm) || !Enum.IsDefined(algorithm))
        {
            throw new ConfigurationException($"{section.Path}:MixAlgorithm", $"'{algorithmText}' is not a mix algorithm; allowed: {string.Join(", ", Enum.GetNames<MixAlgorithm>())}");
        }

        var logger = sp.GetService<ILoggerFactory>()?.CreateLogger<CashDispenser>() ?? (ILogger)NullLogger.Instance;
        return CashDispenser.OpenAsync(
            sp.GetRequiredService<IDispenserDevice>(), ReadCashUnits(section), sp.GetRequiredService<ICashUnitStore>(),
            algorithm, sp.GetRequiredService<IFaultSensors>(), logger, cancellationToken);
    }

    private AtmDevicesBuilder Add<T>(Dictionary<string, Func<IServiceProvider, IConfigurationSection, T>> registry, string kind, Func<IServiceProvider, IConfigurationSection, T> factory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(kind);
        ArgumentNullException.ThrowIfNull(factory);
        registry[kind] = factory;
        return this;
    }

    private T Create<T>(IServiceProvider services, string device, Dictionary<string, Func<IServiceProvider, IConfigurationSection, T>> registry)
    {
        var section = Section.GetSection(device);
        var kind = section["Kind"];
        var allowed = registry.Count == 0 ? "none registered" : string.Join(", ", registry.Keys.Order(StringComparer.OrdinalIgnoreCase));
        if (string.IsNullOrWhiteSpace(kind))
        {
            throw new ConfigurationException($"{section.Path}:Kind", $"is not set; allowed: {allowed}");
        }

        return registry.TryGetValue(kind, out var factory)
            ? factory(services, section)
            : throw new ConfigurationException($"{section.Path}:Kind", $"'{kind}' is not a known {device.ToLowerInvariant()} kind; allowed: {allowed}");
    }
}

/// <summary>
/// The cash dispenser of the container, opened once by <see cref="AtmDevicesServiceCollectionExtensions.OpenAtmDevicesAsync"/>
/// (loading the persisted counts is I/O, so it is awaited there instead of blocking inside a service factory).
/// </summary>
internal sealed class CashDispenserOpening(AtmDevicesBuilder builder, IServiceProvider services) : IDisposable
{
    private readonly SemaphoreSlim _once = new(1, 1);
    private CashDispenser? _opened;

    /// <summary>The opened dispenser.</summary>
    /// <exception cref="InvalidOperationException">The devices have not been opened yet.</exception>
    public CashDispenser Opened => Volatile.Read(ref _opened)
        ?? throw new InvalidOperationException($"The cash dispenser is opened asynchronously: await {nameof(AtmDevicesServiceCollectionExtensions.OpenAtmDevicesAsync)}() on the service provider at start-up, before resolving {nameof(AtmDevices)} or {nameof(ICashDispenser)}.");

    /// <summary>Opens the dispenser the first time; later calls return at once. A failure is thrown again on the next call.</summary>
    public async Task OpenAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _opened) is not null)
        {
            return;
        }

        await _once.WaitAsync(cancellationToken);
        try
        {
            if (_opened is null)
            {
                Volatile.Write(ref _opened, await builder.OpenDispenserAsync(services, cancellationToken));
            }
        }
        finally
        {
            _once.Release();
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _opened?.Dispose();
        _once.Dispose();
    }
}

/// <summary>Every device of the ATM, resolved from configuration.</summary>
/// <param name="Display">The customer display.</param>
/// <param name="Keypad">Keypad or touch input.</param>
/// <param name="Dispenser">The cash dispenser (with accounting).</param>
/// <param name="Sensors">The fault sensors.</param>
/// <param name="FaultCheck">The fault check over all of them.</param>
public sealed record AtmDevices(IDisplay Display, IKeypad Keypad, ICashDispenser Dispenser, IFaultSensors Sensors, IFaultCheck FaultCheck);

/// <summary>Service-collection extensions for the device layer.</summary>
public static class AtmDevicesServiceCollectionExtensions
{
    /// <summary>
    /// Adds the device layer: each device resolved from its <c>Devices:*:Kind</c> setting among the kinds
    /// that <paramref name="configureKinds"/> registers. Open them at start-up with
    /// <see cref="OpenAtmDevicesAsync"/>, which fails fast on a bad setting; <see cref="AtmDevices"/> and
    /// <see cref="ICashDispenser"/> resolve only after it. Calling it again registers nothing twice; the kinds it names join the first call's
    /// (the first call's configuration stays in force).
    /// </summary>
    public static IServiceCollection AddAtmDevices(this IServiceCollection services, IConfiguration configuration, Action<AtmDevicesBuilder> configureKinds)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(configureKinds);
        // A second call reuses the first call's builder: its kinds join the same registries (a kind named again
        // replaces the earlier factory) and no service is registered twice.
        var existing = services.FirstOrDefault(d => d.ServiceType == typeof(AtmDevicesBuilder) && d.ImplementationInstance is AtmDevicesBuilder)?.ImplementationInstance as AtmDevicesBuilder;
        var builder = existing ?? new AtmDevicesBuilder(services, configuration);
        configureKinds(builder);
        builder.Register();
        return services;
    }

    /// <summary>
    /// Opens the devices of <see cref="AddAtmDevices"/>: resolves each one from its setting and opens the cash dispenser
    /// (its persisted counts are read, or the configured ones saved on first run), then returns them. Call it once at
    /// start-up, before anything resolves <see cref="AtmDevices"/> or <see cref="ICashDispenser"/>; later calls return the same devices.
    /// </summary>
    /// <exception cref="ConfigurationException">A device setting is missing or wrong.</exception>
    public static async Task<AtmDevices> OpenAtmDevicesAsync(this IServiceProvider services, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(services);
        await services.GetRequiredService<CashDispenserOpening>().OpenAsync(cancellationToken);
        return services.GetRequiredService<AtmDevices>();
    }
}
