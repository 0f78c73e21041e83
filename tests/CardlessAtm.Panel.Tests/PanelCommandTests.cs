using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;

namespace CardlessAtm.Panel.Tests;

/// <summary><c>cardless-atm panel</c> as a process: serves on loopback with <c>--demo</c>, refuses what it must.</summary>
public sealed partial class PanelCommandTests
{
    [Theory]
    [InlineData("not available yet", "panel")]
    [InlineData("Panel:AllowRealDevices", "panel", "--demo", "--set", "Devices:Dispenser:Kind=Lcdm2000")]
    [InlineData("Panel:AllowRemote", "panel", "--demo", "--address", "0.0.0.0")]
    [InlineData("Panel:Token", "panel", "--demo", "--address", "0.0.0.0", "--set", "Panel:AllowRemote=true")]
    public async Task Refuses_with_exit_2_and_says_which_setting(string expected, params string[] args)
    {
        using var process = Start(args, out var output);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        process.WaitForExit(); // the output's last lines

        Assert.Equal(2, process.ExitCode);
        Assert.Contains(expected, string.Join('\n', output), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Panel_demo_prints_a_loopback_url_that_serves_the_page()
    {
        using var process = Start(["panel", "--demo"], out var output);
        try
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
            Match? url = null;
            while (url is not { Success: true })
            {
                Assert.False(process.HasExited, "the panel stopped:\n" + string.Join('\n', output));
                Assert.True(DateTime.UtcNow < deadline, "no URL printed:\n" + string.Join('\n', output));
                url = output.Select(l => Url().Match(l)).FirstOrDefault(m => m.Success);
                await Task.Delay(50);
            }

            var address = new Uri(url.Value);
            Assert.True(IPAddress.IsLoopback(IPAddress.Parse(address.Host)));
            using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            Assert.Contains("Cardless ATM front panel", await client.GetStringAsync(address), StringComparison.Ordinal);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    /// <summary>The CLI's own build (its deps.json, not this test project's): src/CardlessAtm.Cli/bin/&lt;Configuration&gt;/net10.0/cardless-atm.dll.</summary>
    private static string CliPath()
    {
        var here = new DirectoryInfo(AppContext.BaseDirectory);
        var configuration = here.Parent!.Name;
        var root = here;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "CardlessAtm.Devices.sln")))
        {
            root = root.Parent;
        }

        var path = Path.Combine(root?.FullName ?? throw new InvalidOperationException("Repository root not found."), "src", "CardlessAtm.Cli", "bin", configuration, "net10.0", "cardless-atm.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException("Build the solution first: these tests start cardless-atm as a process.", path);
    }

    [GeneratedRegex(@"http://127\.0\.0\.1:\d+/")]
    private static partial Regex Url();

    private static Process Start(string[] args, out ConcurrentQueue<string> output)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        start.ArgumentList.Add(CliPath());
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        var lines = new ConcurrentQueue<string>();
        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start cardless-atm.");
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lines.Enqueue(e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lines.Enqueue(e.Data);
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.StandardInput.Close();
        output = lines;
        return process;
    }
}
