using System.Device.Gpio;
using System.Device.I2c;
using System.Device.Spi;
using CardlessAtm.Devices.Configuration;
using CardlessAtm.Devices.Display;
using CardlessAtm.Devices.RaspberryPi.Buses;
using CardlessAtm.Devices.RaspberryPi.Configuration;
using CardlessAtm.Devices.RaspberryPi.Display;
using CardlessAtm.Devices.RaspberryPi.Doctor;
using CardlessAtm.Devices.RaspberryPi.Imaging;
using CardlessAtm.Devices.RaspberryPi.Keypad;
using CardlessAtm.Devices.RaspberryPi.Sensors;
using CardlessAtm.Devices.RaspberryPi.Touch;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace CardlessAtm.Devices.RaspberryPi;

/// <summary>
/// Registers the Raspberry Pi device kinds with the device layer. This is the composition root
/// for the Pi: it opens the GPIO controller (one, shared, registered as a singleton), the SPI and
/// I2C devices (through <see cref="IPiBuses"/>: the kernel's by default, emulated ones on the firmware-sim rig),
/// and hands them to the drivers, which never open hardware themselves.
/// </summary>
/// <remarks>
/// Kinds and their sections:
/// <c>Devices:Display:Kind</c> = <c>Ili934x</c> (settings in <c>Devices:Display:Ili934x</c>; an optional
/// <c>Devices:Display:CharacterLcd</c> beside it mirrors the text, see <see cref="MirroredDisplay"/>; a mirror LCD that cannot be opened or does not answer is a warning, and the TFT serves alone) or <c>CharacterLcd</c>, which is refused: a
/// character LCD cannot show the QR;
/// <c>Devices:Keypad:Kind</c> = <c>Matrix</c> (<c>Devices:Keypad:Matrix</c>), <c>Touch</c> (<c>Devices:Keypad:Touch</c>) or <c>Xpt2046</c> (<c>Devices:Keypad:Xpt2046</c>);
/// <c>Devices:Sensors:Kind</c> = <c>Gpio</c> (<c>Devices:Sensors:Gpio</c>).
/// </remarks>
public static class RaspberryPiRegistration
{
    /// <summary>Display kind of the ILI9341/ILI9342 SPI TFT.</summary>
    public const string Ili934xKind = "Ili934x";

    /// <summary>Display kind of the HD44780 character LCD (refused as the customer display).</summary>
    public const string CharacterLcdKind = "CharacterLcd";

    /// <summary>Keypad kind of the matrix keypad.</summary>
    public const string MatrixKind = "Matrix";

    /// <summary>Keypad kind of the CHSC6440 touch panel.</summary>
    public const string TouchKind = "Touch";

    /// <summary>Keypad kind of the XPT2046 resistive touch layer.</summary>
    public const string Xpt2046Kind = "Xpt2046";

    /// <summary>Sensors kind of the GPIO fault sensors.</summary>
    public const string GpioKind = "Gpio";

    /// <summary>Adds the Pi's display, keypad and sensor kinds, and the shared <see cref="GpioController"/>.</summary>
    public static AtmDevicesBuilder AddRaspberryPiDevices(this AtmDevicesBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.TryAddSingleton(services => OpenGpioController(services.GetService<IConfiguration>()));
        builder.Services.TryAddSingleton<IPiBuses, KernelPiBuses>();
        var devices = builder.Section; // every Pi device checks the lines of all of them before it opens its own
        var display = devices.GetSection("Display");
        var displays = builder.Services.AddOptions<RaspberryPiDisplayOptions>().Configure(o =>
        {
            var read = ReadDisplayOptions(display);
            o.Ili934x = read.Ili934x;
            o.CharacterLcd = read.CharacterLcd;
        });
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RaspberryPiDisplayOptions>>(new RaspberryPiDisplayOptionsValidator(display.Path)));
        if (IsKind(display, Ili934xKind))
        {
            displays.ValidateOnStart();
        }

        var tftSection = display.GetSection(Ili934xKind);
        AddValidatedOptions(builder.Services, tftSection, new Ili934xDisplayOptionsValidator(tftSection.Path), IsKind(display, Ili934xKind));
        var lcdSection = display.GetSection(CharacterLcdKind);
        AddValidatedOptions(builder.Services, lcdSection, new CharacterLcdOptionsValidator(lcdSection.Path), IsKind(display, Ili934xKind) && lcdSection.Exists());
        var keypad = devices.GetSection("Keypad");
        var matrix = keypad.GetSection(MatrixKind);
        AddValidatedOptions(builder.Services, matrix, new MatrixKeypadOptionsValidator(matrix.Path), IsKind(keypad, MatrixKind), o => ReadMatrixOptions(matrix, o));
        var touch = keypad.GetSection(TouchKind);
        AddValidatedOptions(builder.Services, touch, new TouchKeypadOptionsValidator(touch.Path), IsKind(keypad, TouchKind));
        var xpt2046 = keypad.GetSection(Xpt2046Kind);
        AddValidatedOptions(builder.Services, xpt2046, new Xpt2046OptionsValidator(xpt2046.Path), IsKind(keypad, Xpt2046Kind));
        var sensors = devices.GetSection("Sensors");
        var gpioSensors = sensors.GetSection(GpioKind);
        AddValidatedOptions(builder.Services, gpioSensors, new GpioFaultSensorsOptionsValidator(gpioSensors.Path), IsKind(sensors, GpioKind));
        return builder
            .AddDisplayKind(Ili934xKind, (services, section) =>
            {
                var displays = services.GetRequiredService<IOptions<RaspberryPiDisplayOptions>>().Value;
                PinPlan.Check(devices);
                var options = services.GetRequiredService<IOptions<Ili934xDisplayOptions>>().Value;
                ManagedImageFactory.Register();
                var spi = Open($"{section.Path}:Ili934x:SpiBusId", $"/dev/spidev{options.SpiBusId}.{options.SpiChipSelect}", "SPI", () => services.GetRequiredService<IPiBuses>().OpenSpi(options.CreateSpiConnectionSettings()));
                var tft = Open(
                    $"{section.Path}:Ili934x:SpiBusId",
                    $"/dev/spidev{options.SpiBusId}.{options.SpiChipSelect}",
                    "SPI",
                    () => OpenTft(spi, services, options, $"{section.Path}:Ili934x"));
                if (displays.CharacterLcd is null)
                {
                    return (IDisplay)tft;
                }

                var lcd = OpenMirrorLcd(services, $"{section.Path}:CharacterLcd", services.GetRequiredService<IOptions<CharacterLcdOptions>>().Value);
                return lcd is null ? tft : new MirroredDisplay(tft, lcd, Logger<MirroredDisplay>(services));
            })
            .AddDisplayKind(CharacterLcdKind, (_, section) =>
            {
                // Refused at start-up with the reason, before any hardware is touched.
                new RaspberryPiDisplayOptionsValidator(section.Path).ThrowIfInvalid(new RaspberryPiDisplayOptions { CharacterLcd = new CharacterLcdOptions() });
                throw new ConfigurationException($"{section.Path}:Kind", "a character LCD cannot be the customer display");
            })
            .AddKeypadKind(MatrixKind, (services, section) =>
            {
                var options = services.GetRequiredService<IOptions<MatrixKeypadOptions>>().Value;
                PinPlan.Check(devices);
                return new MatrixKeypad(services.GetRequiredService<GpioController>(), options, Time(services), Logger<MatrixKeypad>(services));
            })
            .AddKeypadKind(TouchKind, (services, section) =>
            {
                var own = section.GetSection(TouchKind);
                var options = services.GetRequiredService<IOptions<TouchKeypadOptions>>().Value;
                PinPlan.Check(devices);
                var device = $"/dev/i2c-{options.I2cBusId}";
                var i2c = Open($"{own.Path}:I2cBusId", device, "I2C", () => services.GetRequiredService<IPiBuses>().OpenI2c(options.CreateI2cConnectionSettings()));
                // The bus opened; a controller that does not acknowledge its first transfer is at another address (or not wired).
                try
                {
                    return new TouchKeypad(i2c, services.GetRequiredService<GpioController>(), options, Time(services), Logger<TouchKeypad>(services));
                }
                catch (IOException ex)
                {
                    i2c.Dispose();
                    throw new ConfigurationException(
                        $"{own.Path}:I2cAddress",
                        $"nothing answers at 0x{options.I2cAddress:X2} on {device} ({ex.Message.TrimEnd('.', ' ')}); the CHSC6440 answers at 0x2E: check the address and the wiring (i2cdetect -y {options.I2cBusId} lists what acknowledges)");
                }
            })
            .AddKeypadKind(Xpt2046Kind, (services, section) =>
            {
                var own = section.GetSection(Xpt2046Kind);
                var options = services.GetRequiredService<IOptions<Xpt2046Options>>().Value;
                PinPlan.Check(devices);
                var device = $"/dev/spidev{options.SpiBusId}.{options.SpiChipSelect}";
                var spi = Open($"{own.Path}:SpiBusId", device, "SPI", () => SpiDevice.Create(options.CreateSpiConnectionSettings()));
                return Open($"{own.Path}:SpiBusId", device, "SPI", () => new Xpt2046TouchKeypad(spi, services.GetRequiredService<GpioController>(), options, Time(services), Logger<Xpt2046TouchKeypad>(services)));
            })
            .AddSensorsKind(GpioKind, (services, _) =>
            {
                var options = services.GetRequiredService<IOptions<GpioFaultSensorsOptions>>().Value;
                PinPlan.Check(devices);
                return new GpioFaultSensors(services.GetRequiredService<GpioController>(), options, Time(services), Logger<GpioFaultSensors>(services));
            });
    }

    /// <summary>
    /// Binds <typeparamref name="T"/> from <paramref name="section"/>, adds <paramref name="validator"/> (which names every
    /// failure by its full path under that section) and, when <paramref name="selected"/>, checks them at host start.
    /// </summary>
    private static void AddValidatedOptions<T>(IServiceCollection services, IConfigurationSection section, IValidateOptions<T> validator, bool selected, Action<T>? bind = null)
        where T : class
    {
        var options = services.AddOptions<T>().Configure(bind ?? (o => AtmDevicesBuilder.Bind(section, o)));
        services.TryAddEnumerable(ServiceDescriptor.Singleton(validator));
        if (selected)
        {
            options.ValidateOnStart();
        }
    }

    private static bool IsKind(IConfigurationSection section, string kind) => string.Equals(section["Kind"], kind, StringComparison.OrdinalIgnoreCase);

    /// <summary>Reads <c>Devices:Display</c>'s TFT and character-LCD subsections (each null when absent).</summary>
    public static RaspberryPiDisplayOptions ReadDisplayOptions(IConfigurationSection displaySection)
    {
        ArgumentNullException.ThrowIfNull(displaySection);
        var result = new RaspberryPiDisplayOptions();
        var tft = displaySection.GetSection("Ili934x");
        if (tft.Exists())
        {
            result.Ili934x = new Ili934xDisplayOptions();
            AtmDevicesBuilder.Bind(tft, result.Ili934x);
        }

        var lcd = displaySection.GetSection("CharacterLcd");
        if (lcd.Exists())
        {
            result.CharacterLcd = new CharacterLcdOptions();
            AtmDevicesBuilder.Bind(lcd, result.CharacterLcd);
        }

        return result;
    }

    /// <summary>
    /// Reads <c>Devices:Keypad:Matrix</c> into <paramref name="options"/> (a new one when null): listed pins and key map
    /// replace the defaults whole, because the configuration binder appends to arrays that already hold defaults.
    /// </summary>
    internal static MatrixKeypadOptions ReadMatrixOptions(IConfigurationSection section, MatrixKeypadOptions? options = null)
    {
        options ??= new MatrixKeypadOptions();
        ReplaceListedDefaults(section, options);
        AtmDevicesBuilder.Bind(section, options);
        return options;
    }

    private static void ReplaceListedDefaults(IConfigurationSection section, MatrixKeypadOptions options)
    {
        if (section.GetSection(nameof(options.RowPins)).Exists())
        {
            options.RowPins = [];
        }

        if (section.GetSection(nameof(options.ColumnPins)).Exists())
        {
            options.ColumnPins = [];
        }

        if (section.GetSection(nameof(options.KeyMap)).Exists())
        {
            options.KeyMap = [];
        }
    }

    /// <summary>
    /// The board's GPIO controller, after checking that the driver it needs can load (libgpiod on a Pi 5, and for the
    /// fault sensors' edge events), so a missing package is named instead of surfacing as a raw exception later.
    /// </summary>
    internal static GpioController OpenGpioController(IConfiguration? configuration, PiMachine? machine = null, Func<GpioController>? create = null)
    {
        machine ??= PiMachine.Current;
        var sensors = configuration?.GetSection("Devices:Sensors");
        var edgeEvents = sensors is not null
            && string.Equals(sensors["Kind"], GpioKind, StringComparison.OrdinalIgnoreCase)
            && sensors.GetSection($"{GpioKind}:Sensors").GetChildren().Any(c => c["Pin"] is not null);
        RaspberryPiDoctor.RequireGpioLibrary(machine, edgeEvents, "Devices (GPIO)");
        try
        {
            return (create ?? (() => new GpioController()))();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or PlatformNotSupportedException or DllNotFoundException or TypeInitializationException or InvalidOperationException)
        {
            throw new ConfigurationException("Devices (GPIO)", DescribeOpenFailure("the GPIO controller (/dev/gpiomem or /dev/gpiochip*)", "gpio", ex));
        }
    }

    /// <summary>The TFT on its opened bus; when MISO is wired and its id does not read back, start-up stops naming the chip select.</summary>
    private static Ili934xDisplay OpenTft(SpiDevice spi, IServiceProvider services, Ili934xDisplayOptions options, string section)
    {
        try
        {
            return new Ili934xDisplay(spi, services.GetRequiredService<GpioController>(), options, Logger<Ili934xDisplay>(services));
        }
        catch (DisplayNotAnsweringException ex)
        {
            spi.Dispose();
            throw new ConfigurationException(
                $"{section}:SpiChipSelect",
                $"no {options.Model} answers on /dev/spidev{options.SpiBusId}.{options.SpiChipSelect} (SpiBusId {options.SpiBusId}, SpiChipSelect {options.SpiChipSelect}, SpiClockHz {options.SpiClockHz}, SPI mode 3): "
                + $"{ex.Message}; check SpiBusId and SpiChipSelect against the wiring and lower SpiClockHz, or set {section}:MisoWired to false if the panel's SDO (MISO) pin is not connected");
        }
    }

    /// <summary>
    /// The optional mirror LCD, or null when it cannot be opened or does not answer: it only mirrors the TFT's text,
    /// so its loss is a warning naming its settings, never a stop of start-up (its settings' validation still is).
    /// </summary>
    private static CharacterLcdDisplay? OpenMirrorLcd(IServiceProvider services, string setting, CharacterLcdOptions options)
    {
        var device = $"/dev/i2c-{options.I2cBusId}";
        I2cDevice? i2c = null;
        try
        {
            i2c = services.GetRequiredService<IPiBuses>().OpenI2c(options.CreateI2cConnectionSettings());
            return new CharacterLcdDisplay(i2c, options, Logger<CharacterLcdDisplay>(services));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or PlatformNotSupportedException or DllNotFoundException)
        {
            i2c?.Dispose();
            var logger = (ILogger?)Logger<MirroredDisplay>(services) ?? NullLogger.Instance;
            logger.LogWarning(
                "The mirror LCD ({Setting}: I2cBusId {Bus}, I2cAddress 0x{Address:X2}) is not used, the TFT alone shows the screens: {Problem}",
                setting,
                options.I2cBusId,
                options.I2cAddress,
                DescribeOpenFailure($"{device} address 0x{options.I2cAddress:X2}", "i2c", ex));
            return null;
        }
    }

    private static T Open<T>(string setting, string device, string bus, Func<T> open)
    {
        try
        {
            return open();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or PlatformNotSupportedException or DllNotFoundException)
        {
            throw new ConfigurationException(setting, DescribeOpenFailure(device, bus.ToLowerInvariant(), ex));
        }
    }

    /// <summary>What went wrong opening <paramref name="device"/>, told by the failure's kind, with the fix.</summary>
    internal static string DescribeOpenFailure(string device, string group, Exception failure)
    {
        var reason = failure.Message.TrimEnd('.', ' ');
        var fix = failure switch
        {
            DllNotFoundException or TypeInitializationException => $"a native library is missing; for GPIO install it: sudo apt install {RaspberryPiDoctor.LibgpiodPackage}",
            UnauthorizedAccessException => $"permission denied: add the service user to the '{group}' group (sudo usermod -aG {group} USER) and, under systemd, allow the node in the unit (DeviceAllow=)",
            FileNotFoundException or DirectoryNotFoundException => $"the node does not exist: enable the interface in /boot/firmware/config.txt ({(group == "spi" ? "dtparam=spi=on" : group == "i2c" ? "dtparam=i2c_arm=on" : "see the overlays")}) and reboot",
            _ => "check the wiring, the interface's overlay in /boot/firmware/config.txt and the service user's groups",
        };
        return $"{device} cannot be used ({reason}); {fix}. 'cardless-atm devices doctor' checks every node, group and library the configured devices need (docs/hardware/raspberry-pi.md)";
    }

    private static TimeProvider Time(IServiceProvider services) => services.GetService<TimeProvider>() ?? TimeProvider.System;

    private static ILogger<T>? Logger<T>(IServiceProvider services) => services.GetService<ILoggerFactory>()?.CreateLogger<T>();
}
