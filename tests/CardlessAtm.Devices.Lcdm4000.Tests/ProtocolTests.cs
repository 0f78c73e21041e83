using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Lcdm4000.Protocol;
using CardlessAtm.Devices.Puloon;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace CardlessAtm.Devices.Lcdm4000.Tests;

public class ProtocolTests
{
    [Fact]
    public void Status_command_frame_is_byte_exact()
    {
        // EOT '0' STX 0x50 ETX, BCC = 04^30^02^50^03 = 0x65
        Assert.Equal(Convert.FromHexString("0430025003" + "65"), Lcdm4000Frame.BuildCommand(Lcdm4000Command.Status, []));
    }

    [Fact]
    public void Last_status_command_frame_is_byte_exact()
    {
        Assert.Equal(Convert.FromHexString("0430025503" + "60"), Lcdm4000Frame.BuildCommand(Lcdm4000Command.LastStatus, []));
    }

    [Fact]
    public void Dispense_frame_carries_counts_offset_by_0x20_then_no_timeout_and_nine_reserved_bytes()
    {
        var frame = Lcdm4000Frame.BuildCommand(Lcdm4000Command.Dispense, Lcdm4000Frame.DispenseData([3, 0, 12, 1]));
        Assert.Equal(21, frame.Length);
        Assert.Equal(Convert.FromHexString("04300252" + "23202C21" + "2020" + "202020202020202020" + "03"), frame[..^1]);
        Assert.Equal(PuloonFrame.Bcc(frame.AsSpan(0, 20)), frame[^1]);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(41)]
    public void Count_outside_the_protocol_is_refused(int count) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Lcdm4000Frame.EncodeCount(count));

    [Fact]
    public void The_lcdm2000_and_lcdm4000_layouts_differ_only_in_their_data()
    {
        var a = PuloonFrame.BuildCommand(new PuloonFrameLayout("A", 0x50), 0x46, []);
        var b = PuloonFrame.BuildCommand(new PuloonFrameLayout("B", 0x30), 0x46, []);
        Assert.Equal(Convert.FromHexString("045002460313"), a); // the LCDM-2000's status frame, byte for byte
        Assert.Equal(0x30, b[1]);
        Assert.Equal(PuloonFrame.Bcc(b.AsSpan(0, 5)), b[^1]);
    }

    [Fact]
    public void Dispense_answer_is_read_per_position()
    {
        byte[] data = [0x20, 0x30, 0x25, 0x21, 0x31, 0x20, 0x20, 0x32, 0x2A, 0x20, 0x33, 0x20, 0x20, 0x30, .. Enumerable.Repeat((byte)0x20, 9)];
        var frame = PuloonFrame.BuildResponse(Lcdm4000Frame.Layout, 0x52, data);
        Assert.Null(Lcdm4000Frame.Verify(frame, Lcdm4000Command.Dispense));
        var report = Lcdm4000ResponseParser.ParseOperation(frame);
        Assert.NotNull(report);
        Assert.True(report.Error.IsSuccess);
        Assert.Equal(new Lcdm4000CassetteReport(1, 5, 1, true), report.Cassettes[0]);
        Assert.Equal(new Lcdm4000CassetteReport(3, 10, 0, true), report.Cassettes[2]);
        Assert.False(report.Cassettes[3].CassettePresent);
    }

    [Fact]
    public void Last_status_answer_names_the_last_command_first()
    {
        byte[] data = [0x52, 0x24, 0x30, 0x27, 0x20, 0x31, 0x20, 0x20, 0x32, 0x20, 0x20, 0x33, 0x20, 0x20, 0x34];
        var frame = PuloonFrame.BuildResponse(Lcdm4000Frame.Layout, 0x55, data);
        Assert.Null(Lcdm4000Frame.Verify(frame, Lcdm4000Command.LastStatus));
        var report = Lcdm4000ResponseParser.ParseLastStatus(frame)!;
        Assert.Equal(0x52, report.Command);
        Assert.Equal(DispenseCompletion.Jam, report.Error.Completion);
        Assert.Equal(7, report.Cassettes[0].Exited);
    }

    [Fact]
    public void Verify_names_each_kind_of_damage()
    {
        var good = PuloonFrame.BuildResponse(Lcdm4000Frame.Layout, 0x55, new byte[15]);
        Assert.Null(Lcdm4000Frame.Verify(good, Lcdm4000Command.LastStatus));
        var bad = (byte[])good.Clone();
        bad[^1] ^= 0xFF;
        Assert.Contains("BCC mismatch", Lcdm4000Frame.Verify(bad, Lcdm4000Command.LastStatus));
        Assert.Contains("length 21, expected 24", Lcdm4000Frame.Verify(good, Lcdm4000Command.Status));
        var lcdm2000 = PuloonFrame.BuildResponse(new PuloonFrameLayout("LCDM-2000", 0x50), 0x55, new byte[15]);
        Assert.Contains("bad header", Lcdm4000Frame.Verify(lcdm2000, Lcdm4000Command.LastStatus));
    }

    [Fact]
    public void The_public_error_table_is_mapped()
    {
        Assert.Equal(33, Lcdm4000Errors.All.Count());
        Assert.True(Lcdm4000Errors.Describe(0x20).IsSuccess);
        Assert.Equal(DispenseCompletion.PickFailure, Lcdm4000Errors.Describe(0x21).Completion);
        Assert.Equal(DispenseCompletion.Jam, Lcdm4000Errors.Describe(0x24).Completion);
        Assert.Equal(DispenseCompletion.PickFailure, Lcdm4000Errors.Describe(0x2D).Completion);
        Assert.Equal(DispenseCompletion.CassetteMissing, Lcdm4000Errors.Describe(0x44).Completion);
        Assert.Equal(DispenseCompletion.CassetteMissing, Lcdm4000Errors.Describe(0x46).Completion);
        Assert.Equal(DispenseCompletion.InvalidRequest, Lcdm4000Errors.Describe(0x51).Completion);
        var unknown = Lcdm4000Errors.Describe(0x7A);
        Assert.False(unknown.Known);
        Assert.Equal(DispenseCompletion.HardwareError, unknown.Completion);
    }

    [Property]
    public Property A_plan_covers_the_amount_within_the_limit(NonNegativeInt a, NonNegativeInt b, NonNegativeInt c, NonNegativeInt d, PositiveInt limitArb)
    {
        int[] asked = [a.Get % 150, b.Get % 150, c.Get % 150, d.Get % 150];
        var limit = ((limitArb.Get - 1) % 40) + 1;
        var plan = Lcdm4000DispensePlan.Split(asked, limit);
        var minimal = (asked.Sum() + limit - 1) / limit;
        return (Enumerable.Range(0, 4).All(i => plan.Sum(s => s[i]) == asked[i])
                && plan.All(s => s.Sum() is > 0 && s.Sum() <= limit)
                && plan.Count == minimal)
            .Label($"{string.Join("+", asked)} limit {limit}: {plan.Count} steps");
    }

    [Fact]
    public void The_validator_names_every_bad_setting_by_its_full_path()
    {
        var options = new Lcdm4000Options { PortName = " ", BaudRate = 12345, AckTimeout = TimeSpan.Zero, Retries = -1, MaxNotesPerCommand = 41, CounterFile = "relative.json" };
        var validator = new Lcdm4000OptionsValidator("Devices:Dispenser:Lcdm4000");
        var result = validator.Validate(null, options);
        Assert.True(result.Failed);
        foreach (var name in new[] { "PortName", "BaudRate", "AckTimeout", "Retries", "MaxNotesPerCommand", "CounterFile" })
        {
            Assert.Contains(result.Failures!, e => e.StartsWith($"Devices:Dispenser:Lcdm4000:{name} ", StringComparison.Ordinal));
        }

        Assert.True(validator.Validate(null, new Lcdm4000Options { PortName = "/dev/ttyUSB0" }).Succeeded);
    }
}
