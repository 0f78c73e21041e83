using System.Runtime.CompilerServices;

namespace CardlessAtm.Devices.Status;

/// <summary>Whether a device can be used at all.</summary>
public enum DeviceState
{
    /// <summary>Not yet opened or not answering.</summary>
    Offline,

    /// <summary>Answering and usable.</summary>
    Online,

    /// <summary>Answering but reporting a fault that needs a technician.</summary>
    HardwareError,

    /// <summary>
    /// Opened and driven, but it cannot be asked whether it is there (e.g. a TFT whose MISO line is not wired):
    /// whether it may serve is the fault check's choice (<c>Devices:FaultCheck:AcceptUnverifiedDisplay</c>).
    /// </summary>
    Unverified,
}

/// <summary>One value of a status object that changed.</summary>
/// <param name="Device">The device's configured name.</param>
/// <param name="Property">The status property that changed, e.g. <c>Shutter</c>.</param>
/// <param name="OldValue">The value before.</param>
/// <param name="NewValue">The value now.</param>
public sealed record StatusChange(string Device, string Property, object? OldValue, object? NewValue);

/// <summary>
/// Base of every device's status object: properties change through <see cref="Set{T}"/>, which raises
/// <see cref="Changed"/> only when the value really changes — so a simulator or a driver can report
/// the same reading every poll without flooding listeners.
/// </summary>
public abstract class DeviceStatus
{
    private readonly Lock _gate = new();
    private DeviceState _device = DeviceState.Offline;

    /// <summary>Creates a status object for the named device.</summary>
    protected DeviceStatus(string deviceName)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(deviceName);
        DeviceName = deviceName;
    }

    /// <summary>Raised after a status value changed (never for a write of the same value).</summary>
    public event EventHandler<StatusChange>? Changed;

    /// <summary>The device's configured name (e.g. <c>Dispenser</c>).</summary>
    public string DeviceName { get; }

    /// <summary>Online, offline or in hardware error.</summary>
    public DeviceState Device
    {
        get => _device;
        set => Set(ref _device, value);
    }

    /// <summary>Sets a field and raises <see cref="Changed"/> if its value changed. Returns whether it changed.</summary>
    protected bool Set<T>(ref T field, T value, [CallerMemberName] string property = "")
    {
        T old;
        lock (_gate)
        {
            if (EqualityComparer<T>.Default.Equals(field, value))
            {
                return false;
            }

            old = field;
            field = value;
        }

        RaiseChanged(property, old, value);
        return true;
    }

    /// <summary>Raises <see cref="Changed"/> for a value a derived class tracks itself.</summary>
    protected void RaiseChanged(string property, object? oldValue, object? newValue) =>
        Changed?.Invoke(this, new StatusChange(DeviceName, property, oldValue, newValue));
}
