using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using CardlessAtm.Network;

namespace CardlessAtm.EndToEnd.Tests;

/// <summary>
/// <c>cardless-atm terminal</c> as a real process: console display on its standard output (the tests read
/// the QR payload from it), console keypad on its standard input (the tests type on it), simulated cash
/// dispenser whose memory survives the process in a file, journal and reversal queue on disk.
/// </summary>
internal sealed class TerminalProcess : IAsyncDisposable
{
    private readonly ConcurrentQueue<string> _output = new();
    private Process _process;

    private TerminalProcess(Process process, string configPath, string dataDirectory)
    {
        _process = process;
        ConfigPath = configPath;
        DataDirectory = dataDirectory;
        Attach(process);
    }

    public string ConfigPath { get; }

    public string DataDirectory { get; }

    public string JournalPath => Path.Combine(DataDirectory, "data", "journal.log");

    public string CashUnitsPath => Path.Combine(DataDirectory, "cash-units.json");

    public string DeviceMemoryPath => Path.Combine(DataDirectory, "dispenser-memory.json");

    public IEnumerable<string> Output => _output;

    /// <summary>Writes the configuration and starts the process.</summary>
    public static TerminalProcess Start(
        string directory, string atmId, int hostPort, int proxyPort, string keyStore, TimeSpan noteDelay, TimeSpan hostTimeout, int? jamAfterNotes = null, string? killAfter = null, bool verbose = false, TerminalLinks? links = null, string? qrImagePath = null, TimeSpan? stopTimeout = null, bool notesNotTaken = false, IReadOnlyList<int>? hostFailoverPorts = null)
    {
        var configPath = WriteConfig(directory, atmId, hostPort, proxyPort, keyStore, noteDelay, hostTimeout, jamAfterNotes, links, qrImagePath, stopTimeout, notesNotTaken, hostFailoverPorts);
        return new TerminalProcess(Launch(configPath, killAfter, verbose), configPath, directory);
    }

    /// <summary>
    /// Writes the terminal's configuration file (EUR cash units, console keypad and display) and returns its path.
    /// Without <paramref name="links"/> both links are plain TCP (<c>Insecure = true</c>), for tests that never connect.
    /// With <paramref name="notesNotTaken"/> the customer leaves the notes at the simulated dispenser's exit, and the
    /// terminal retracts them after a 1 s <c>Terminal:PresentTimeout</c>.
    /// </summary>
    public static string WriteConfig(
        string directory, string atmId, int hostPort, int proxyPort, string keyStore, TimeSpan noteDelay, TimeSpan hostTimeout, int? jamAfterNotes = null, TerminalLinks? links = null, string? qrImagePath = null, TimeSpan? stopTimeout = null, bool notesNotTaken = false, IReadOnlyList<int>? hostFailoverPorts = null)
    {
        var faults = new Dictionary<string, object> { ["NoteDelay"] = noteDelay.ToString() };
        if (jamAfterNotes is { } jam)
        {
            faults["JamAfterNotes"] = jam;
        }

        if (notesNotTaken)
        {
            faults["NotesNotTaken"] = true;
        }

        Directory.CreateDirectory(directory);
        var configPath = Path.Combine(directory, "terminal.json");
        var config = new Dictionary<string, object>
        {
            ["Security"] = new Dictionary<string, object> { ["Profile"] = "Aes" },
            ["QrSession"] = new Dictionary<string, object> { ["Lifetime"] = "00:02:00", ["ClockSkew"] = "00:00:00" },
            ["Terminal"] = new Dictionary<string, object>
            {
                ["AtmId"] = atmId,
                ["Currency"] = "EUR",
                ["Host"] = Link(hostPort, links?.Host),
                ["Proxy"] = Link(proxyPort, links?.Proxy),
                ["KeyStore"] = keyStore,
                ["DataDirectory"] = Path.Combine(directory, "data"),
                ["HostTimeout"] = hostTimeout.ToString(),
                ["ResultScreenTime"] = "00:00:00",
                ["ReversalRetryInitial"] = "00:00:00.200",
                ["ReversalRetryMax"] = "00:00:01",
                ["EchoInterval"] = "00:00:05",
            },
            ["Devices"] = new Dictionary<string, object>
            {
                ["Display"] = new Dictionary<string, object> { ["Kind"] = "Console" },
                ["Keypad"] = new Dictionary<string, object> { ["Kind"] = "Console" },
                ["Dispenser"] = new Dictionary<string, object>
                {
                    ["CashUnits"] = new[] { ("CASS1", 1, "10"), ("CASS2", 2, "20"), ("CASS3", 3, "50"), ("CASS4", 4, "100") }
                        .Select(u => new Dictionary<string, object> { ["Id"] = u.Item1, ["Position"] = u.Item2, ["Currency"] = "EUR", ["Denomination"] = u.Item3, ["Count"] = 500 })
                        .ToArray(),
                    ["StateFile"] = Path.Combine(directory, "cash-units.json"),
                    ["Simulated"] = new Dictionary<string, object>
                    {
                        ["StateFile"] = Path.Combine(directory, "dispenser-memory.json"),
                        ["Faults"] = faults,
                    },
                },
            },
        };
        if (hostFailoverPorts is { Count: > 0 })
        {
            var host = (Dictionary<string, object>)((Dictionary<string, object>)config["Terminal"])["Host"];
            host["Failover"] = hostFailoverPorts.Select(port => new Dictionary<string, object> { ["Address"] = "127.0.0.1", ["Port"] = port }).ToArray();
        }

        if (qrImagePath is not null)
        {
            ((Dictionary<string, object>)config["Terminal"])["Display"] = new Dictionary<string, object> { ["QrImagePath"] = qrImagePath };
        }

        if (notesNotTaken)
        {
            ((Dictionary<string, object>)config["Terminal"])["PresentTimeout"] = "00:00:01";
        }

        if (stopTimeout is { } stop)
        {
            ((Dictionary<string, object>)config["Terminal"])["StopTimeout"] = stop.ToString();
            // The present wait must fit in the stop bound (TerminalOptionsValidator); the simulated notes are taken at once.
            ((Dictionary<string, object>)config["Terminal"])["PresentTimeout"] = (stop / 2).ToString();
        }

        File.WriteAllText(configPath, JsonSerializer.Serialize(config));
        return configPath;
    }

    /// <summary>One link's settings: TLS with <paramref name="tls"/>'s pin (and client certificate), or plain TCP when null.</summary>
    private static Dictionary<string, object> Link(int port, TlsClientOptions? tls)
    {
        var link = new Dictionary<string, object> { ["Address"] = "127.0.0.1", ["Port"] = port };
        if (tls is null)
        {
            link["Insecure"] = true;
            return link;
        }

        var settings = new Dictionary<string, object> { ["ServerPin"] = tls.ServerPin!, ["TargetHost"] = tls.TargetHost! };
        if (tls.HasClientCertificate)
        {
            settings["ClientCertificatePath"] = tls.ClientCertificatePath!;
            settings["ClientPrivateKeyPath"] = tls.ClientPrivateKeyPath!;
        }

        link["Tls"] = settings;
        return link;
    }

    /// <summary>Whether the process has ended (e.g. killed itself at its kill point).</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>Waits until the process ends by itself.</summary>
    public async Task WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cancel.Token);
    }

    /// <summary>Kills the process at once (no shutdown) — a power cut as far as the software can tell.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    /// <summary>Sends SIGTERM (what systemd and <c>kill</c> send) and waits for the process to end; returns its exit code.</summary>
    public async Task<int> TerminateAsync(TimeSpan timeout)
    {
        Signals.Terminate(_process);
        await WaitForExitAsync(timeout);
        return _process.ExitCode;
    }

    /// <summary>Starts the same terminal again (same configuration, journal, queue and device memory).</summary>
    public void Restart(TimeSpan? noteDelay = null, bool clearFaults = false)
    {
        if (clearFaults)
        {
            var text = File.ReadAllText(ConfigPath);
            File.WriteAllText(ConfigPath, System.Text.RegularExpressions.Regex.Replace(text, ",\"(JamAfterNotes\":[0-9]+|NotesNotTaken\":true)", string.Empty));
        }

        if (noteDelay is { } delay)
        {
            var text = File.ReadAllText(ConfigPath);
            File.WriteAllText(ConfigPath, System.Text.RegularExpressions.Regex.Replace(text, "\"NoteDelay\":\"[^\"]*\"", $"\"NoteDelay\":\"{delay}\""));
        }

        _output.Clear();
        _process.Dispose();
        _process = Launch(ConfigPath);
        Attach(_process);
    }

    /// <summary>Types on the ATM keypad.</summary>
    public async Task TypeAsync(string keys)
    {
        await _process.StandardInput.WriteAsync(keys);
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>Waits for a line of standard output that starts with <paramref name="prefix"/> (after trimming) and returns its rest.</summary>
    public async Task<string> WaitForLineAsync(string prefix, TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        while (true)
        {
            var found = _output.Select(l => l.Trim()).LastOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal));
            if (found is not null)
            {
                return found[prefix.Length..].Trim();
            }

            if (_process.HasExited)
            {
                throw new InvalidOperationException($"The terminal exited with code {_process.ExitCode} before printing '{prefix}'. Output:\n{string.Join('\n', _output)}");
            }

            await Task.Delay(50, cancel.Token);
        }
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

    private static Process Launch(string configPath, string? killAfter = null, bool verbose = false)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Cli.Path);
        start.ArgumentList.Add("terminal");
        start.ArgumentList.Add("--config");
        start.ArgumentList.Add(configPath);
        if (verbose)
        {
            start.ArgumentList.Add("--verbose");
        }

        if (killAfter is not null)
        {
            start.Environment["CARDLESSATM_KILL_AFTER"] = killAfter;
        }

        return Process.Start(start) ?? throw new InvalidOperationException("Could not start the terminal process.");
    }

    private void Attach(Process process)
    {
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                _output.Enqueue(e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                _output.Enqueue("stderr: " + e.Data);
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }
}

/// <summary>Where the built <c>cardless-atm</c> is.</summary>
internal static class Cli
{
    public static string Path { get; } = Find();

    private static string Find()
    {
        // tests/CardlessAtm.EndToEnd.Tests/bin/<Configuration>/net10.0/ → src/CardlessAtm.Cli/bin/<Configuration>/net10.0/cardless-atm.dll
        var here = new DirectoryInfo(AppContext.BaseDirectory);
        var configuration = here.Parent!.Name;
        var root = here;
        while (root is not null && !File.Exists(System.IO.Path.Combine(root.FullName, "CardlessAtm.Devices.sln")))
        {
            root = root.Parent;
        }

        var path = System.IO.Path.Combine(root?.FullName ?? throw new InvalidOperationException("Repository root not found."), "src", "CardlessAtm.Cli", "bin", configuration, "net10.0", "cardless-atm.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException("Build the solution first: the end-to-end tests start cardless-atm as a process.", path);
    }
}

/// <summary>The terminal's TLS settings for its host link and its proxy link (pins, the ATM's client certificate).</summary>
internal sealed record TerminalLinks(TlsClientOptions Host, TlsClientOptions Proxy);
