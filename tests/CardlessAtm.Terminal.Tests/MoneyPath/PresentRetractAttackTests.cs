using CardlessAtm.Devices;
using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Simulated;
using CardlessAtm.Iso8583;
using CardlessAtm.Terminal.Flow;
using CardlessAtm.Terminal.Journal;

namespace CardlessAtm.Terminal.Tests.MoneyPath;

/// <summary>
/// Attacks on present / take / retract (issue 19): a device whose retract answers what no honest device should, and a
/// process killed inside the retract. Each test asserts the phone's code, the reversal queue and the cash-unit counts
/// (presented, retracted, unknown) with the device's retract bin, on fake time.
/// </summary>
public class PresentRetractAttackTests
{
    private static readonly Money Eur80 = Money.FromMajor(80, "EUR");

    [Fact]
    public async Task A_retract_that_names_the_same_position_twice_never_takes_back_more_notes_than_were_presented()
    {
        // One 50 was presented from position 3; the device says it retracted one 50 from position 3, twice over.
        using var rig = await MoneyPathRig.CreateAsync(wrap: device => new RetractAnswer(device, new DeviceRetractResult(RetractCompletion.Ok, [new PositionCount(3, 1), new PositionCount(3, 1)])));
        rig.Device.Faults.NotesNotTaken = true;
        rig.Host.Answers(ResponseCodes.Approved);

        var settled = await RunOnFakeTimeAsync(rig, rig.WithdrawAsync());

        Assert.Equal((ResponseCodes.Approved, (Money?)Money.FromMajor(30, "EUR")), (settled.ResponseCode, settled.Presented));
        var reversal = rig.SingleReversal();
        Assert.Equal((8_000L, 3_000L, ReversalReasons.NotesRetracted), (reversal.AmountMinor, reversal.DispensedMinor, reversal.ReasonCode));
        Assert.Equal((1, 0, 0), Counters(rig, "CASS1"));
        Assert.Equal((1, 0, 0), Counters(rig, "CASS2"));
        Assert.Equal((0, 1, 0), Counters(rig, "CASS3"));
        Assert.Equal(5_000L, Assert.Single(rig.Entries().OfType<NotesRetracted>()).Value.AmountMinor);
    }

    private static (int Presented, int Retracted, int Unknown) Counters(MoneyPathRig rig, string unit)
    {
        var counters = rig.Dispenser.CashUnits.Single(u => u.Id == unit).Counters;
        return (counters.Presented, counters.Retracted, counters.Unknown);
    }

    /// <summary>Advances the fake clock a second at a time until the withdrawal ends (at most two present timeouts).</summary>
    private static async Task<WithdrawalSettlement> RunOnFakeTimeAsync(MoneyPathRig rig, Task<WithdrawalSettlement> withdrawal)
    {
        for (var second = 0; !withdrawal.IsCompleted && second < 2 * rig.Options.PresentTimeout.TotalSeconds; second++)
        {
            await Task.WhenAny(withdrawal, Task.Delay(20));
            if (!withdrawal.IsCompleted)
            {
                rig.Time.Advance(TimeSpan.FromSeconds(1));
            }
        }

        return await withdrawal.WaitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>A presenting device in front of the simulated one whose retract does the real one, then answers what the test says.</summary>
    private sealed class RetractAnswer(SimulatedDispenserDevice inner, DeviceRetractResult answer) : IPresentingDispenserDevice
    {
        public DispenserDeviceInfo Info => inner.Info;

        public DispenserStatus Status => inner.Status;

        public PresentCapability Presenting => inner.Presenting;

        public Task<DeviceDispenseResult> DispenseAsync(IReadOnlyList<PositionCount> notesPerPosition, CancellationToken cancellationToken) => inner.DispenseAsync(notesPerPosition, cancellationToken);

        public Task<DeviceDispenseResult?> RefreshStatusAsync(CancellationToken cancellationToken) => inner.RefreshStatusAsync(cancellationToken);

        public Task<DeviceDispenseResult> ResetAsync(CancellationToken cancellationToken) => inner.ResetAsync(cancellationToken);

        public Task<DeviceCounters?> ReadCountersAsync(CancellationToken cancellationToken) => inner.ReadCountersAsync(cancellationToken);

        public Task WaitForTakenAsync(CancellationToken cancellationToken) => inner.WaitForTakenAsync(cancellationToken);

        public Task<ExitState> ReadExitAsync(CancellationToken cancellationToken) => inner.ReadExitAsync(cancellationToken);

        public async Task<DeviceRetractResult> RetractAsync(CancellationToken cancellationToken)
        {
            await inner.RetractAsync(cancellationToken);
            return answer;
        }
    }
}
