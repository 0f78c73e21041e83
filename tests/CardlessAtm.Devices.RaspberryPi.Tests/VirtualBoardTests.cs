using System.Device.Gpio;

namespace CardlessAtm.Devices.RaspberryPi.Tests;

public class VirtualBoardTests
{
    [Fact]
    public void A_switch_to_ground_reads_low_when_closed_and_the_pull_up_when_open()
    {
        using var rig = new Rig();
        var door = rig.Board.AddSwitch("SafeDoor", 17, PinValue.Low, closed: true);
        rig.Gpio.OpenPin(17, PinMode.InputPullUp);
        Assert.Equal(PinValue.Low, rig.Gpio.Read(17));
        door.Set(false);
        Assert.Equal(PinValue.High, rig.Gpio.Read(17));
    }

    [Fact]
    public void Edges_reach_registered_callbacks_once_per_change()
    {
        using var rig = new Rig();
        var sw = rig.Board.AddSwitch("Tamper", 4, PinValue.Low, closed: false);
        rig.Gpio.OpenPin(4, PinMode.InputPullUp);
        var edges = new List<PinEventTypes>();
        rig.Gpio.RegisterCallbackForPinValueChangedEvent(4, PinEventTypes.Rising | PinEventTypes.Falling, (_, e) => edges.Add(e.ChangeType));
        sw.Set(true);
        sw.Set(true);
        sw.Set(false);
        Assert.Equal([PinEventTypes.Falling, PinEventTypes.Rising], edges);
    }

    [Fact]
    public void Bounce_toggles_the_contact_and_moves_the_board_clock()
    {
        using var rig = new Rig();
        var sw = rig.Board.AddSwitch("Shutter", 22, PinValue.Low, closed: false);
        rig.Gpio.OpenPin(22, PinMode.InputPullUp);
        var edges = 0;
        rig.Gpio.RegisterCallbackForPinValueChangedEvent(22, PinEventTypes.Rising | PinEventTypes.Falling, (_, _) => edges++);
        var before = rig.Clock.GetUtcNow();
        sw.Bounce(20, TimeSpan.FromMilliseconds(5), finallyClosed: true);
        Assert.Equal(TimeSpan.FromMilliseconds(5), rig.Clock.GetUtcNow() - before);
        Assert.True(sw.IsClosed);
        Assert.InRange(edges, 20, 21);
    }

    [Fact]
    public void A_held_matrix_key_connects_the_driven_row_to_its_column()
    {
        using var rig = new Rig();
        var matrix = rig.Board.AddKeyMatrix("Keypad", [5, 6], [12, 16]);
        rig.Gpio.OpenPin(5, PinMode.Output);
        rig.Gpio.OpenPin(6, PinMode.Output);
        rig.Gpio.OpenPin(12, PinMode.InputPullDown);
        rig.Gpio.OpenPin(16, PinMode.InputPullDown);
        matrix.Set(1, 0, held: true);
        rig.Gpio.Write(5, PinValue.High);
        Assert.Equal(PinValue.Low, rig.Gpio.Read(12));
        rig.Gpio.Write(5, PinValue.Low);
        rig.Gpio.Write(6, PinValue.High);
        Assert.Equal(PinValue.High, rig.Gpio.Read(12));
        Assert.Equal(PinValue.Low, rig.Gpio.Read(16));
    }

    [Fact]
    public void Wiring_two_parts_to_one_pin_is_refused()
    {
        var rig = new Rig();
        rig.Board.AddSwitch("SafeDoor", 17, PinValue.Low, closed: true);
        var error = Assert.Throws<InvalidOperationException>(() => rig.Board.AddSwitch("CabinetDoor", 17, PinValue.Low, closed: true));
        Assert.Contains("SafeDoor", error.Message);
        rig.Dispose();
    }
}
