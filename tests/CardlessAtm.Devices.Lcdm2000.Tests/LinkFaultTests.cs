using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Status;
using CardlessAtm.FirmwareSim.Lcdm2000;

namespace CardlessAtm.Devices.Lcdm2000.Tests;

/// <summary>Line faults: NAK, bad BCC, garbage, silence, a vanished port.</summary>
public class LinkFaultTests
{
    /// <summary>Silence is injected once, and the test expects success after it: limits that a loaded machine cannot trip.</summary>
    private static void Patient(Lcdm2000Options o)
    {
        Rig.Silent(o);
        o.AckTimeout = TimeSpan.FromSeconds(1);
        o.Retries = 3;
    }

    [Fact]
    public async Task A_nak_on_the_first_try_repeats_the_command_and_pays_out_once()
    {
        using var rig = new Rig();
        rig.Emulator.NakNextCommands(1);
        var result = await rig.Dispense(12);
        Assert.Equal(DispenseCompletion.Ok, result.Completion);
        Assert.Equal(12, result.TotalPresented);
        Assert.Equal(488, rig.Emulator.UpperCount);
        Assert.Equal(2, rig.Emulator.ReceivedCommands.Count);
        var c = rig.Dispenser.LinkCounters;
        Assert.Equal((1, 1, 2), (c.NaksReceived, c.Repeats, c.CommandFrames));
    }

    [Fact]
    public async Task Naks_beyond_the_retries_mean_nothing_moved()
    {
        using var rig = new Rig(driver: o => o.Retries = 2);
        rig.Emulator.NakNextCommands(3);
        var result = await rig.Dispense(5);
        Assert.Equal(DispenseCompletion.HardwareError, result.Completion);
        Assert.Equal(new PositionMovement(1, 0, 0, 0), Rig.Of(result, 1));
        Assert.Contains("refused", result.Detail);
        Assert.Equal(500, rig.Emulator.UpperCount);
        Assert.Equal(3, rig.Emulator.ReceivedCommands.Count);
    }

    /// <summary>A short ACK window and a long dispense limit: a NAK sent after the window lands while the driver waits for the answer.</summary>
    private static void ShortAckWindow(Lcdm2000Options o)
    {
        o.AckTimeout = TimeSpan.FromMilliseconds(200);
        o.DispenseBaseTimeout = TimeSpan.FromSeconds(10);
    }

    [Fact]
    public async Task A_late_nak_during_a_dispense_means_nothing_moved_and_the_repeat_pays_out_once()
    {
        using var rig = new Rig(driver: ShortAckWindow);
        rig.Emulator.NakNextCommandsLate(TimeSpan.FromSeconds(1));
        var result = await rig.Dispense(7);
        Assert.Equal(DispenseCompletion.Ok, result.Completion);
        Assert.Equal(new PositionMovement(1, 7, 0, 0), Rig.Of(result, 1));
        Assert.False(result.HasUnknown);
        Assert.Equal(493, rig.Emulator.UpperCount);
        Assert.Equal(7, rig.Emulator.PresentedCount);
        Assert.Equal(2, rig.Emulator.ReceivedCommands.Count);
        var c = rig.Dispenser.LinkCounters;
        Assert.Equal((1, 1, 0), (c.NaksReceived, c.Repeats, c.GarbageBytes));
    }

    [Fact]
    public async Task Late_naks_beyond_the_retries_refuse_the_dispense_with_no_note_unknown()
    {
        using var rig = new Rig(driver: o =>
        {
            ShortAckWindow(o);
            o.Retries = 1;
        });
        rig.Emulator.NakNextCommandsLate(TimeSpan.FromSeconds(1), count: 2);
        var result = await rig.Dispense(5, 4);
        Assert.Equal(DispenseCompletion.HardwareError, result.Completion);
        Assert.Equal(new PositionMovement(1, 0, 0, 0), Rig.Of(result, 1));
        Assert.Equal(new PositionMovement(2, 0, 0, 0), Rig.Of(result, 2));
        Assert.False(result.HasUnknown);
        Assert.Contains("refused", result.Detail);
        Assert.Equal((500, 500), (rig.Emulator.UpperCount, rig.Emulator.LowerCount));
        Assert.Equal(2, rig.Emulator.ReceivedCommands.Count);
    }

    [Fact]
    public async Task A_response_with_a_bad_bcc_is_refused_and_the_repeat_accepted()
    {
        using var rig = new Rig();
        rig.Emulator.CorruptNextResponses(2);
        var result = await rig.Dispense(8);
        Assert.Equal(DispenseCompletion.Ok, result.Completion);
        Assert.Equal(8, result.TotalPresented);
        Assert.Equal(492, rig.Emulator.UpperCount);
        Assert.Single(rig.Emulator.ReceivedCommands);
        Assert.Equal(2, rig.Dispenser.LinkCounters.ResponsesRefused);
    }

    [Fact]
    public async Task Responses_corrupted_beyond_the_retries_leave_the_notes_unknown_not_guessed()
    {
        using var rig = new Rig(driver: o => o.Retries = 1);
        rig.Emulator.CorruptNextResponses(10);
        var result = await rig.Dispense(6);
        Assert.Equal(DispenseCompletion.HardwareError, result.Completion);
        Assert.Equal(new PositionMovement(1, 0, 0, 6), Rig.Of(result, 1));
        Assert.True(result.HasUnknown);
        Assert.Equal(494, rig.Emulator.UpperCount); // the firmware did pay out: only "unknown" is honest
        Assert.Contains("BCC mismatch", result.Detail);
    }

    [Theory]
    [InlineData(GarbagePoint.BeforeAck)]
    [InlineData(GarbagePoint.BeforeResponse)]
    public async Task Garbage_on_the_line_is_skipped(GarbagePoint where)
    {
        using var rig = new Rig();
        byte[] noise = [0xFF, 0x00, 0x7E, 0x30, 0x55, 0x50, 0x02];
        rig.Emulator.InjectGarbage(noise, where);
        var result = await rig.Dispense(3);
        Assert.Equal(DispenseCompletion.Ok, result.Completion);
        Assert.Equal(3, result.TotalPresented);
        Assert.Equal(noise.Length, rig.Dispenser.LinkCounters.GarbageBytes);
        Assert.Single(rig.Emulator.ReceivedCommands);
    }

    [Fact]
    public async Task Garbage_with_a_false_frame_start_costs_one_refusal()
    {
        using var rig = new Rig();
        rig.Emulator.InjectGarbage([0x01, 0x50, 0x02, 0x45, 0x39], GarbagePoint.BeforeResponse);
        var result = await rig.Dispense(3);
        Assert.Equal(DispenseCompletion.Ok, result.Completion);
        Assert.Equal(3, result.TotalPresented);
        Assert.Equal(497, rig.Emulator.UpperCount);
        Assert.True(rig.Dispenser.LinkCounters.ResponsesRefused >= 1);
    }

    [Fact]
    public async Task A_silent_device_gives_a_timeout_with_every_note_unknown()
    {
        using var rig = new Rig(driver: Rig.Silent);
        rig.Emulator.SetMute(true);
        var result = await rig.Dispense(15);
        Assert.Equal(DispenseCompletion.Timeout, result.Completion);
        Assert.Equal(new PositionMovement(1, 0, 0, 15), Rig.Of(result, 1));
        Assert.Equal(DeviceState.Offline, rig.Dispenser.Status.Device);
        Assert.Equal(DispenserCondition.Stop, rig.Dispenser.Status.Dispenser);
        Assert.Contains("no response", rig.Dispenser.Status.LastFault);
        // A dispense is never sent again after silence: its ACK may have been lost while notes moved.
        Assert.Equal(1, rig.Dispenser.LinkCounters.CommandFrames);
    }

    [Fact]
    public async Task A_dispense_that_ran_but_whose_answer_never_came_is_unknown()
    {
        using var rig = new Rig(driver: Rig.Silent);
        rig.Emulator.AckWithoutResponse(1);
        var result = await rig.Dispense(9);
        Assert.Equal(DispenseCompletion.Timeout, result.Completion);
        Assert.Equal(new PositionMovement(1, 0, 0, 9), Rig.Of(result, 1));
        Assert.Contains("no response to command 0x45", result.Detail);
        Assert.Equal(491, rig.Emulator.UpperCount);
    }

    [Fact]
    public async Task A_dispense_without_ack_is_not_repeated()
    {
        using var rig = new Rig(driver: Patient);
        rig.Emulator.IgnoreNextCommands(1);
        var result = await rig.Dispense(4);
        Assert.Equal(DispenseCompletion.Timeout, result.Completion);
        Assert.Equal(4, Rig.Of(result, 1).Unknown);
        Assert.Equal(500, rig.Emulator.UpperCount);
        Assert.Equal(1, rig.Dispenser.LinkCounters.CommandFrames);

        // The next status shows the device is back; the unknown notes stay for reconciliation above.
        Assert.Null(await rig.Dispenser.RefreshStatusAsync(CancellationToken.None));
        Assert.Equal(DeviceState.Online, rig.Dispenser.Status.Device);
    }

    [Fact]
    public async Task A_status_without_ack_is_repeated()
    {
        using var rig = new Rig(driver: Patient);
        rig.Emulator.IgnoreNextCommands(1);
        Assert.Null(await rig.Dispenser.RefreshStatusAsync(CancellationToken.None));
        Assert.Equal(DeviceState.Online, rig.Dispenser.Status.Device);
        Assert.InRange(rig.Dispenser.LinkCounters.Repeats, 1, 3);
        Assert.Equal(rig.Dispenser.LinkCounters.CommandFrames, rig.Emulator.ReceivedCommands.Count + 1);
    }

    [Fact]
    public async Task A_status_nobody_answers_is_a_timeout_and_the_device_offline()
    {
        using var rig = new Rig(driver: Rig.Silent);
        rig.Emulator.SetMute(true);
        var failure = await rig.Dispenser.RefreshStatusAsync(CancellationToken.None);
        Assert.NotNull(failure);
        Assert.Equal(DispenseCompletion.Timeout, failure.Completion);
        Assert.Empty(failure.Movements);
        Assert.Contains("no ACK", failure.Detail);
        Assert.Equal(DeviceState.Offline, rig.Dispenser.Status.Device);
        Assert.Equal(2, rig.Dispenser.LinkCounters.CommandFrames); // Retries = 1

        var reset = await rig.Dispenser.ResetAsync(CancellationToken.None);
        Assert.Equal(DispenseCompletion.Timeout, reset.Completion);
    }

    [Fact]
    public async Task A_missing_device_node_makes_the_dispenser_inoperative_with_a_clear_reason()
    {
        using var dispenser = Lcdm2000Dispenser.Create(Rig.FastOptions("/dev/ttyLCDM-does-not-exist"));
        var failure = await dispenser.OpenAsync(CancellationToken.None);
        Assert.NotNull(failure);
        Assert.Equal(DispenseCompletion.HardwareError, failure.Completion);
        Assert.Contains("/dev/ttyLCDM-does-not-exist does not exist", failure.Detail);
        Assert.Equal(DeviceState.Offline, dispenser.Status.Device);
        Assert.Equal(DispenserCondition.Stop, dispenser.Status.Dispenser);
        Assert.Contains("PortName", dispenser.Status.LastFault);

        var result = await dispenser.DispenseAsync([new PositionCount(1, 5)], CancellationToken.None);
        Assert.Equal(DispenseCompletion.HardwareError, result.Completion);
        Assert.Equal(new PositionMovement(1, 0, 0, 0), Rig.Of(result, 1)); // nothing was sent, so nothing is unknown
        Assert.Equal(0, dispenser.LinkCounters.BytesWritten);
    }

    [Fact]
    public async Task The_driver_reopens_the_port_when_the_device_comes_back()
    {
        var link = Path.Combine(Path.GetTempPath(), $"lcdm2000-{Guid.NewGuid():N}");
        var emulatorOptions = Lcdm2000EmulatorOptions.Instant();
        emulatorOptions.LinkPath = link;
        using var dispenser = Lcdm2000Dispenser.Create(Rig.FastOptions(link));
        using (var first = new Lcdm2000Emulator(emulatorOptions))
        {
            first.Start();
            Assert.Null(await dispenser.RefreshStatusAsync(CancellationToken.None));
        }

        Assert.False(File.Exists(link));
        var failure = await dispenser.RefreshStatusAsync(CancellationToken.None);
        Assert.NotNull(failure);
        Assert.NotEqual(DeviceState.Online, dispenser.Status.Device);

        using var second = new Lcdm2000Emulator(emulatorOptions);
        second.Start();
        Assert.Null(await dispenser.RefreshStatusAsync(CancellationToken.None));
        Assert.Equal(DeviceState.Online, dispenser.Status.Device);
        var result = await dispenser.DispenseAsync([new PositionCount(2, 3)], CancellationToken.None);
        Assert.Equal(DispenseCompletion.Ok, result.Completion);
        Assert.Equal(497, second.LowerCount);
    }

    [Fact]
    public async Task Cancelling_before_anything_is_sent_throws_and_moves_nothing()
    {
        using var rig = new Rig();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => rig.Dispenser.DispenseAsync([new PositionCount(1, 1)], cts.Token));
        Assert.Empty(rig.Emulator.ReceivedCommands);
    }
}

public class PacedLineTests
{
    [Fact]
    public async Task The_driver_works_with_firmware_that_keeps_to_9600_baud()
    {
        using var rig = new Rig(e => e.LineBaudRate = 9600);
        var result = await rig.Dispense(40, 20);
        Assert.Equal(DispenseCompletion.Ok, result.Completion);
        Assert.Equal(60, result.TotalPresented);
    }
}

public class DamagedResponseTests
{
    [Fact]
    public async Task A_truncated_response_is_refused_and_the_repeat_accepted()
    {
        using var rig = new Rig();
        rig.Emulator.TruncateNextResponses(1);
        var result = await rig.Dispense(6);
        Assert.Equal(DispenseCompletion.Ok, result.Completion);
        Assert.Equal(new PositionMovement(1, 6, 0, 0), Rig.Of(result, 1));
        Assert.Equal(1, rig.Dispenser.LinkCounters.ResponsesRefused);
        Assert.Single(rig.Emulator.ReceivedCommands);
    }

    [Fact]
    public async Task An_oversized_response_is_refused_and_the_repeat_accepted()
    {
        using var rig = new Rig();
        rig.Emulator.OversizeNextResponses(1);
        var result = await rig.Dispense(6);
        Assert.Equal(DispenseCompletion.Ok, result.Completion);
        Assert.Equal(6, result.TotalPresented);
        Assert.Equal(1, rig.Dispenser.LinkCounters.ResponsesRefused);
        Assert.Equal(494, rig.Emulator.UpperCount);
    }

    [Fact]
    public async Task A_failed_purge_keeps_the_dispenser_stopped_until_a_purge_works()
    {
        using var rig = new Rig();
        rig.Emulator.InjectJam(afterNotes: 2, EmulatedJamPoint.Divert);
        Assert.Equal(DispenseCompletion.Jam, (await rig.Dispense(5)).Completion);
        rig.Emulator.InjectPurgeError();

        var failed = await rig.Dispenser.ResetAsync(CancellationToken.None);
        Assert.Equal(DispenseCompletion.Jam, failed.Completion);
        Assert.Equal("0x4E", failed.DeviceCode);
        Assert.Equal(DispenserCondition.Stop, rig.Dispenser.Status.Dispenser);
        Assert.Contains("purge failed", rig.Dispenser.Status.LastFault);
        Assert.Equal(1, rig.Emulator.NotesInPath);

        var reset = await rig.Dispenser.ResetAsync(CancellationToken.None);
        Assert.Equal(DispenseCompletion.Ok, reset.Completion);
        Assert.Equal(0, rig.Emulator.NotesInPath);
        Assert.Equal(1, rig.Emulator.RejectTrayCount);
        Assert.Equal(DispenserCondition.Ok, rig.Dispenser.Status.Dispenser);
    }
}
