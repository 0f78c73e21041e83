using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Status;
using CardlessAtm.FirmwareSim.Lcdm4000;

namespace CardlessAtm.Devices.Lcdm4000.Tests;

/// <summary>Line faults: NAK, bad BCC, garbage, truncated and oversized frames, silence, a vanished port.</summary>
public class LinkFaultTests
{
    private static void Patient(Lcdm4000Options o)
    {
        Rig.Silent(o);
        o.AckTimeout = TimeSpan.FromSeconds(1);
        o.Retries = 3;
    }

    [Fact]
    public async Task A_nak_repeats_the_command_and_pays_out_once()
    {
        using var rig = new Rig();
        rig.Emulator.NakNextCommands(1);
        var result = await rig.Dispense(12);
        Assert.Equal(DispenseCompletion.Ok, result.Completion);
        Assert.Equal(488, rig.Emulator.CassetteCount(1));
        Assert.Equal(2, rig.DispenseCounts().Count());
        var c = rig.Dispenser.LinkCounters;
        Assert.Equal((1, 1), (c.NaksReceived, c.Repeats));
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
        Assert.Equal(500, rig.Emulator.CassetteCount(1));
    }

    [Fact]
    public async Task A_late_nak_means_nothing_moved_and_the_repeat_pays_out_once()
    {
        using var rig = new Rig(driver: o =>
        {
            o.AckTimeout = TimeSpan.FromMilliseconds(200);
            o.DispenseBaseTimeout = TimeSpan.FromSeconds(10);
        });
        rig.Emulator.NakNextCommandsLate(TimeSpan.FromSeconds(1));
        var result = await rig.Dispense(7);
        Assert.Equal(DispenseCompletion.Ok, result.Completion);
        Assert.Equal(new PositionMovement(1, 7, 0, 0), Rig.Of(result, 1));
        Assert.Equal(7, rig.Emulator.PresentedCount);
    }

    [Fact]
    public async Task A_response_with_a_bad_bcc_is_refused_and_the_repeat_accepted()
    {
        using var rig = new Rig();
        rig.Emulator.CorruptNextResponses(2);
        var result = await rig.Dispense(0, 8);
        Assert.Equal(DispenseCompletion.Ok, result.Completion);
        Assert.Equal(8, result.TotalPresented);
        Assert.Single(rig.DispenseCounts());
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
        Assert.Equal(494, rig.Emulator.CassetteCount(1)); // the firmware did pay out: only "unknown" is honest
    }

    [Fact]
    public async Task A_truncated_response_is_refused_and_the_repeat_accepted()
    {
        using var rig = new Rig();
        rig.Emulator.TruncateNextResponses(1);
        var result = await rig.Dispense(6);
        Assert.Equal(new PositionMovement(1, 6, 0, 0), Rig.Of(result, 1));
        Assert.Equal(1, rig.Dispenser.LinkCounters.ResponsesRefused);
        Assert.Single(rig.DispenseCounts());
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
        Assert.Equal(494, rig.Emulator.CassetteCount(1));
    }

    [Theory]
    [InlineData(GarbagePoint4000.BeforeAck)]
    [InlineData(GarbagePoint4000.BeforeResponse)]
    public async Task Garbage_on_the_line_is_skipped(GarbagePoint4000 where)
    {
        using var rig = new Rig();
        byte[] noise = [0xFF, 0x00, 0x7E, 0x30, 0x55, 0x50, 0x02];
        rig.Emulator.InjectGarbage(noise, where);
        var result = await rig.Dispense(3);
        Assert.Equal(DispenseCompletion.Ok, result.Completion);
        Assert.Equal(3, result.TotalPresented);
        Assert.Equal(noise.Length, rig.Dispenser.LinkCounters.GarbageBytes);
    }

    [Fact]
    public async Task A_silent_device_gives_a_timeout_with_every_note_unknown_and_no_repeat()
    {
        using var rig = new Rig(driver: Rig.Silent);
        rig.Emulator.SetMute(true);
        var result = await rig.Dispense(15, 0, 5);
        Assert.Equal(DispenseCompletion.Timeout, result.Completion);
        Assert.Equal(new PositionMovement(1, 0, 0, 15), Rig.Of(result, 1));
        Assert.Equal(new PositionMovement(3, 0, 0, 5), Rig.Of(result, 3));
        Assert.Equal(DeviceState.Offline, rig.Dispenser.Status.Device);
        Assert.Equal(1, rig.Dispenser.LinkCounters.CommandFrames); // never sent again after silence
    }

    [Fact]
    public async Task A_dispense_that_ran_but_whose_answer_never_came_is_unknown()
    {
        using var rig = new Rig(driver: Rig.Silent);
        rig.Emulator.AckWithoutResponse(1);
        var result = await rig.Dispense(9);
        Assert.Equal(DispenseCompletion.Timeout, result.Completion);
        Assert.Equal(new PositionMovement(1, 0, 0, 9), Rig.Of(result, 1));
        Assert.Equal(491, rig.Emulator.CassetteCount(1));
        Assert.Single(rig.DispenseCounts());
    }

    [Fact]
    public async Task A_status_without_ack_is_repeated()
    {
        using var rig = new Rig(driver: Patient);
        rig.Emulator.IgnoreNextCommands(1);
        Assert.Null(await rig.Dispenser.RefreshStatusAsync(CancellationToken.None));
        Assert.Equal(DeviceState.Online, rig.Dispenser.Status.Device);
        Assert.InRange(rig.Dispenser.LinkCounters.Repeats, 1, 3);
    }

    [Fact]
    public async Task A_missing_device_node_makes_the_dispenser_inoperative_with_a_clear_reason()
    {
        using var dispenser = Lcdm4000Dispenser.Create(Rig.FastOptions("/dev/ttyLCDM4000-does-not-exist"));
        var failure = await dispenser.OpenAsync(CancellationToken.None);
        Assert.NotNull(failure);
        Assert.Equal(DispenseCompletion.HardwareError, failure.Completion);
        Assert.Contains("check the LCDM-4000 PortName setting", failure.Detail);
        Assert.Equal(DeviceState.Offline, dispenser.Status.Device);
        var result = await dispenser.DispenseAsync([new PositionCount(4, 5)], CancellationToken.None);
        Assert.Equal(new PositionMovement(4, 0, 0, 0), Rig.Of(result, 4)); // nothing was sent, so nothing is unknown
    }

    [Fact]
    public async Task A_failed_purge_keeps_the_dispenser_stopped_until_a_purge_works()
    {
        using var rig = new Rig();
        rig.Emulator.InjectJam(afterNotes: 2);
        Assert.Equal(DispenseCompletion.Jam, (await rig.Dispense(5)).Completion);
        rig.Emulator.InjectPurgeError();
        var failed = await rig.Dispenser.ResetAsync(CancellationToken.None);
        Assert.Equal(DispenseCompletion.Jam, failed.Completion);
        Assert.Equal("0x2E", failed.DeviceCode);
        Assert.Equal(DispenserCondition.Stop, rig.Dispenser.Status.Dispenser);
        var reset = await rig.Dispenser.ResetAsync(CancellationToken.None);
        Assert.Equal(DispenseCompletion.Ok, reset.Completion);
        Assert.Equal(0, rig.Emulator.NotesInPath);
    }
}
