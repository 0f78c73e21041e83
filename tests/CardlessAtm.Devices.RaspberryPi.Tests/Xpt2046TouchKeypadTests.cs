using System.Device.Gpio;
using System.Drawing;
using CardlessAtm.Devices.Keypad;
using CardlessAtm.Devices.RaspberryPi.Touch;
using CardlessAtm.FirmwareSim.Gpio;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CardlessAtm.Devices.RaspberryPi.Tests;

/// <summary>The XPT2046 keypad against the emulated controller on the virtual SPI bus and board, on a fake clock.</summary>
public class Xpt2046TouchKeypadTests
{
    private const int PenIrqPin = 26;

    [Fact]
    public void A_press_inside_a_zone_is_one_press_of_its_key_however_long_it_is_held()
    {
        using var rig = new TouchRig();
        rig.Chip.Touch(300, 220);
        rig.Run(1000);
        Assert.Equal([AtmKey.Enter], rig.Keys());

        rig.Chip.Release();
        rig.Run(100);
        rig.Chip.Touch(10, 220);
        rig.Run(100);
        Assert.Equal([AtmKey.Cancel], rig.Keys());
    }

    [Fact]
    public void PENIRQ_is_low_only_while_the_panel_is_pressed()
    {
        using var rig = new TouchRig();
        Assert.Equal(PinValue.High, rig.Board.LevelOf(PenIrqPin));
        rig.Chip.Touch(150, 120);
        Assert.Equal(PinValue.Low, rig.Board.LevelOf(PenIrqPin));
        rig.Chip.Release();
        Assert.Equal(PinValue.High, rig.Board.LevelOf(PenIrqPin));
    }

    [Fact]
    public void A_touch_shorter_than_the_press_debounce_is_no_press()
    {
        using var rig = new TouchRig();
        rig.Chip.Touch(300, 220);
        rig.Run(20);
        rig.Chip.Release();
        rig.Run(200);
        Assert.True(rig.Keypad.Readings > 0);
        Assert.Empty(rig.Keys());
    }

    [Fact]
    public void A_new_press_needs_the_release_debounce_first()
    {
        using var rig = new TouchRig();
        rig.Chip.Touch(300, 220);
        rig.Run(100);
        rig.Chip.Release();
        rig.Run(20); // a flicker of the contact, shorter than the release debounce
        rig.Chip.Touch(300, 220);
        rig.Run(100);
        Assert.Equal([AtmKey.Enter], rig.Keys());
    }

    [Fact]
    public void A_touch_outside_every_zone_and_a_slide_onto_one_are_no_press()
    {
        using var rig = new TouchRig();
        rig.Chip.Touch(160, 100);
        rig.Run(100);
        rig.Chip.Touch(300, 220); // slid onto Enter while still pressed
        rig.Run(100);
        Assert.Empty(rig.Keys());
    }

    [Fact]
    public void A_light_contact_below_the_pressure_threshold_is_no_press()
    {
        using var rig = new TouchRig();
        rig.Chip.Touch(300, 220, pressure: 200);
        rig.Run(200);
        Assert.True(rig.Keypad.Readings > 0);
        Assert.Empty(rig.Keys());
    }

    [Fact]
    public void Without_PENIRQ_the_controller_is_not_even_sampled_and_no_key_comes()
    {
        using var rig = new TouchRig();
        var idle = rig.Chip.Conversions;
        rig.Chip.SetPenIrqWired(false);
        rig.Chip.Touch(300, 220);
        rig.Run(500);
        Assert.Equal(0, rig.Keypad.Readings);
        Assert.Equal(idle, rig.Chip.Conversions);
        Assert.Empty(rig.Keys());
    }

    [Fact]
    public void Spikes_on_the_line_are_dropped_and_jitter_averaged_so_the_key_is_right()
    {
        using var rig = new TouchRig();
        rig.Chip.SetJitter(25);
        rig.Chip.SetSpikes(5);    // one or two of each reading's seven samples per axis read 0
        rig.Chip.Touch(225, 205); // near Enter's left and top edges: an average with a spike in it would miss
        rig.Run(100);
        Assert.Equal([AtmKey.Enter], rig.Keys());
    }

    [Theory]
    [InlineData(false, false, false)]
    [InlineData(true, false, false)]
    [InlineData(false, true, true)]
    [InlineData(true, true, false)]
    public void The_calibration_maps_a_rotated_or_mirrored_layer_onto_the_zones(bool swap, bool invertX, bool invertY)
    {
        var geometry = new Xpt2046PanelGeometry(RawXMin: 350, RawXMax: 3700, RawYMin: 500, RawYMax: 3500, SwapXY: swap, InvertX: invertX, InvertY: invertY);
        using var rig = new TouchRig(geometry, o =>
        {
            (o.RawXMin, o.RawXMax, o.RawYMin, o.RawYMax) = (350, 3700, 500, 3500);
            (o.SwapXY, o.InvertX, o.InvertY) = (swap, invertX, invertY);
        });
        rig.Chip.Touch(300, 220);
        rig.Run(100);
        rig.Chip.Release();
        rig.Run(100);
        rig.Chip.Touch(10, 220);
        rig.Run(100);
        Assert.Equal([AtmKey.Enter, AtmKey.Cancel], rig.Keys());
    }

    [Fact]
    public void A_wrong_calibration_sends_the_touch_elsewhere()
    {
        // The test above can fail: the same layer read without its rotation puts Enter's touch outside Enter.
        using var rig = new TouchRig(new Xpt2046PanelGeometry(SwapXY: true, InvertX: true));
        rig.Chip.Touch(300, 220);
        rig.Run(100);
        Assert.NotEqual([AtmKey.Enter], rig.Keys());
    }

    [Fact]
    public void Raw_corners_map_to_screen_corners()
    {
        var options = Options();
        Assert.Equal(new Point(0, 0), Xpt2046TouchKeypad.ToScreen(options, 200, 200));
        Assert.Equal(new Point(319, 239), Xpt2046TouchKeypad.ToScreen(options, 3900, 3900));
        Assert.Equal(new Point(0, 239), Xpt2046TouchKeypad.ToScreen(options, 0, 4095)); // clamped
        options.SwapXY = true;
        options.InvertX = true;
        Assert.Equal(new Point(0, 239), Xpt2046TouchKeypad.ToScreen(options, 3900, 3900));
    }

    [Fact]
    public void The_controller_gets_its_own_chip_select_and_a_clock_it_can_take()
    {
        var spi = Options().CreateSpiConnectionSettings();
        var display = new Display.Ili934xDisplayOptions().CreateSpiConnectionSettings();
        Assert.Equal((0, 1), (spi.BusId, spi.ChipSelectLine));
        Assert.NotEqual(display.ChipSelectLine, spi.ChipSelectLine);
        Assert.InRange(spi.ClockFrequency, 1, Xpt2046.MaxClockHz);
        Assert.True(display.ClockFrequency > spi.ClockFrequency);
        Assert.Equal(System.Device.Spi.SpiMode.Mode0, spi.Mode);
        Assert.Equal(0xD0, Xpt2046.ControlByte(Xpt2046Channel.X, powerDownAfter: true));
        Assert.Equal(0x91, Xpt2046.ControlByte(Xpt2046Channel.Y, powerDownAfter: false));
        Assert.Equal(0xB1, Xpt2046.ControlByte(Xpt2046Channel.Z1, powerDownAfter: false));
        Assert.Equal(0xC0, Xpt2046.ControlByte(Xpt2046Channel.Z2, powerDownAfter: true));
    }

    [Theory]
    [InlineData("SpiClockHz", "Devices:Keypad:Xpt2046:SpiClockHz")]
    [InlineData("SpiChipSelect", "Devices:Keypad:Xpt2046:SpiChipSelect")]
    [InlineData("PenIrqPin", "Devices:Keypad:Xpt2046:PenIrqPin")]
    [InlineData("RawX", "Devices:Keypad:Xpt2046:RawXMin")]
    [InlineData("RawY", "Devices:Keypad:Xpt2046:RawYMin")]
    [InlineData("PressureThreshold", "Devices:Keypad:Xpt2046:PressureThreshold")]
    [InlineData("SamplesPerReading", "Devices:Keypad:Xpt2046:SamplesPerReading")]
    [InlineData("MaxSampleSpread", "Devices:Keypad:Xpt2046:MaxSampleSpread")]
    [InlineData("PollIntervalMilliseconds", "Devices:Keypad:Xpt2046:PollIntervalMilliseconds")]
    [InlineData("Zones", "Devices:Keypad:Xpt2046:Zones")]
    [InlineData("ZoneKey", "Devices:Keypad:Xpt2046:Zones:1:Key")]
    public void A_bad_setting_is_refused_naming_it(string what, string setting)
    {
        var options = Options();
        Action spoil = what switch
        {
            "SpiClockHz" => () => options.SpiClockHz = 12_000_000,
            "SpiChipSelect" => () => options.SpiChipSelect = 3,
            "PenIrqPin" => () => options.PenIrqPin = 40,
            "RawX" => () => (options.RawXMin, options.RawXMax) = (3900, 200),
            "RawY" => () => options.RawYMax = 5000,
            "PressureThreshold" => () => options.PressureThreshold = 0,
            "SamplesPerReading" => () => options.SamplesPerReading = 2,
            "MaxSampleSpread" => () => options.MaxSampleSpread = 0,
            "PollIntervalMilliseconds" => () => options.PollIntervalMilliseconds = 0,
            "Zones" => () => options.Zones.Clear(),
            _ => () => options.Zones[1].Key = "Withdraw",
        };
        spoil();
        var validator = new Xpt2046OptionsValidator("Devices:Keypad:Xpt2046");
        var error = Assert.Throws<ConfigurationException>(() => validator.ThrowIfInvalid(options));
        Assert.Equal(setting, error.Setting);
        Assert.StartsWith(setting + ": ", Assert.Single(validator.Validate(null, options).Failures!), StringComparison.Ordinal);
    }

    [Fact]
    public void The_zones_are_built_from_valid_options_without_a_section()
    {
        var options = Options();
        Assert.True(new Xpt2046OptionsValidator("Devices:Keypad:Xpt2046").Validate(null, options).Succeeded);
        var zones = options.BuildZones();
        Assert.Equal(options.Zones.Count, zones.Count);
        Assert.Equal(new System.Drawing.Rectangle(options.Zones[0].X, options.Zones[0].Y, options.Zones[0].Width, options.Zones[0].Height), zones[0].Area);
    }

    [Fact]
    public void Bad_settings_are_refused_before_the_pin_or_the_bus_is_touched()
    {
        using var rig = new Rig();
        var chip = new Xpt2046TouchEmulator(rig.Board, PenIrqPin);
        var options = Options();
        options.SpiClockHz = 20_000_000;
        Assert.Throws<ConfigurationException>(() => new Xpt2046TouchKeypad(chip, rig.Gpio, options, rig.Clock));
        Assert.Null(rig.Board.ModeOf(PenIrqPin));
        Assert.Equal(0, chip.Conversions);
    }

    [Fact]
    public void The_keypad_kind_Xpt2046_binds_its_section_and_refuses_a_bad_setting_by_name()
    {
        using var rig = new Rig();
        using var services = PinPlanTests.Build(rig, new()
        {
            ["Devices:Keypad:Kind"] = "Xpt2046",
            ["Devices:Keypad:Xpt2046:SpiClockHz"] = "16000000",
            ["Devices:Keypad:Xpt2046:Zones:0:Key"] = "Enter",
            ["Devices:Keypad:Xpt2046:Zones:0:Width"] = "100",
            ["Devices:Keypad:Xpt2046:Zones:0:Height"] = "40",
        });

        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IKeypad>());

        Assert.Contains(error.Failures, f => f.StartsWith("Devices:Keypad:Xpt2046:SpiClockHz: 16000000 Hz", StringComparison.Ordinal));
    }

    internal static Xpt2046Options Options() => new()
    {
        PenIrqPin = PenIrqPin,
        Zones =
        [
            new() { Key = "Cancel", X = 0, Y = 200, Width = 100, Height = 40 },
            new() { Key = "Enter", X = 220, Y = 200, Width = 100, Height = 40 },
        ],
    };

    /// <summary>The board, the emulated controller on SPI0 CE1, and the keypad on the board's fake clock.</summary>
    private sealed class TouchRig : IDisposable
    {
        private readonly Rig _rig = new();
        private readonly Xpt2046Options _options;

        public TouchRig(Xpt2046PanelGeometry? geometry = null, Action<Xpt2046Options>? configure = null)
        {
            Chip = new Xpt2046TouchEmulator(_rig.Board, PenIrqPin, geometry);
            _options = Options();
            configure?.Invoke(_options);
            Keypad = new Xpt2046TouchKeypad(Chip, _rig.Gpio, _options, _rig.Clock);
        }

        public Xpt2046TouchEmulator Chip { get; }

        public Xpt2046TouchKeypad Keypad { get; }

        public VirtualGpioBoard Board => _rig.Board;

        /// <summary>Moves the clock on one poll at a time, so every poll runs at its own instant.</summary>
        public void Run(int milliseconds)
        {
            for (var t = 0; t < milliseconds; t += _options.PollIntervalMilliseconds)
            {
                _rig.Clock.Advance(TimeSpan.FromMilliseconds(_options.PollIntervalMilliseconds));
            }
        }

        /// <summary>The keys pressed so far (taken from the queue).</summary>
        public List<AtmKey> Keys()
        {
            var keys = new List<AtmKey>();
            while (true)
            {
                // A read left waiting would swallow the next press: cancel it, which takes it off the queue.
                using var stop = new CancellationTokenSource();
                var press = Keypad.ReadKeyAsync(stop.Token);
                if (!press.IsCompleted)
                {
                    stop.Cancel();
                    _ = press.AsTask().ContinueWith(static _ => { }, TaskScheduler.Default);
                    return keys;
                }

                keys.Add(press.Result.Key);
            }
        }

        public void Dispose()
        {
            Keypad.Dispose();
            _rig.Dispose();
        }
    }
}
