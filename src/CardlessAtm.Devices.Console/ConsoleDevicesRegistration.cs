using CardlessAtm.Devices.Configuration;
using CardlessAtm.Qr.Rendering;
using Microsoft.Extensions.DependencyInjection;

namespace CardlessAtm.Devices.Console;

/// <summary>Registers the <c>Console</c> display and keypad kinds for a PC rig.</summary>
public static class ConsoleDevicesRegistration
{
    /// <summary>The kind name used in configuration.</summary>
    public const string Kind = "Console";

    /// <summary>
    /// Adds <c>Devices:Display:Kind = Console</c> (standard output; <c>Devices:Display:Console:Colours</c> =
    /// LightTextOnDarkBackground | DarkTextOnLightBackground | AnsiBlackOnWhite) and <c>Devices:Keypad:Kind = Console</c>
    /// (standard input).
    /// </summary>
    public static AtmDevicesBuilder AddConsoleDevices(this AtmDevicesBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder
            .AddDisplayKind(Kind, (_, section) =>
            {
                var coloursText = section["Console:Colours"] ?? nameof(ConsoleQrColours.LightTextOnDarkBackground);
                if (!Enum.TryParse<ConsoleQrColours>(coloursText, ignoreCase: true, out var colours) || !Enum.IsDefined(colours))
                {
                    throw new ConfigurationException($"{section.Path}:Console:Colours", $"'{coloursText}' is not one of {string.Join(", ", Enum.GetNames<ConsoleQrColours>())}");
                }

                return new ConsoleDisplay(System.Console.Out, !System.Console.IsOutputRedirected, colours);
            })
            .AddKeypadKind(Kind, (sp, _) => new ConsoleKeypad(System.Console.In, sp.GetService<TimeProvider>() ?? TimeProvider.System));
    }
}
