using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Lcdm4000.Protocol;
using CardlessAtm.Devices.Status;
using CardlessAtm.FirmwareSim.Lcdm4000;

namespace CardlessAtm.Devices.Lcdm4000.Tests;

/// <summary>The real driver against the emulated firmware over a real pseudo-terminal.</summary>
public class DispenseTests
{
    [Fact]
    public async Task Open_reads_a_clean_status_of_four_cassettes()
    {
        using var rig = new Rig();
        Assert.Null(await rig.Dispenser.OpenAsync(CancellationToken.None));
        Assert.Equal(4, rig.Dispenser.Info.Positions);
        Assert.Equal(DeviceState.Online, rig.Dispenser.Status.Device);
        Assert.Equal(DispenserCondition.Ok, rig.Dispenser.Status.Dispenser);
        Assert.Equal(TransportState.Empty, rig.Dispenser.Status.Transport);
        Assert.All(rig.Dispenser.LastStatusReport!.Cassettes, c => Assert.True(c.Present));
        Assert.Equal(0, rig.Dispenser.LinkCounters.GarbageBytes); // the closing EOT is read as such
    }

    [Fact]
    public async Task Notes_from_all_four_positions_in_one_command()
    {
        using var rig = new Rig();
        var result = await rig.Dispense(5, 6, 7, 8);
        Assert.Equal(DispenseCompletion.Ok, result.Completion);
        for (var p = 1; p <= 4; p++)
        {
            Assert.Equal(new PositionMovement(p, 4 + p, 0, 0), Rig.Of(result, p));
            Assert.Equal(500 - 4 - p, rig.Emulator.CassetteCount(p));
        }

        Assert.Equal([[5, 6, 7, 8]], rig.DispenseCounts());
        Assert.Equal("0x20", result.DeviceCode);
        var c = rig.Dispenser.LinkCounters;
        Assert.Equal((1, 21 + 1, 1 + 29 + 1), (c.CommandFrames, c.BytesWritten, c.BytesRead)); // + our ACK; ACK, answer, EOT
    }

    [Fact]
    public async Task An_amount_over_the_per_command_limit_is_split()
    {
        using var rig = new Rig();
        var result = await rig.Dispense(70, 0, 25);
        Assert.Equal(DispenseCompletion.Ok, result.Completion);
        Assert.Equal(new PositionMovement(1, 70, 0, 0), Rig.Of(result, 1));
        Assert.Equal(new PositionMovement(3, 25, 0, 0), Rig.Of(result, 3));
        Assert.Equal([[40, 0, 0, 0], [30, 0, 10, 0], [0, 0, 15, 0]], rig.DispenseCounts());
    }

    [Fact]
    public async Task A_smaller_configured_limit_splits_further()
    {
        using var rig = new Rig(driver: o => o.MaxNotesPerCommand = 10);
        var result = await rig.Dispense(0, 0, 0, 25);
        Assert.Equal(25, Rig.Of(result, 4).Presented);
        Assert.Equal(3, rig.DispenseCounts().Count());
    }

    [Theory]
    [InlineData(EmulatedJamPoint4000.CheckToDivert, "0x22")]
    [InlineData(EmulatedJamPoint4000.DivertToEject, "0x23")]
    [InlineData(EmulatedJamPoint4000.EjectToExit, "0x24")]
    [InlineData(EmulatedJamPoint4000.Exit, "0x25")]
    public async Task A_jam_reports_what_exited_and_the_purge_rejects_the_stuck_note(EmulatedJamPoint4000 at, string code)
    {
        using var rig = new Rig();
        rig.Emulator.InjectJam(afterNotes: 7, at);
        var result = await rig.Dispense(0, 20);
        Assert.Equal(DispenseCompletion.Jam, result.Completion);
        Assert.Equal(code, result.DeviceCode);
        Assert.Equal(new PositionMovement(2, 7, 0, 0), Rig.Of(result, 2));
        Assert.Equal(DispenserCondition.Stop, rig.Dispenser.Status.Dispenser);
        Assert.Equal(TransportState.NotEmpty, rig.Dispenser.Status.Transport);

        Assert.Null(await rig.Dispenser.RefreshStatusAsync(CancellationToken.None));
        Assert.Contains("purge needed", rig.Dispenser.Status.LastFault);

        var refused = await rig.Dispense(1);
        Assert.Equal(DispenseCompletion.Jam, refused.Completion);
        Assert.Equal("0x2B", refused.DeviceCode);
        Assert.Equal(new PositionMovement(1, 0, 0, 0), Rig.Of(refused, 1));

        var reset = await rig.Dispenser.ResetAsync(CancellationToken.None);
        Assert.Equal(DispenseCompletion.Ok, reset.Completion);
        Assert.Equal(new PositionMovement(2, 0, 1, 0), Assert.Single(reset.Movements));
        Assert.Equal(1, rig.Emulator.RejectTrayCount);
        Assert.Equal(DispenserCondition.Ok, rig.Dispenser.Status.Dispenser);
        Assert.Equal(TransportState.Empty, rig.Dispenser.Status.Transport);
    }

    [Fact]
    public async Task A_double_note_goes_to_the_reject_tray_and_the_amount_is_still_presented()
    {
        using var rig = new Rig();
        rig.Emulator.InjectDoubleNote(pickNumber: 3);
        var result = await rig.Dispense(0, 0, 10);
        Assert.Equal(DispenseCompletion.Ok, result.Completion);
        Assert.Equal(new PositionMovement(3, 10, 2, 0), Rig.Of(result, 3));
        Assert.Equal(488, rig.Emulator.CassetteCount(3));
    }

    [Fact]
    public async Task Too_many_rejects_end_as_a_pick_failure_with_exact_counts()
    {
        using var rig = new Rig();
        foreach (var pick in new[] { 2, 3, 4, 5, 6, 7 })
        {
            rig.Emulator.InjectDoubleNote(pick);
        }

        var result = await rig.Dispense(10);
        Assert.Equal(DispenseCompletion.PickFailure, result.Completion);
        Assert.Equal("0x2D", result.DeviceCode);
        Assert.Equal(new PositionMovement(1, 1, 12, 0), Rig.Of(result, 1));
        Assert.Equal(12, rig.Emulator.RejectTrayCount);
    }

    [Fact]
    public async Task An_empty_cassette_is_a_pick_up_error_with_the_partial_amount()
    {
        using var rig = new Rig();
        rig.Emulator.SetCassetteNotes(4, 7);
        var result = await rig.Dispense(0, 0, 0, 10);
        Assert.Equal(DispenseCompletion.PickFailure, result.Completion);
        Assert.Equal("0x21", result.DeviceCode);
        Assert.Equal(new PositionMovement(4, 7, 0, 0), Rig.Of(result, 4));
        Assert.Equal(DispenserCondition.Attention, rig.Dispenser.Status.Dispenser);
    }

    [Fact]
    public async Task An_empty_cassette_in_the_second_command_keeps_the_first_commands_notes()
    {
        using var rig = new Rig();
        rig.Emulator.SetCassetteNotes(1, 55);
        var result = await rig.Dispense(60);
        Assert.Equal(DispenseCompletion.PickFailure, result.Completion);
        Assert.Equal(new PositionMovement(1, 55, 0, 0), Rig.Of(result, 1));
        Assert.Equal(2, rig.DispenseCounts().Count());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public async Task A_removed_cassette_moves_nothing_and_shows_in_the_status(int position)
    {
        using var rig = new Rig();
        rig.Emulator.SetCassettePresent(position, false);
        var asked = new int[4];
        asked[position - 1] = 5;
        var result = await rig.Dispense(asked);
        Assert.Equal(DispenseCompletion.CassetteMissing, result.Completion);
        Assert.Equal("0x44", result.DeviceCode);
        Assert.Equal(new PositionMovement(position, 0, 0, 0), Rig.Of(result, position));

        Assert.Null(await rig.Dispenser.RefreshStatusAsync(CancellationToken.None));
        Assert.False(rig.Dispenser.LastStatusReport!.Cassettes[position - 1].Present);
        Assert.Equal(DispenserCondition.Attention, rig.Dispenser.Status.Dispenser);
        Assert.Contains($"cassette {position} missing", rig.Dispenser.Status.LastFault);
    }

    [Fact]
    public async Task A_missing_reject_tray_refuses_the_dispense()
    {
        using var rig = new Rig();
        rig.Emulator.SetRejectTrayPresent(false);
        var result = await rig.Dispense(5);
        Assert.Equal(DispenseCompletion.CassetteMissing, result.Completion);
        Assert.Equal("0x46", result.DeviceCode);
        Assert.Equal(0, result.TotalPresented);
    }

    public static TheoryData<byte> FaultCodes() => [.. Lcdm4000Errors.All.Where(e => !e.IsSuccess).Select(e => e.Code)];

    [Theory]
    [MemberData(nameof(FaultCodes))]
    public async Task Every_error_of_the_table_maps_to_its_completion_with_exact_counts(byte code)
    {
        using var rig = new Rig();
        rig.Emulator.InjectError(code, afterNotes: 4);
        var result = await rig.Dispense(9);
        var expected = Lcdm4000Errors.Describe(code);
        Assert.Equal(expected.Completion, result.Completion);
        Assert.Equal($"0x{code:X2}", result.DeviceCode);
        Assert.Equal(new PositionMovement(1, 4, 0, 0), Rig.Of(result, 1));
        Assert.Contains(expected.Text, result.Detail);
        Assert.Equal(500 - 4 - rig.Emulator.NotesInPath, rig.Emulator.CassetteCount(1));
    }

    [Fact]
    public async Task An_error_code_outside_the_table_is_a_hardware_error_that_says_so()
    {
        using var rig = new Rig();
        rig.Emulator.InjectError(0x7A, afterNotes: 2);
        var result = await rig.Dispense(5);
        Assert.Equal(DispenseCompletion.HardwareError, result.Completion);
        Assert.Contains("Unknown error code 0x7A", result.Detail);
        Assert.Equal(new PositionMovement(1, 2, 0, 0), Rig.Of(result, 1));
    }

    [Theory]
    [InlineData(5, 1, "position 5 does not exist")]
    [InlineData(0, 1, "position 0 does not exist")]
    [InlineData(1, -1, "negative")]
    [InlineData(1, 0, "no notes asked")]
    [InlineData(2, 201, "at most 200")]
    public async Task A_bad_request_is_refused_before_anything_is_sent(int position, int notes, string reason)
    {
        using var rig = new Rig();
        var result = await rig.Dispenser.DispenseAsync([new PositionCount(position, notes)], CancellationToken.None);
        Assert.Equal(DispenseCompletion.InvalidRequest, result.Completion);
        Assert.Contains(reason, result.Detail);
        Assert.Empty(rig.Emulator.ReceivedCommands);
    }

    [Fact]
    public async Task Test_dispense_puts_the_notes_in_the_reject_tray()
    {
        using var rig = new Rig();
        var result = await rig.Dispenser.TestDispenseAsync(3, 2, CancellationToken.None);
        Assert.True(result.Completion == DispenseCompletion.Ok, result.Detail);
        Assert.Equal(new PositionMovement(3, 0, 2, 0), Rig.Of(result, 3));
        Assert.Equal(2, rig.Emulator.RejectTrayCount);
        Assert.Equal(0, rig.Emulator.PresentedCount);
        Assert.Equal(0x53, rig.Emulator.ReceivedCommands[0][3]);
        Assert.Equal(DispenseCompletion.InvalidRequest, (await rig.Dispenser.TestDispenseAsync(5, 1, CancellationToken.None)).Completion);
    }

    [Fact]
    public async Task Last_status_repeats_the_last_dispense()
    {
        using var rig = new Rig();
        await rig.Dispense(3, 0, 0, 2);
        var (report, failure) = await rig.Dispenser.ReadLastStatusAsync(CancellationToken.None);
        Assert.Null(failure);
        Assert.Equal(0x52, report!.Command);
        Assert.Equal([3, 0, 0, 2], report.Cassettes.Select(c => c.Exited));
    }
}
