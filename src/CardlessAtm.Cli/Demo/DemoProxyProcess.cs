using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace CardlessAtm.Cli.Demo;

/// <summary>
/// A <c>cardless-atm proxy</c> process of a NATS-routed fleet (<c>Proxy:Routing:Kind = Nats</c>), with the demo's TLS
/// pairs on both listeners and free ports it reports on standard output; the proxy-failover scenario SIGKILLs one.
/// </summary>
internal sealed partial class DemoProxyProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();

    private DemoProxyProcess(Process process, string name)
    {
        _process = process;
        Name = name;
    }

    public string Name { get; }

    public int AtmPort { get; private set; }

    public int PhonePort { get; private set; }

    public bool HasExited => _process.HasExited;

    /// <summary>The process's CPU time so far (user + system), for the bench's per-role figures.</summary>
    public TimeSpan CpuTime
    {
        get
        {
            _process.Refresh();
            return _process.HasExited ? TimeSpan.Zero : _process.TotalProcessorTime;
        }
    }

    /// <summary>What the process wrote (standard output and error), for a failure report.</summary>
    public IReadOnlyCollection<string> Output => _output.ToArray();

    /// <summary>The NATS URL the scenario uses: <c>CARDLESS_DEMO_NATS</c>, else <c>CARDLESS_TEST_NATS</c>, else nats://127.0.0.1:4222.</summary>
    public static string NatsUrl =>
        Environment.GetEnvironmentVariable("CARDLESS_DEMO_NATS") is { Length: > 0 } demo ? demo
        : Environment.GetEnvironmentVariable("CARDLESS_TEST_NATS") is { Length: > 0 } test ? test
        : "nats://127.0.0.1:4222";

    /// <summary>Why the fleet cannot run here (no NATS server answers at <see cref="NatsUrl"/>), or null.</summary>
    public static string? WhyNot()
    {
        if (!Uri.TryCreate(NatsUrl, UriKind.Absolute, out var uri))
        {
            return $"'{NatsUrl}' (CARDLESS_DEMO_NATS) is not a nats:// URL";
        }

        var port = uri.IsDefaultPort ? 4222 : uri.Port;
        try
        {
            using var client = new TcpClient();
            if (client.ConnectAsync(uri.Host, port).Wait(TimeSpan.FromSeconds(2)) && client.Connected)
            {
                return null;
            }
        }
        catch (AggregateException)
        {
        }

        return string.Create(CultureInfo.InvariantCulture, $"no nats-server answers at {uri.Host}:{port} (start one: nats-server -js -a 127.0.0.1 -p 4222, or set CARDLESS_DEMO_NATS)");
    }

    /// <summary>Starts a proxy process in the fleet <paramref name="bucket"/> and waits until it listens.</summary>
    public static async Task<DemoProxyProcess> StartAsync(DemoNetwork network, string name, string bucket, TimeSpan ownerTtl, CancellationToken cancellationToken)
    {
        var directory = Path.Combine(network.Directory.FullName, "proxy-" + name);
        System.IO.Directory.CreateDirectory(directory);
        var atm = new Proxy.ProxyListenerOptions();
        var phone = new Proxy.ProxyListenerOptions();
        network.Pki.ConfigureProxy(atm);
        network.Pki.ConfigureProxyPhones(phone);
        var settings = new Dictionary<string, object>
        {
            ["Proxy"] = new Dictionary<string, object>
            {
                ["Atm"] = new { Port = 0, Tls = new { atm.Tls.CertificatePath, atm.Tls.PrivateKeyPath, atm.Tls.ClientCaCertificatePath, atm.Tls.DenyListPath } },
                ["Phone"] = new { Port = 0, Tls = new { phone.Tls.CertificatePath, phone.Tls.PrivateKeyPath } },
                ["MaxRequestsPerPhoneConnection"] = 1_000_000,
                ["ForwardTimeout"] = "00:00:30",
                ["Routing"] = new
                {
                    Kind = "Nats",
                    Nats = new { Url = NatsUrl, ProxyId = "demo-proxy-" + name, Bucket = bucket, SubjectPrefix = "cardless-demo." + bucket, OwnerTtl = ownerTtl.ToString("c", CultureInfo.InvariantCulture), FleetKeyPath = network.FleetKeyFor("proxy-" + name) },
                },
            },
            ["Logging"] = new { LogLevel = new { Default = "Warning" } },
        };
        var configPath = Path.Combine(directory, "proxy.json");
        await File.WriteAllTextAsync(configPath, JsonSerializer.Serialize(settings), cancellationToken);

        var self = Environment.ProcessPath ?? "dotnet";
        var start = new ProcessStartInfo(self) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            start.ArgumentList.Add(typeof(DemoProxyProcess).Assembly.Location);
        }

        start.ArgumentList.Add("proxy");
        start.ArgumentList.Add("--config");
        start.ArgumentList.Add(configPath);
        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start the proxy process.");
        var proxy = new DemoProxyProcess(process, name);
        var listening = new TaskCompletionSource<(int Atm, int Phone)>(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            proxy._output.Enqueue(e.Data);
            if (Listening().Match(e.Data) is { Success: true } match)
            {
                listening.TrySetResult((int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture), int.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture)));
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                proxy._output.Enqueue("stderr: " + e.Data);
            }
        };
        process.Exited += (_, _) => listening.TrySetException(new InvalidOperationException($"proxy {name} exited with {process.ExitCode}: {string.Join(" | ", proxy._output)}"));
        process.EnableRaisingEvents = true;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            (proxy.AtmPort, proxy.PhonePort) = await listening.Task.WaitAsync(TimeSpan.FromSeconds(60), cancellationToken);
            return proxy;
        }
        catch
        {
            await proxy.DisposeAsync();
            throw;
        }
    }

    /// <summary>SIGKILL: the process dies without releasing anything; its NATS connection and ATM links break.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    [GeneratedRegex(@"^proxy: ATMs on [^ ]*:(\d+), phones on [^ ]*:(\d+)$")]
    private static partial Regex Listening();
}
