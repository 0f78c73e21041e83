using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Simulated;

namespace CardlessAtm.Terminal.Tests.MoneyPath;

/// <summary>
/// A presenting device in front of the simulated one: its retract pulls the notes in for real (after
/// <see cref="Before"/>), then answers <see cref="Answer"/> when set; the wait for the notes to be taken and the
/// read of the exit can be made to throw. Everything else is the simulated device's.
/// </summary>
internal sealed class RetractScriptedDevice(SimulatedDispenserDevice inner) : IPresentingDispenserDevice
{
    /// <summary>What the retract reports instead of the real count, when set.</summary>
    public DeviceRetractResult? Answer { get; set; }

    /// <summary>Runs before the real retract (a delay, a fault).</summary>
    public Func<Task>? Before { get; init; }

    /// <summary>Thrown by the wait for the notes to be taken.</summary>
    public Exception? WaitFault { get; init; }

    /// <summary>Thrown by the read of the exit.</summary>
    public Exception? ExitFault { get; init; }

    public DispenserDeviceInfo Info => inner.Info;

    public DispenserStatus Status => inner.Status;

    public PresentCapability Presenting => inner.Presenting;

    public Task<DeviceDispenseResult> DispenseAsync(IReadOnlyList<PositionCount> notesPerPosition, CancellationToken cancellationToken) => inner.DispenseAsync(notesPerPosition, cancellationToken);

    public Task<DeviceDispenseResult?> RefreshStatusAsync(CancellationToken cancellationToken) => inner.RefreshStatusAsync(cancellationToken);

    public Task<DeviceDispenseResult> ResetAsync(CancellationToken cancellationToken) => inner.ResetAsync(cancellationToken);

    public Task<DeviceCounters?> ReadCountersAsync(CancellationToken cancellationToken) => inner.ReadCountersAsync(cancellationToken);

    public Task WaitForTakenAsync(CancellationToken cancellationToken) => WaitFault is { } fault ? Task.FromException(fault) : inner.WaitForTakenAsync(cancellationToken);

    public Task<ExitState> ReadExitAsync(CancellationToken cancellationToken) => ExitFault is { } fault ? Task.FromException<ExitState>(fault) : inner.ReadExitAsync(cancellationToken);

    public async Task<DeviceRetractResult> RetractAsync(CancellationToken cancellationToken)
    {
        if (Before is { } before)
        {
            await before();
        }

        var real = await inner.RetractAsync(cancellationToken);
        return Answer ?? real;
    }
}
