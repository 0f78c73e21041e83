using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Lcdm2000.Protocol;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace CardlessAtm.Devices.Lcdm2000.Tests;

public class ProtocolTests
{
    [Fact]
    public void Status_command_frame_is_byte_exact()
    {
        // EOT 'P' STX 'F' ETX, BCC = 04^50^02^46^03 = 0x13
        Assert.Equal(Convert.FromHexString("045002460313"), Lcdm2000Frame.BuildCommand(Lcdm2000Command.Status, []));
    }

    [Fact]
    public void Upper_dispense_of_40_carries_two_ascii_digits_and_xor_bcc()
    {
        var data = new byte[2];
        Lcdm2000Frame.WriteCount(data, 40);
        var frame = Lcdm2000Frame.BuildCommand(Lcdm2000Command.UpperDispense, data);
        Assert.Equal(Convert.FromHexString("04500245343003"), frame.AsSpan(0, 7).ToArray());
        Assert.Equal((byte)(0x04 ^ 0x50 ^ 0x02 ^ 0x45 ^ 0x34 ^ 0x30 ^ 0x03), frame[^1]);
        Assert.Equal(8, frame.Length);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(61)]
    public void Count_outside_the_protocol_is_refused(int count) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Lcdm2000Frame.WriteCount(new byte[2], count));

    [Fact]
    public void Status_response_with_etx_inside_its_data_is_still_one_frame()
    {
        // SENSOR1 = 0x03 (solenoid + upper cassette missing) looks like ETX: the length, not ETX, delimits.
        var frame = Response(Lcdm2000Command.Status, [(byte)'0', 0x30, 0x80, 0x03]);
        Assert.Null(Lcdm2000Frame.Verify(frame, Lcdm2000Command.Status));
        var status = Lcdm2000ResponseParser.ParseStatus(frame);
        Assert.Equal(Lcdm2000Sensors.Solenoid | Lcdm2000Sensors.UpperCassetteMissing, status.Sensors);
        Assert.True(status.LastError.IsSuccess);
    }

    [Fact]
    public void Verify_names_each_kind_of_damage()
    {
        var good = Response(Lcdm2000Command.Purge, [0x30]);
        Assert.Null(Lcdm2000Frame.Verify(good, Lcdm2000Command.Purge));

        var badBcc = (byte[])good.Clone();
        badBcc[^1] ^= 0xFF;
        Assert.Contains("BCC mismatch", Lcdm2000Frame.Verify(badBcc, Lcdm2000Command.Purge));
        var rom = Response(Lcdm2000Command.RomVersion, "T20T5624"u8.ToArray());
        Assert.Contains("answers command 0x47, expected 0x45", Lcdm2000Frame.Verify(rom, Lcdm2000Command.UpperDispense));
        Assert.Contains("length 6", Lcdm2000Frame.Verify(good.AsSpan(0, 6), Lcdm2000Command.Purge));
        var badHeader = (byte[])good.Clone();
        badHeader[1] = 0x51;
        Assert.Contains("bad header", Lcdm2000Frame.Verify(badHeader, Lcdm2000Command.Purge));
    }

    [Fact]
    public void Combined_dispense_response_is_read_per_cassette()
    {
        // CHK(u) EXIT(u) CHK(l) EXIT(l) ERROR ST(u) ST(l) REJ(u) REJ(l)
        var frame = Response(Lcdm2000Command.UpperAndLowerDispense, "12100908\u0038010201"u8.ToArray());
        var report = Lcdm2000ResponseParser.ParseDispense(frame);
        Assert.NotNull(report);
        Assert.Equal(Lcdm2000ErrorCode.UpperBillEnd, (Lcdm2000ErrorCode)report.Error.Code);
        Assert.Equal(new Lcdm2000CassetteReport(1, 12, 10, 2, false), report.Cassettes[0]);
        Assert.Equal(new Lcdm2000CassetteReport(2, 9, 8, 1, true), report.Cassettes[1]);
        Assert.Equal(0, report.Cassettes[0].Unaccounted);
    }

    [Fact]
    public void Counts_that_are_not_digits_make_the_report_unreadable()
    {
        var frame = Response(Lcdm2000Command.UpperDispense, [0x30, 0x3A, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30]);
        Assert.Null(Lcdm2000ResponseParser.ParseDispense(frame));
    }

    [Fact]
    public void The_public_error_table_is_complete_and_mapped()
    {
        Assert.Equal(27, Lcdm2000Errors.All.Count());
        Assert.All(Enum.GetValues<Lcdm2000ErrorCode>(), code => Assert.True(Lcdm2000Errors.Describe((byte)code).Known));
        Assert.Equal(DispenseCompletion.Jam, Lcdm2000Errors.Describe(0x35).Completion);
        Assert.Equal(DispenseCompletion.CassetteEmpty, Lcdm2000Errors.Describe(0x40).Completion);
        Assert.Equal(DispenseCompletion.CassetteMissing, Lcdm2000Errors.Describe(0x3F).Completion);
        Assert.Equal(DispenseCompletion.PickFailure, Lcdm2000Errors.Describe(0x44).Completion);
        Assert.Equal(DispenseCompletion.Timeout, Lcdm2000Errors.Describe(0x47).Completion);
        Assert.Equal(DispenseCompletion.InvalidRequest, Lcdm2000Errors.Describe(0x3B).Completion);
        var unknown = Lcdm2000Errors.Describe(0x5A);
        Assert.False(unknown.Known);
        Assert.Equal(DispenseCompletion.HardwareError, unknown.Completion);
        Assert.Contains("0x5A", unknown.Text);
    }

    [Fact]
    public void Sensor_bit_7_is_ignored()
    {
        Assert.Equal(Lcdm2000Sensors.Exit | Lcdm2000Sensors.RejectTrayMissing, Lcdm2000SensorBytes.Decode(0xA0, 0xC0));
    }

    [Property]
    public Property A_plan_covers_the_amount_within_the_limit(NonNegativeInt upperArb, NonNegativeInt lowerArb, PositiveInt limitArb, bool combined)
    {
        var upper = upperArb.Get % 400;
        var lower = lowerArb.Get % 400;
        var limit = ((limitArb.Get - 1) % 60) + 1;
        var plan = Lcdm2000DispensePlan.Split(upper, lower, limit, combined);
        var minimal = Math.Max((upper + limit - 1) / limit, (lower + limit - 1) / limit);
        var separate = ((upper + limit - 1) / limit) + ((lower + limit - 1) / limit);
        return (plan.Sum(s => s.Upper) == upper
                && plan.Sum(s => s.Lower) == lower
                && plan.All(s => s.Upper <= limit && s.Lower <= limit && s.Total > 0)
                && plan.Count == (combined ? minimal : separate)
                && plan.All(s => s.Command != Lcdm2000Command.UpperAndLowerDispense || (s.Upper > 0 && s.Lower > 0)))
            .Label($"upper {upper} lower {lower} limit {limit} combined {combined}: {plan.Count} steps");
    }

    [Fact]
    public void Options_name_every_bad_setting()
    {
        var options = new Lcdm2000Options
        {
            PortName = " ",
            BaudRate = 12345,
            DataBits = 9,
            StopBits = System.IO.Ports.StopBits.None,
            AckTimeout = TimeSpan.Zero,
            Retries = -1,
            MaxNotesPerCommand = 61,
        };
        var validator = new Lcdm2000OptionsValidator("Devices:Dispenser:Lcdm2000");
        var result = validator.Validate(null, options);
        Assert.True(result.Failed);
        foreach (var name in new[] { "PortName", "BaudRate", "DataBits", "StopBits", "AckTimeout", "Retries", "MaxNotesPerCommand" })
        {
            Assert.Contains(result.Failures!, e => e.StartsWith($"Devices:Dispenser:Lcdm2000:{name} ", StringComparison.Ordinal));
        }

        Assert.True(validator.Validate(null, new Lcdm2000Options { PortName = "/dev/ttyUSB0" }).Succeeded);
    }

    internal static byte[] Response(Lcdm2000Command command, byte[] data)
    {
        var frame = new byte[data.Length + 6];
        frame[0] = 0x01;
        frame[1] = 0x50;
        frame[2] = 0x02;
        frame[3] = (byte)command;
        data.CopyTo(frame, 4);
        frame[^2] = 0x03;
        frame[^1] = Lcdm2000Frame.Bcc(frame.AsSpan(0, frame.Length - 1));
        return frame;
    }
}
