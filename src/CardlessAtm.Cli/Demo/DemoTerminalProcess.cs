using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using CardlessAtm.Cli.Commands;
using CardlessAtm.Cli.Rigs;
using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Network;
using CardlessAtm.Security;

namespace CardlessAtm.Cli.Demo;

/// <summary>
/// A terminal as a separate <c>cardless-atm terminal</c> process — the console display and keypad on its standard
/// streams, the simulated dispenser with state files or the firmware-sim rig's LCDM-2000 — so a scenario can SIGKILL it and start it again, as a power
/// cut and a reboot would.
/// </summary>
internal sealed class DemoTerminalProcess : IAsyncDisposable
{
    private readonly ConcurrentQueue<string> _output = new();
    private readonly string _configPath;
    private readonly Func<bool, Dictionary<string, object>> _config;
    private Process? _process;

    private DemoTerminalProcess(string directory, string configPath, DemoRigKind rig, Func<bool, Dictionary<string, object>> config)
    {
        Directory = directory;
        _configPath = configPath;
        Rig = rig;
        _config = config;
    }

    public string Directory { get; }

    public string JournalPath => Path.Combine(Directory, "data", "journal.log");

    public string SafDirectory => Path.Combine(Directory, "data", "saf");

    public bool HasExited => Running.HasExited;

    /// <summary>Which devices the process runs on: the simulated dispenser, or the firmware-sim rig it starts itself.</summary>
    public DemoRigKind Rig { get; }

    /// <summary>
    /// Starts <c>cardless-atm terminal</c> with the console display and keypad (the scenario types on its standard input and
    /// reads the screens off its output) and, on <see cref="DemoRigKind.Simulated"/>, the simulated dispenser with a
    /// state file; on <see cref="DemoRigKind.FirmwareSim"/>, <c>Devices:Rig=FirmwareSim</c>: the process starts its own
    /// rig and dispenses through the driver of the network's <see cref="DemoNetwork.RigDispenser"/> into the rig's emulator, the notes
    /// <paramref name="noteDelay"/> apart and the jam injected in the emulator by the rig's settings.
    /// </summary>
    /// <remarks>
    /// With <paramref name="lcdm4000Port"/>, whatever the rig, the process dispenses through the LCDM-4000 driver
    /// (<c>Devices:Dispenser:Kind=Lcdm4000</c>) into an emulator the scenario runs on that pty — separate hardware that
    /// outlives the terminal — with four cash units (5, 10, 20, 50 EUR at positions 1–4) and the driver's counter file
    /// in the process's directory; <paramref name="noteDelay"/> and <paramref name="jamAfterNotes"/> are then the emulator's business.
    /// </remarks>
    public static DemoTerminalProcess Start(DemoNetwork network, string atmId, TimeSpan noteDelay, int? jamAfterNotes, string? killAfter, DemoRigKind rig = DemoRigKind.Simulated, string? lcdm4000Port = null)
    {
        var directory = Path.Combine(network.Directory.FullName, atmId + "-process");
        var keys = new FileKeyStore(Path.Combine(directory, "keys"));
        keys.SaveKey("tmk", network.Seed.Atm.MasterKey, overwrite: true);
        var tls = network.Pki.IssueTerminalTls(atmId, Path.Combine(directory, "tls"));
        System.IO.Directory.CreateDirectory(directory);
        var configPath = Path.Combine(directory, "terminal.json");
        var process = new DemoTerminalProcess(directory, configPath, rig, withFaults => Config(network, atmId, directory, keys, tls, rig, withFaults ? noteDelay : null, withFaults ? jamAfterNotes : null, lcdm4000Port));
        process.Launch(withFaults: true, killAfter);
        return process;
    }

    /// <summary>Starts it again, without the kill point and without injected dispenser faults.</summary>
    public void Restart()
    {
        _output.Clear();
        _process?.Dispose();
        Launch(withFaults: false, killAfter: null);
    }

    /// <summary>SIGKILL now.</summary>
    public void Kill()
    {
        Running.Kill(entireProcessTree: true);
        Running.WaitForExit();
    }

    public async Task WaitForExitAsync(CancellationToken cancellationToken) => await Running.WaitForExitAsync(cancellationToken);

    /// <summary>The customer types the amount; returns the QR payload once it is on the console.</summary>
    public async Task<string> ShowQrAsync(int amountMajor, CancellationToken cancellationToken)
    {
        await WaitUntilAsync(() => LastScreenIs("  Press ENTER"), "the idle screen", cancellationToken);
        await Running.StandardInput.WriteAsync("\n" + amountMajor.ToString(CultureInfo.InvariantCulture) + "\n");
        await Running.StandardInput.FlushAsync(cancellationToken);
        await WaitUntilAsync(() => _output.Any(l => l.TrimStart().StartsWith("QR:", StringComparison.Ordinal)), "a QR code", cancellationToken);
        return _output.Select(l => l.Trim()).Last(l => l.StartsWith("QR:", StringComparison.Ordinal))[3..].Trim();
    }

    /// <summary>Waits until the terminal signed on again after a restart (recovery runs before it dials out).</summary>
    public Task WaitForStartsAsync(int starts, CancellationToken cancellationToken) =>
        WaitUntilAsync(() => Terminal.Journal.ElectronicJournal.ReadAll(JournalPath).Count(e => e.Event == Terminal.Journal.JournalEvents.Started) >= starts, "the restart", cancellationToken);

    /// <summary>Value of the notes presented, from the terminal's persisted cash units.</summary>
    public async Task<long> PresentedMinorAsync(CancellationToken cancellationToken)
    {
        var units = await new JsonFileCashUnitStore(Path.Combine(Directory, "cash-units.json")).LoadAsync(cancellationToken);
        return units?.Sum(u => u.PresentedValue.MinorUnits) ?? 0;
    }

    public int SafDepth => System.IO.Directory.Exists(SafDirectory) ? System.IO.Directory.GetFiles(SafDirectory, "*.json").Length : 0;

    public async ValueTask DisposeAsync()
    {
        if (_process is null)
        {
            return;
        }

        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private Process Running => _process ?? throw new InvalidOperationException("The terminal process was not started.");

    /// <summary>The LCDM-4000 driver's counter file (the command in flight, settled by LAST_STATUS after a restart).</summary>
    public string Lcdm4000CounterFile => Path.Combine(Directory, "lcdm4000-counters.json");

    /// <summary>The cash units of the LCDM-4000 configuration: id, position, denomination (EUR).</summary>
    public static IReadOnlyList<(string Id, int Position, int Denomination)> Lcdm4000CashUnits { get; } = [("CASS1", 1, 5), ("CASS2", 2, 10), ("CASS3", 3, 20), ("CASS4", 4, 50)];

    private static Dictionary<string, object> Config(DemoNetwork network, string atmId, string directory, FileKeyStore keys, TlsClientOptions tls, DemoRigKind rig, TimeSpan? noteDelay, int? jamAfterNotes, string? lcdm4000Port)
    {
        var config = new Dictionary<string, object>
        {
            ["Security"] = new Dictionary<string, object> { ["Profile"] = network.Profile.Kind.ToString() },
            ["QrSession"] = new Dictionary<string, object> { ["Lifetime"] = "00:02:00", ["ClockSkew"] = "00:00:00" },
            ["Terminal"] = new Dictionary<string, object>
            {
                ["AtmId"] = atmId,
                ["Currency"] = "EUR",
                ["Host"] = new Dictionary<string, object>
                {
                    ["Address"] = "127.0.0.1",
                    ["Port"] = network.HostPort,
                    ["Tls"] = new Dictionary<string, object> { ["ServerPin"] = network.Pki.HostPin.ToString(), ["TargetHost"] = DemoAtmPki.HostName },
                },
                ["Proxy"] = new Dictionary<string, object>
                {
                    ["Address"] = "127.0.0.1",
                    ["Port"] = network.Proxy.AtmEndPoint.Port,
                    ["Tls"] = new Dictionary<string, object>
                    {
                        ["ServerPin"] = tls.ServerPin!,
                        ["TargetHost"] = tls.TargetHost!,
                        ["ClientCertificatePath"] = tls.ClientCertificatePath!,
                        ["ClientPrivateKeyPath"] = tls.ClientPrivateKeyPath!,
                    },
                },
                ["KeyStore"] = keys.Directory,
                ["DataDirectory"] = Path.Combine(directory, "data"),
                ["ResultScreenTime"] = "00:00:00",
                ["ReversalRetryInitial"] = "00:00:00.200",
                ["ReversalRetryMax"] = "00:00:01",
            },
        };
        var devices = new Dictionary<string, object>
        {
            ["Display"] = new Dictionary<string, object> { ["Kind"] = "Console" },
            ["Keypad"] = new Dictionary<string, object> { ["Kind"] = "Console" },
        };
        config["Devices"] = devices;
        if (lcdm4000Port is not null)
        {
            devices["Dispenser"] = new Dictionary<string, object>
            {
                ["Kind"] = "Lcdm4000",
                ["CashUnits"] = Lcdm4000CashUnits
                    .Select(u => new Dictionary<string, object> { ["Id"] = u.Id, ["Position"] = u.Position, ["Currency"] = "EUR", ["Denomination"] = u.Denomination.ToString(CultureInfo.InvariantCulture), ["Count"] = 200 })
                    .ToArray(),
                ["StateFile"] = Path.Combine(directory, "cash-units.json"),
                ["Lcdm4000"] = new Dictionary<string, object> { ["PortName"] = lcdm4000Port, ["CounterFile"] = Path.Combine(directory, "lcdm4000-counters.json") },
            };
            return config;
        }

        if (rig == DemoRigKind.FirmwareSim)
        {
            // The rig's shipped settings (its cash units, the dispenser on the rig's pty, GPIO sensors) sit under these;
            // the display and keypad stay on the console, the only way into a process the scenario does not host.
            devices["Rig"] = FirmwareSimRig.Name;
            devices["Dispenser"] = new Dictionary<string, object> { ["StateFile"] = Path.Combine(directory, "cash-units.json") };
            var firmware = new Dictionary<string, object>
            {
                ["Dispenser"] = new Dictionary<string, object> { ["Model"] = network.RigDispenser.ToString() },
            };
            if (noteDelay is { } delay && delay > TimeSpan.Zero)
            {
                firmware[network.RigDispenser.ToString()] = new Dictionary<string, object> { ["NoteInterval"] = delay.ToString() };
            }

            if (jamAfterNotes is { } jam)
            {
                firmware["Faults"] = new Dictionary<string, object> { ["JamAfterNotes"] = jam };
            }

            config["FirmwareSim"] = firmware;
            return config;
        }

        var faults = new Dictionary<string, object> { ["NoteDelay"] = (noteDelay ?? TimeSpan.Zero).ToString() };
        if (jamAfterNotes is { } jamSimulated)
        {
            faults["JamAfterNotes"] = jamSimulated;
        }

        devices["Dispenser"] = new Dictionary<string, object>
        {
            ["CashUnits"] = new[] { ("CASS1", 1, "10"), ("CASS2", 2, "20"), ("CASS3", 3, "50") }
                .Select(u => new Dictionary<string, object> { ["Id"] = u.Item1, ["Position"] = u.Item2, ["Currency"] = "EUR", ["Denomination"] = u.Item3, ["Count"] = 200 })
                .ToArray(),
            ["StateFile"] = Path.Combine(directory, "cash-units.json"),
            ["Simulated"] = new Dictionary<string, object>
            {
                ["StateFile"] = Path.Combine(directory, "dispenser-memory.json"),
                ["Faults"] = faults,
            },
        };
        return config;
    }

    private bool LastScreenIs(string prefix)
    {
        string[] screens = ["  Press ENTER", "  Amount (", "  Scan with", "  Authorising", "  Dispensing", "  Transaction terminated", "  Please take", "  Only ", "  Temporarily"];
        var lines = _output.ToList();
        var last = lines.FindLastIndex(l => screens.Any(p => l.StartsWith(p, StringComparison.Ordinal)));
        return last >= 0 && lines[last].StartsWith(prefix, StringComparison.Ordinal);
    }

    private async Task WaitUntilAsync(Func<bool> condition, string what, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        while (!condition())
        {
            if (timeout.IsCancellationRequested)
            {
                throw new TimeoutException($"The terminal process never showed {what}. Its output:\n{string.Join('\n', _output.TakeLast(40))}");
            }

            await Task.Delay(50, CancellationToken.None);
        }
    }

    private void Launch(bool withFaults, string? killAfter)
    {
        File.WriteAllText(_configPath, JsonSerializer.Serialize(_config(withFaults)));
        var self = Environment.ProcessPath ?? "dotnet";
        var start = new ProcessStartInfo(self) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            start.ArgumentList.Add(typeof(DemoTerminalProcess).Assembly.Location);
        }

        start.ArgumentList.Add("terminal");
        start.ArgumentList.Add("--config");
        start.ArgumentList.Add(_configPath);
        if (killAfter is not null)
        {
            start.Environment[KillPoint.Variable] = killAfter;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start the terminal process.");
        process.OutputDataReceived += (_, e) => Enqueue(e.Data);
        process.ErrorDataReceived += (_, e) => Enqueue(e.Data is null ? null : "stderr: " + e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
    }

    private void Enqueue(string? line)
    {
        if (line is not null)
        {
            _output.Enqueue(line);
        }
    }
}
