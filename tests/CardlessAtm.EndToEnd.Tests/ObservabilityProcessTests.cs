using System.Net;
using System.Net.Sockets;
using System.Text;

namespace CardlessAtm.EndToEnd.Tests;

/// <summary>
/// What a monitoring desk plugs in (issue 13, observability): the meters through OpenTelemetry's OTLP and console
/// exporters when a setting asks for them, and <c>cardless-atm &lt;role&gt; status</c> from the file each role rewrites.
/// </summary>
[Collection("processes")]
public class ObservabilityProcessTests
{
    private static readonly TimeSpan SafetyNet = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task The_proxy_exports_its_meters_over_otlp_http_to_the_configured_collector()
    {
        var directory = Directory.CreateTempSubdirectory("cardless-atm-otlp-");
        var port = FreePort();
        using var collector = new HttpListener();
        collector.Prefixes.Add($"http://127.0.0.1:{port}/");
        collector.Start();
        var (process, output) = CliRun.Start(directory.FullName, [.. InsecureProxy(directory),
            "--set", "Telemetry:Exporter=Otlp", "--set", "Telemetry:Otlp:Protocol=HttpProtobuf",
            "--set", $"Telemetry:Otlp:Endpoint=http://127.0.0.1:{port}", "--set", "Telemetry:ExportInterval=00:00:01"]);
        using (process)
        {
            try
            {
                var request = await collector.GetContextAsync().WaitAsync(SafetyNet);
                using var body = new MemoryStream();
                await request.Request.InputStream.CopyToAsync(body);
                request.Response.StatusCode = 200;
                request.Response.Close();

                Assert.Equal("POST", request.Request.HttpMethod);
                Assert.Equal("/v1/metrics", request.Request.Url!.AbsolutePath);
                Assert.Equal("application/x-protobuf", request.Request.ContentType);
                var payload = Encoding.ASCII.GetString(body.ToArray()); // protobuf keeps strings as they are
                Assert.Contains("CardlessAtm.Proxy", payload, StringComparison.Ordinal);
                Assert.Contains("cardless_atm.proxy.atms.known", payload, StringComparison.Ordinal);
                Assert.Contains("cardless-atm.proxy", payload, StringComparison.Ordinal); // service.name
                Assert.Contains(output, l => l.Contains("metrics: CardlessAtm.* over OTLP/HTTP to http://127.0.0.1:" + port + "/v1/metrics", StringComparison.Ordinal));
            }
            finally
            {
                await StopAsync(process);
            }
        }
    }

    [Fact]
    public async Task The_console_exporter_prints_the_meters_and_no_exporter_is_the_default()
    {
        var directory = Directory.CreateTempSubdirectory("cardless-atm-console-metrics-");
        var (process, output) = CliRun.Start(directory.FullName, [.. InsecureProxy(directory), "--set", "Telemetry:Exporter=Console", "--set", "Telemetry:ExportInterval=00:00:01"]);
        using (process)
        {
            try
            {
                await WaitForAsync(output, l => l.StartsWith("Metric Name: cardless_atm.proxy.atms.known", StringComparison.Ordinal));
            }
            finally
            {
                await StopAsync(process);
            }
        }

        var (quiet, quietOutput) = CliRun.Start(directory.FullName, InsecureProxy(directory));
        using (quiet)
        {
            await WaitForAsync(quietOutput, l => l.StartsWith("proxy: ATMs on", StringComparison.Ordinal));
            await StopAsync(quiet);
            Assert.DoesNotContain(quietOutput, l => l.Contains("Metric Name", StringComparison.Ordinal) || l.Contains("metrics:", StringComparison.Ordinal));
        }
    }

    [Theory]
    [InlineData("Telemetry:Exporter=Prometheus", "Telemetry:Exporter", "None, Console, Otlp")]
    [InlineData("Telemetry:Otlp:Endpoint=collector:4317", "Telemetry:Otlp:Endpoint", "http://")]
    [InlineData("Telemetry:ExportInterval=0", "Telemetry:ExportInterval", "00:00:01 to 01:00:00")]
    [InlineData("Status:Interval=00:30:00", "Status:Interval", "00:00:01 to 00:10:00")]
    public async Task A_bad_observability_setting_is_refused_naming_the_setting(string setting, string name, string allowed)
    {
        var directory = Directory.CreateTempSubdirectory("cardless-atm-bad-telemetry-");

        var (exit, output) = await CliRun.RunAsync(directory.FullName, [.. InsecureProxy(directory), "--set", setting]);

        Assert.Equal(2, exit);
        Assert.Contains($"Configuration error in {name}:", output, StringComparison.Ordinal);
        Assert.Contains(allowed, output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Terminal_status_reports_service_links_saf_devices_and_cash_then_stopped_once_the_atm_stops()
    {
        await using var network = await Network.StartAsync();
        var terminal = await network.StartTerminalAsync();
        await network.WaitUntilAtmOnlineAsync();

        // The file is rewritten every Status:Interval (5 s): wait for one written after both links came up.
        var (exit, report) = (1, string.Empty);
        using (var deadline = new CancellationTokenSource(SafetyNet))
        {
            while (exit != 0)
            {
                Assert.True(exit != 2, report);
                await Task.Delay(250, deadline.Token);
                (exit, report) = await CliRun.RunAsync(network.Directory.FullName, "terminal", "status", "--config", terminal.ConfigPath);
            }
        }

        Assert.Contains("terminal ATM00001: in service (Idle)", report, StringComparison.Ordinal);
        Assert.Contains("link host", report, StringComparison.Ordinal);
        Assert.Matches(@"link host\s+signed on \(TLS 1\.3", report);
        Assert.Matches(@"link proxy\s+connected \(TLS 1\.3", report);
        Assert.Matches(@"SAF queue\s+0 reversal\(s\) waiting, 0 for an operator", report);
        Assert.Matches(@"device dispenser\s+Online", report);
        Assert.Matches(@"device cash \S+\s+\w+ \(\d+ x \d+\.\d\d EUR, presented \d+, rejected \d+, unknown \d+\)", report);
        Assert.DoesNotContain("   at ", report, StringComparison.Ordinal);

        var (_, json) = await CliRun.RunAsync(network.Directory.FullName, "terminal", "status", "--json", "--config", terminal.ConfigPath);
        using (var document = System.Text.Json.JsonDocument.Parse(json[..(json.LastIndexOf('}') + 1)]))
        {
            Assert.True(document.RootElement.GetProperty("healthy").GetBoolean());
            Assert.Equal(0, document.RootElement.GetProperty("safDepth").GetInt32());
        }

        Assert.Equal(0, await terminal.TerminateAsync(TimeSpan.FromSeconds(60)));
        var (stoppedExit, stopped) = await CliRun.RunAsync(network.Directory.FullName, "terminal", "status", "--config", terminal.ConfigPath);
        Assert.Equal(1, stoppedExit);
        Assert.Contains("terminal ATM00001: stopped", stopped, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Proxy_status_says_not_running_when_there_is_no_status_file()
    {
        var directory = Directory.CreateTempSubdirectory("cardless-atm-status-");
        var path = Path.Combine(directory.FullName, "proxy-status.json");

        var (exit, output) = await CliRun.RunAsync(directory.FullName, "proxy", "status", "--set", $"Status:Path={path}");

        Assert.Equal(1, exit);
        Assert.Contains($"not running: no status file at {path}", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Proxy_status_reports_listening_while_it_runs()
    {
        var directory = Directory.CreateTempSubdirectory("cardless-atm-status-");
        var (process, output) = CliRun.Start(directory.FullName, InsecureProxy(directory));
        using (process)
        {
            try
            {
                await WaitForAsync(output, l => l.StartsWith("proxy: ATMs on", StringComparison.Ordinal));
                var (exit, report) = await CliRun.RunAsync(directory.FullName, "proxy", "status", "--set", $"Status:Path={Path.Combine(directory.FullName, "proxy-status.json")}");

                Assert.True(exit == 0, report);
                Assert.Contains("listening", report, StringComparison.Ordinal);
                Assert.Matches(@"ATMs online\s+0", report);
            }
            finally
            {
                await StopAsync(process);
            }
        }
    }

    [Fact]
    public async Task Host_status_reports_listening_and_the_signed_on_atms_while_it_runs_and_stopped_after()
    {
        var directory = Directory.CreateTempSubdirectory("cardless-atm-host-status-");
        var db = Path.Combine(directory.FullName, "host.db");
        var (process, output) = CliRun.Start(directory.FullName, "host", "run", "--port", "0", "--db", db, "--keys", Path.Combine(directory.FullName, "keys"), "--set", "Host:Insecure=true");
        using (process)
        {
            try
            {
                await WaitForAsync(output, l => l.StartsWith("host: listening on", StringComparison.Ordinal));
                var (exit, report) = await CliRun.RunAsync(directory.FullName, "host", "status", "--db", db);

                Assert.True(exit == 0, report);
                Assert.Matches(@"host 127\.0\.0\.1:\d+: listening", report);
                Assert.Matches(@"signed-on ATMs\s+0", report);
                Assert.True(File.Exists(Path.Combine(directory.FullName, "host-status.json")));
            }
            finally
            {
                await StopAsync(process);
            }
        }

        var (stoppedExit, stopped) = await CliRun.RunAsync(directory.FullName, "host", "status", "--db", db);
        Assert.Equal(1, stoppedExit);
        Assert.Contains(": stopped (pid", stopped, StringComparison.Ordinal);
    }

    private static string[] InsecureProxy(DirectoryInfo directory) =>
    [
        "proxy", "--atm-port", "0", "--phone-port", "0", "--set", "Proxy:Atm:Insecure=true", "--set", "Proxy:Phone:Insecure=true",
        "--set", $"Status:Path={Path.Combine(directory.FullName, "proxy-status.json")}",
    ];

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task WaitForAsync(System.Collections.Concurrent.ConcurrentQueue<string> output, Func<string, bool> line)
    {
        using var deadline = new CancellationTokenSource(SafetyNet);
        while (!output.Any(line))
        {
            await Task.Delay(50, deadline.Token);
        }
    }

    private static async Task StopAsync(System.Diagnostics.Process process)
    {
        if (process.HasExited)
        {
            return;
        }

        Signals.Terminate(process);
        using var stopped = new CancellationTokenSource(SafetyNet);
        await process.WaitForExitAsync(stopped.Token);
    }
}
