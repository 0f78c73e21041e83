using CardlessAtm.Devices.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Devices.Lcdm4000;

/// <summary>Registers the <c>Lcdm4000</c> dispenser kind with the device layer.</summary>
public static class Lcdm4000Registration
{
    /// <summary>The kind name used in configuration (<c>Devices:Dispenser:Kind</c>).</summary>
    public const string Kind = "Lcdm4000";

    /// <summary>
    /// Adds the LCDM-4000 driver as dispenser kind <see cref="Kind"/>; its settings are read from
    /// <c>Devices:Dispenser:Lcdm4000</c> (see <see cref="Lcdm4000Options"/>) and validated when the dispenser is resolved.
    /// </summary>
    public static AtmDevicesBuilder AddLcdm4000Dispenser(this AtmDevicesBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddDispenserKind(Kind, (services, section) =>
        {
            var options = new Lcdm4000Options();
            var own = section.GetSection("Lcdm4000");
            AtmDevicesBuilder.Bind(own, options);
            var errors = options.Validate();
            if (errors.Count > 0)
            {
                throw new ConfigurationException(own.Path, string.Join(" ", errors));
            }

            return Lcdm4000Dispenser.Create(
                options,
                services.GetService<TimeProvider>() ?? TimeProvider.System,
                services.GetService<ILoggerFactory>()?.CreateLogger<Lcdm4000Dispenser>());
        });
    }
}
