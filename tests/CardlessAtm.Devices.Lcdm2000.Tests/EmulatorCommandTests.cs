using System.Text.RegularExpressions;
using CardlessAtm.Devices.Dispenser;
using CardlessAtm.FirmwareSim.Lcdm2000;

namespace CardlessAtm.Devices.Lcdm2000.Tests;

public partial class EmulatorCommandTests
{
    [Fact]
    public async Task The_command_prints_the_pty_path_serves_the_driver_and_stops_on_cancel()
    {
        using var cts = new CancellationTokenSource();
        var output = new SynchronizedWriter();
        var run = Lcdm2000EmulatorCommand.RunAsync(Lcdm2000EmulatorOptions.Instant(), output, cts.Token);

        string? path = null;
        for (var i = 0; i < 500 && path is null && !run.IsCompleted; i++)
        {
            path = PtyPath().Match(output.Text) is { Success: true } m ? m.Groups[1].Value : null;
            await Task.Delay(10);
        }

        Assert.NotNull(path);
        Assert.Contains($"Devices:Dispenser:Lcdm2000:PortName={path}", output.Text);
        using (var dispenser = Lcdm2000Dispenser.Create(Rig.FastOptions(path)))
        {
            var result = await dispenser.DispenseAsync([new PositionCount(1, 2)], CancellationToken.None);
            Assert.Equal(DispenseCompletion.Ok, result.Completion);
        }

        await cts.CancelAsync();
        Assert.Equal(0, await run);
        Assert.Contains("presented 2", output.Text);
    }

    [Fact]
    public async Task Bad_options_are_reported_and_exit_1()
    {
        var output = new SynchronizedWriter();
        var options = Lcdm2000EmulatorOptions.Instant();
        options.RomVersion = "T2";
        Assert.Equal(1, await Lcdm2000EmulatorCommand.RunAsync(options, output, CancellationToken.None));
        Assert.Contains("RomVersion", output.Text);
    }

    [GeneratedRegex("running on (/dev/pts/\\d+)")]
    private static partial Regex PtyPath();

    private sealed class SynchronizedWriter : StringWriter
    {
        private readonly Lock _gate = new();

        public string Text
        {
            get
            {
                lock (_gate)
                {
                    return ToString();
                }
            }
        }

        public override Task WriteLineAsync(string? value)
        {
            lock (_gate)
            {
                WriteLine(value);
            }

            return Task.CompletedTask;
        }
    }
}
