using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
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
            var address = await WaitForUrlAsync(process, output);
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

    /// <summary>
    /// ASP.NET Core's own settings (Kestrel:Endpoints, ASPNETCORE_URLS) from the environment or an appsettings.json must not add an
    /// endpoint next to the panel's: it bound 0.0.0.0 without Panel:AllowRemote or a token, and the Host check let Host: localhost through.
    /// </summary>
    [Theory]
    [InlineData("Kestrel__Endpoints__Wide__Url", null)]
    [InlineData("ASPNETCORE_Kestrel__Endpoints__Wide__Url", null)]
    [InlineData("ASPNETCORE_URLS", "ASPNETCORE_PREFERHOSTINGURLS")]
    public async Task Aspnetcore_endpoint_settings_in_the_environment_do_not_widen_the_binding(string variable, string? prefer)
    {
        var wide = FreePort();
        var environment = new Dictionary<string, string> { [variable] = $"http://0.0.0.0:{wide}" };
        if (prefer is not null)
        {
            environment[prefer] = "true";
        }

        using var process = Start(["panel", "--demo"], out var output, environment);
        try
        {
            var address = await WaitForUrlAsync(process, output);
            using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            Assert.Contains("Cardless ATM front panel", await client.GetStringAsync(address), StringComparison.Ordinal);
            using var probe = new TcpClient();
            await Assert.ThrowsAnyAsync<SocketException>(() => probe.ConnectAsync(IPAddress.Loopback, wide));
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<Uri> WaitForUrlAsync(Process process, ConcurrentQueue<string> output)
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

        return new Uri(url.Value);
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

    private static Process Start(string[] args, out ConcurrentQueue<string> output, IReadOnlyDictionary<string, string>? environment = null)
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
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

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
