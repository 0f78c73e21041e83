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
        var scenario = new Option<string>("--scenario", "-s")
        {
            Description = "Which path to run: approved (default), wrong-pin, insufficient-funds, dispenser-jam, expired-qr, door-open, host-down.",
            DefaultValueFactory = _ => "approved",
        };
        scenario.AcceptOnlyFromAmong("approved", "wrong-pin", "insufficient-funds", "dispenser-jam", "expired-qr", "door-open", "host-down");
        var saveQr = new Option<FileInfo?>("--save-qr") { Description = "Also write the QR code as a PNG file." };
        var profile = new Option<string>("--profile")
        {
            Description = "Security profile: Aes (default) or Legacy3Des (the patent's 3DES).",
            DefaultValueFactory = _ => "Aes",
        };
        var command = new Command(
            "demo",
            "Start a host (temporary SQLite file with demo accounts), a proxy, a terminal on simulated devices and a phone on free loopback ports, "
            + "perform a cardless withdrawal as a person would and narrate the patent's steps A–G, then print the journal and the balances. "
            + "Exit code 0 when the scenario ended as it should and the ledger balances.")
        {
            scenario,
            saveQr,
            profile,
        };
        command.SetAction((parse, cancellationToken) => CliHost.RunAsync(async () =>
        {
            using var host = CliHost.Build(parse, _ => { });
            var kind = Enum.Parse<DemoScenarioKind>(parse.GetValue(scenario)!.Replace("-", string.Empty, StringComparison.Ordinal), ignoreCase: true);
            var profileKind = SecurityProfiles.ParseKind(parse.GetValue(profile), "--profile");
            var run = new DemoScenario(kind, profileKind, parse.GetValue(saveQr), Console.Out, host.Services.GetRequiredService<ILoggerFactory>());
            return await run.RunAsync(cancellationToken);
        }));
        return command;
    }
}
