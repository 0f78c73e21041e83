using CardlessAtm.Devices.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Devices.Lcdm2000;

/// <summary>Registers the <c>Lcdm2000</c> dispenser kind with the device layer.</summary>
public static class Lcdm2000Registration
{
    /// <summary>The kind name used in configuration (<c>Devices:Dispenser:Kind</c>).</summary>
    public const string Kind = "Lcdm2000";

    /// <summary>
    /// Adds the LCDM-2000 driver as dispenser kind <see cref="Kind"/>; its settings are read from
    /// <c>Devices:Dispenser:Lcdm2000</c> (see <see cref="Lcdm2000Options"/>) and validated when the
    /// dispenser is resolved, with every bad setting named.
    /// </summary>
    public static AtmDevicesBuilder AddLcdm2000Dispenser(this AtmDevicesBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddDispenserKind(Kind, (services, section) =>
        {
            var options = new Lcdm2000Options();
            var own = section.GetSection("Lcdm2000");
            AtmDevicesBuilder.Bind(own, options);
            var errors = options.Validate();
            if (errors.Count > 0)
            {
                throw new ConfigurationException(own.Path, string.Join(" ", errors));
            }

            return Lcdm2000Dispenser.Create(
                options,
                services.GetService<TimeProvider>() ?? TimeProvider.System,
                services.GetService<ILoggerFactory>()?.CreateLogger<Lcdm2000Dispenser>());
        });
    }
}
