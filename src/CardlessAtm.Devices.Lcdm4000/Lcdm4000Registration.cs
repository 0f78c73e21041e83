using CardlessAtm.Devices.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CardlessAtm.Devices.Lcdm4000;

/// <summary>Registers the <c>Lcdm4000</c> dispenser kind with the device layer.</summary>
public static class Lcdm4000Registration
{
    /// <summary>The kind name used in configuration (<c>Devices:Dispenser:Kind</c>).</summary>
    public const string Kind = "Lcdm4000";

    /// <summary>The configuration section the driver's settings are bound from.</summary>
    public const string SectionPath = "Devices:Dispenser:Lcdm4000";

    /// <summary>
    /// Adds the LCDM-4000 driver as dispenser kind <see cref="Kind"/>: binds <see cref="Lcdm4000Options"/> from
    /// <c>Devices:Dispenser:Lcdm4000</c>, checks them with <see cref="Lcdm4000OptionsValidator"/> (every failure names
    /// the full setting path) and, when this is the selected kind, at host start (<c>ValidateOnStart</c>).
    /// </summary>
    public static AtmDevicesBuilder AddLcdm4000Dispenser(this AtmDevicesBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var section = builder.Section.GetSection("Dispenser").GetSection(Kind);
        var options = builder.Services.AddOptions<Lcdm4000Options>().Bind(section);
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<Lcdm4000Options>>(new Lcdm4000OptionsValidator(section.Path)));
        if (string.Equals(builder.Section["Dispenser:Kind"], Kind, StringComparison.OrdinalIgnoreCase))
        {
            options.ValidateOnStart();
        }

        return builder.AddDispenserKind(Kind, (services, _) => Lcdm4000Dispenser.Create(
            services.GetRequiredService<IOptions<Lcdm4000Options>>().Value,
            services.GetService<TimeProvider>() ?? TimeProvider.System,
            services.GetService<ILoggerFactory>()?.CreateLogger<Lcdm4000Dispenser>()));
    }
}
