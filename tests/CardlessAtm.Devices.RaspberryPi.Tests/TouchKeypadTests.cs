using CardlessAtm.Devices.Keypad;
using CardlessAtm.Devices.RaspberryPi.Keypad;
using CardlessAtm.FirmwareSim.Gpio;

namespace CardlessAtm.Devices.RaspberryPi.Tests;

/// <summary>The real Chsc6440 binding (its own polling thread) on the emulated controller; waits are synchronisation only.</summary>
public class TouchKeypadTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_tap_inside_a_zone_is_one_press_of_its_key()
    {
        using var rig = new Rig();
        var chip = new Chsc6440TouchEmulator(rig.Board, interruptPin: 26);
        using var keypad = new TouchKeypad(chip, rig.Gpio, Options(), rig.Clock);
        Assert.True(chip.Initialised);

        Tap(keypad, chip, 300, 220);
        using var cancel = new CancellationTokenSource(Timeout);
        var press = await keypad.ReadKeyAsync(cancel.Token);
        Assert.Equal(AtmKey.Enter, press.Key);

        Tap(keypad, chip, 10, 220);
        Assert.Equal(AtmKey.Cancel, (await keypad.ReadKeyAsync(cancel.Token)).Key);
    }

    [Fact]
    public async Task A_tap_outside_every_zone_is_no_press()
    {
        using var rig = new Rig();
        var chip = new Chsc6440TouchEmulator(rig.Board, interruptPin: 26);
        using var keypad = new TouchKeypad(chip, rig.Gpio, Options(), rig.Clock);

        Tap(keypad, chip, 160, 100);
        Assert.Equal(1, keypad.TapsSeen);
        using var cancel = new CancellationTokenSource();
        var next = keypad.ReadKeyAsync(cancel.Token).AsTask();
        Assert.False(next.IsCompleted);
        await cancel.CancelAsync();
    }

    [Fact]
    public void Overlapping_zones_are_refused()
    {
        var options = Options();
        options.Zones.Add(new TouchZoneOptions { Key = "F1", X = 250, Y = 200, Width = 60, Height = 30 });
        var validator = new TouchKeypadOptionsValidator("Devices:Keypad:Touch");
        var error = Assert.Throws<ConfigurationException>(() => validator.ThrowIfInvalid(options));
        Assert.Equal("Devices:Keypad:Touch:Zones:2:X", error.Setting);
        Assert.Contains("overlaps", error.Message);
        Assert.StartsWith("Devices:Keypad:Touch:Zones:2:X: the zone for F1 overlaps", Assert.Single(validator.Validate(null, options).Failures!), StringComparison.Ordinal);
    }

    private static TouchKeypadOptions Options() => new()
    {
        InterruptPin = 26,
        ScreenWidth = 320,
        ScreenHeight = 240,
        Zones =
        [
            new() { Key = "Cancel", X = 0, Y = 200, Width = 100, Height = 40 },
            new() { Key = "Enter", X = 220, Y = 200, Width = 100, Height = 40 },
        ],
    };

    /// <summary>Touches, waits until the binding has read the touch, lifts, and waits until the binding reported the tap.</summary>
    private static void Tap(TouchKeypad keypad, Chsc6440TouchEmulator chip, int x, int y)
    {
        var taps = keypad.TapsSeen;
        chip.Touch(x, y);
        chip.WaitForReads(2, Timeout, whileTouched: true);
        chip.Release();
        var deadline = Environment.TickCount64 + (long)Timeout.TotalMilliseconds;
        while (keypad.TapsSeen == taps)
        {
            Assert.True(Environment.TickCount64 < deadline, "the binding did not report the tap");
            Thread.Sleep(1);
        }
    }
}
