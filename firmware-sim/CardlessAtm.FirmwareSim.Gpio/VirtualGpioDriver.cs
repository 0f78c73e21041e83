using System.Device;
using System.Device.Gpio;

namespace CardlessAtm.FirmwareSim.Gpio;

/// <summary>The <see cref="GpioDriver"/> that puts a <see cref="GpioController"/> on a <see cref="VirtualGpioBoard"/>.</summary>
internal sealed class VirtualGpioDriver(VirtualGpioBoard board) : GpioDriver
{
    protected override int PinCount => board.PinCount;

    protected override void OpenPin(int pinNumber) => board.Open(pinNumber);

    protected override void ClosePin(int pinNumber) => board.Close(pinNumber);

    protected override void SetPinMode(int pinNumber, PinMode mode) => board.SetMode(pinNumber, mode, null);

    protected override void SetPinMode(int pinNumber, PinMode mode, PinValue initialValue) => board.SetMode(pinNumber, mode, initialValue);

    protected override PinMode GetPinMode(int pinNumber) => board.GetMode(pinNumber);

    protected override bool IsPinModeSupported(int pinNumber, PinMode mode) =>
        (uint)pinNumber < (uint)board.PinCount
        && mode is PinMode.Input or PinMode.Output or PinMode.InputPullUp or PinMode.InputPullDown;

    protected override PinValue Read(int pinNumber) => board.Read(pinNumber);

    protected override void Write(int pinNumber, PinValue value) => board.Write(pinNumber, value);

    protected override WaitForEventResult WaitForEvent(int pinNumber, PinEventTypes eventTypes, CancellationToken cancellationToken)
    {
        using var signalled = new ManualResetEventSlim();
        var result = new WaitForEventResult { TimedOut = true, EventTypes = PinEventTypes.None };
        void OnEdge(object sender, PinValueChangedEventArgs e)
        {
            result = new WaitForEventResult { TimedOut = false, EventTypes = e.ChangeType };
            signalled.Set();
        }

        board.AddCallback(pinNumber, eventTypes, OnEdge);
        try
        {
            signalled.Wait(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // The contract reports a cancelled wait as a timeout, not an exception.
        }
        finally
        {
            board.RemoveCallback(pinNumber, OnEdge);
        }

        return result;
    }

    protected override void AddCallbackForPinValueChangedEvent(int pinNumber, PinEventTypes eventTypes, PinChangeEventHandler callback) =>
        board.AddCallback(pinNumber, eventTypes, callback);

    protected override void RemoveCallbackForPinValueChangedEvent(int pinNumber, PinChangeEventHandler callback) =>
        board.RemoveCallback(pinNumber, callback);

    public override ComponentInformation QueryComponentInformation() =>
        new(this, $"Virtual GPIO board ({board.PinCount} lines)");
}
