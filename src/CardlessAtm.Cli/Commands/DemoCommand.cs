using System.CommandLine;
using CardlessAtm.Cli.Demo;
using CardlessAtm.Security;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Cli.Commands;

/// <summary><c>cardless-atm demo</c>: the whole withdrawal, narrated, in one process on loopback.</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var names = DemoScenario.All.Select(DemoScenario.NameOf).ToArray();
        var scenario = new Option<string>("--scenario", "-s")
        {
            Description = $"Which path to run: {string.Join(", ", names)}, or all (each in turn, then a table). Default: approved.",
            DefaultValueFactory = _ => "approved",
        };
        scenario.AcceptOnlyFromAmong([.. names, "all"]);
        var saveQr = new Option<FileInfo?>("--save-qr") { Description = "Also write the QR code as a PNG file." };
        var profile = new Option<string>("--profile")
        {
            Description = "Security profile: Aes (default) or Legacy3Des (the patent's 3DES).",
            DefaultValueFactory = _ => "Aes",
        };
        var rig = new Option<string>("--rig")
        {
            Description = "Devices of the terminal: simulated (default, in-memory) or firmware-sim (the Raspberry Pi drivers on emulated SPI, I2C and GPIO and the LCDM-2000 emulator on a pseudo-terminal; faults injected in the firmware).",
            DefaultValueFactory = _ => "simulated",
        };
        rig.AcceptOnlyFromAmong("simulated", "firmware-sim");
        var dispenser = Rigs.FirmwareSimRig.CreateDispenserOption();
        var command = new Command(
            "demo",
            "Start a host (temporary SQLite file with demo accounts), a proxy, a terminal on simulated devices and a phone on free loopback ports, "
            + "perform a cardless withdrawal as a person would and narrate the patent's steps A–G, then print the journal and the balances. "
            + "Exit code 0 when the scenario ended as it should and the ledger balances.")
        {
            scenario,
            saveQr,
            profile,
            rig,
            dispenser,
        };
        command.SetAction((parse, cancellationToken) => CliHost.RunAsync(async () =>
        {
            using var host = CliHost.Build(parse, _ => { });
            var profileKind = SecurityProfiles.ParseKind(parse.GetValue(profile), "--profile");
            var onRig = Rigs.FirmwareSimRig.ParseRigOption(parse.GetValue(rig));
            var rigKind = onRig ? DemoRigKind.FirmwareSim : DemoRigKind.Simulated;
            var model = Rigs.FirmwareSimRig.ParseDispenserOption(parse.GetValue(dispenser), onRig) ?? Rigs.RigDispenserModel.Lcdm2000;
            if (parse.GetValue(scenario) == "all")
            {
                return await RunAllAsync(profileKind, rigKind, model, cancellationToken);
            }

            var kind = Enum.Parse<DemoScenarioKind>(parse.GetValue(scenario)!.Replace("-", string.Empty, StringComparison.Ordinal), ignoreCase: true);
            var run = new DemoScenario(kind, profileKind, parse.GetValue(saveQr), Console.Out, host.Services.GetRequiredService<ILoggerFactory>(), rigKind, model);
            return await run.RunAsync(cancellationToken);
        }));
        return command;
    }

    /// <summary>Every scenario in turn, each on a fresh network with its narration kept back; one row each, exit 0 only if all balanced.</summary>
    private static async Task<int> RunAllAsync(SecurityProfileKind profile, DemoRigKind rig, Rigs.RigDispenserModel model, CancellationToken cancellationToken)
    {
        var failures = 0;
        var rows = new List<(string Name, string Result, string Summary)>();
        var skipped = new List<(string Name, string Reason)>();
        foreach (var kind in DemoScenario.All)
        {
            if (rig == DemoRigKind.FirmwareSim && kind == DemoScenarioKind.NotesNotTaken)
            {
                skipped.Add((DemoScenario.NameOf(kind), $"needs a dispenser with an exit sensor; the rig's {DemoScenario.MakerName(model)} has none"));
                Console.WriteLine($"{DemoScenario.NameOf(kind),-38} skipped");
                continue;
            }

            if (rig == DemoRigKind.FirmwareSim && kind == DemoScenarioKind.ProxyFailover)
            {
                skipped.Add((DemoScenario.NameOf(kind), "runs on the simulated rig: the proxy fleet, not the devices, is under test"));
                Console.WriteLine($"{DemoScenario.NameOf(kind),-38} skipped");
                continue;
            }

            if (DemoScenario.SkipReason(kind) is { } reason)
            {
                skipped.Add((DemoScenario.NameOf(kind), reason));
                Console.WriteLine($"{DemoScenario.NameOf(kind),-38} skipped");
                continue;
            }

            var narration = new StringWriter();
            var run = new DemoScenario(kind, profile, null, narration, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, rig, model);
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            int exit;
            try
            {
                exit = await run.RunAsync(cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                narration.WriteLine($"{e.GetType().Name}: {e.Message}");
                exit = 1;
            }

            var seconds = System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds;
            if (exit == DemoScenario.SkippedExitCode)
            {
                skipped.Add((DemoScenario.NameOf(kind), run.Summary ?? "skipped"));
                Console.WriteLine($"{DemoScenario.NameOf(kind),-38} skipped");
                continue;
            }

            rows.Add((DemoScenario.NameOf(kind), exit == 0 ? $"ok ({seconds:F1} s)" : "FAILED", run.Summary ?? "did not finish"));
            Console.WriteLine($"{DemoScenario.NameOf(kind),-38} {(exit == 0 ? "ok" : "FAILED")}");
            if (exit != 0)
            {
                failures++;
                Console.WriteLine(narration.ToString());
            }
        }

        Console.WriteLine();
        Console.WriteLine($"{"scenario",-38} {"result",-12} outcome and ledger check");
        foreach (var (name, result, summary) in rows)
        {
            Console.WriteLine($"{name,-38} {result,-12} {summary}");
        }

        foreach (var (name, reason) in skipped)
        {
            Console.WriteLine($"{name,-38} {"skipped",-12} {reason}");
        }

        Console.WriteLine();
        Console.WriteLine($"{rows.Count - failures} of {rows.Count} scenarios ended as they should with the ledger balanced (rig {rig}{(rig == DemoRigKind.FirmwareSim && model != Rigs.RigDispenserModel.Lcdm2000 ? $" with the {DemoScenario.MakerName(model)}" : string.Empty)})"
            + (skipped.Count == 0 ? "." : $"; {skipped.Count} skipped: {string.Join(", ", skipped.Select(s => s.Name))}."));
        return failures == 0 ? 0 : 1;
    }
}
