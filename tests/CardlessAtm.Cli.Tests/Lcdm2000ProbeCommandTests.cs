using System.Text.Json;
using CardlessAtm.Cli.Commands;
using CardlessAtm.Devices.Lcdm2000;
using CardlessAtm.FirmwareSim.Lcdm2000;

namespace CardlessAtm.Cli.Tests;

/// <summary><c>cardless-atm devices lcdm2000 probe</c> end to end against the emulator on a real pty, in process.</summary>
public sealed class Lcdm2000ProbeCommandTests
{
    [Theory]
    [InlineData(EmulatedCombinedAnswerOrder.CassetteByCassette, EmulatedCassetteBit.SetWhenMissing, "CassetteByCassette", "SetWhenMissing")]
    [InlineData(EmulatedCombinedAnswerOrder.CountByCount, EmulatedCassetteBit.SetWhenPresent, "CountByCount", "SetWhenPresent")]
    public async Task The_probe_tells_the_units_conventions_and_prints_the_settings_to_use(
        EmulatedCombinedAnswerOrder order, EmulatedCassetteBit bit, string expectedOrder, string expectedBit)
    {
        using var emulator = Start(order, bit);
        var output = new StringWriter();
        var exit = await DevicesCommand.ProbeLcdm2000Async(Options(emulator), new OperatorAtTheUnit(output, emulator), output, yes: false, CancellationToken.None);

        Assert.Equal(0, exit);
        var settings = Settings(output.ToString());
        Assert.Equal(expectedOrder, settings.GetProperty("CombinedAnswerOrder").GetString());
        Assert.Equal(expectedBit, settings.GetProperty("CassetteSensorBit").GetString());
        Assert.Contains("> Pull cassette 2 (the lower one) out, then press Enter.", output.ToString(), StringComparison.Ordinal);
        Assert.Equal((499, 498), (emulator.UpperCount, emulator.LowerCount));
        Assert.Equal(3, emulator.PresentedCount);
    }

    [Fact]
    public async Task With_yes_nobody_pulls_the_cassette_so_only_the_field_order_is_printed_and_the_exit_is_1()
    {
        using var emulator = Start(EmulatedCombinedAnswerOrder.CountByCount, EmulatedCassetteBit.SetWhenMissing);
        var output = new StringWriter();
        var exit = await DevicesCommand.ProbeLcdm2000Async(Options(emulator), TextReader.Null, output, yes: true, CancellationToken.None);

        Assert.Equal(1, exit);
        var text = output.ToString();
        Assert.Contains("(--yes: going on)", text, StringComparison.Ordinal);
        Assert.Contains("did not change — was cassette 2 really pulled?", text, StringComparison.Ordinal);
        var settings = Settings(text);
        Assert.Equal("CountByCount", settings.GetProperty("CombinedAnswerOrder").GetString());
        Assert.False(settings.TryGetProperty("CassetteSensorBit", out _));
    }

    [Fact]
    public async Task An_operator_who_stops_at_the_dispense_step_gets_no_notes_and_exit_1()
    {
        using var emulator = Start(EmulatedCombinedAnswerOrder.CassetteByCassette, EmulatedCassetteBit.SetWhenMissing);
        var output = new StringWriter();
        var input = new OperatorAtTheUnit(output, emulator, stopAt: "Press Enter to dispense");
        var exit = await DevicesCommand.ProbeLcdm2000Async(Options(emulator), input, output, yes: false, CancellationToken.None);

        Assert.Equal(1, exit);
        Assert.Equal(0, emulator.PresentedCount);
        Assert.DoesNotContain(emulator.ReceivedCommands, f => f[3] == 0x56);
        Assert.Equal("SetWhenMissing", Settings(output.ToString()).GetProperty("CassetteSensorBit").GetString());
    }

    [Fact]
    public async Task A_probe_without_a_port_is_a_configuration_error_naming_the_setting()
    {
        var error = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() =>
            DevicesCommand.ProbeLcdm2000Async(new Lcdm2000Options(), TextReader.Null, TextWriter.Null, yes: true, CancellationToken.None));
        Assert.Contains(error.Failures, f => f.StartsWith("Devices:Dispenser:Lcdm2000:PortName is required", StringComparison.Ordinal));
        Assert.StartsWith("Configuration error in Devices:Dispenser:Lcdm2000:PortName is required", CliErrors.Describe(error).Line, StringComparison.Ordinal);
        Assert.Equal(CliErrors.ConfigurationExit, CliErrors.Describe(error).ExitCode);
    }

    private static Lcdm2000Emulator Start(EmulatedCombinedAnswerOrder order, EmulatedCassetteBit bit)
    {
        var options = Lcdm2000EmulatorOptions.Instant();
        options.HostAckTimeout = TimeSpan.FromSeconds(5);
        options.CombinedAnswerOrder = order;
        options.CassetteBit = bit;
        var emulator = new Lcdm2000Emulator(options);
        emulator.Start();
        return emulator;
    }

    /// <summary>Generous limits: a loaded CI machine must not look like a silent unit.</summary>
    private static Lcdm2000Options Options(Lcdm2000Emulator emulator) => new()
    {
        PortName = emulator.SlavePath,
        AckTimeout = TimeSpan.FromSeconds(2),
        StatusTimeout = TimeSpan.FromSeconds(5),
        DispenseBaseTimeout = TimeSpan.FromSeconds(10),
    };

    /// <summary>The settings fragment the probe prints last.</summary>
    private static JsonElement Settings(string output)
    {
        var json = output[output.IndexOf("{\n", StringComparison.Ordinal)..];
        using var document = JsonDocument.Parse(json);
        return document.RootElement.GetProperty("Devices").GetProperty("Dispenser").GetProperty("Lcdm2000").Clone();
    }

    /// <summary>Reads the last instruction printed and does it at the emulated unit, then presses Enter (or stops at <paramref name="stopAt"/>).</summary>
    private sealed class OperatorAtTheUnit(StringWriter output, Lcdm2000Emulator emulator, string? stopAt = null) : TextReader
    {
        public override ValueTask<string?> ReadLineAsync(CancellationToken cancellationToken)
        {
            var text = output.ToString();
            var instruction = text[text.LastIndexOf("> ", StringComparison.Ordinal)..];
            if (stopAt is not null && instruction.Contains(stopAt, StringComparison.Ordinal))
            {
                return ValueTask.FromResult<string?>("q");
            }

            if (instruction.Contains("Pull cassette 2", StringComparison.Ordinal))
            {
                emulator.SetCassettePresent(2, false);
            }
            else if (instruction.Contains("Put cassette 2 back", StringComparison.Ordinal))
            {
                emulator.SetCassettePresent(2, true);
            }

            return ValueTask.FromResult<string?>(string.Empty);
        }
    }
}
