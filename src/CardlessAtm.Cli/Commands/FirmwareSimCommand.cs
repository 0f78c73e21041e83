using System.CommandLine;
using CardlessAtm.Devices.Configuration;
using CardlessAtm.FirmwareSim.Lcdm2000;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Cli.Commands;

/// <summary><c>cardless-atm firmware-sim dispenser</c>: simulated device firmware for rigs without hardware.</summary>
internal static class FirmwareSimCommand
{
    public static Command Create()
    {
        var link = new Option<string?>("--link") { Description = "Also create a symbolic link to the pseudo-terminal at this path (e.g. /tmp/lcdm2000)." };
        var upper = new Option<int?>("--upper") { Description = "Notes in the upper cassette (default 500)." };
        var lower = new Option<int?>("--lower") { Description = "Notes in the lower cassette (default 500)." };
        var dispenser = new Command(
            "dispenser",
            "Run a Puloon LCDM-2000 firmware emulator behind a pseudo-terminal; point the Lcdm2000 driver at the printed device path. "
            + "Settings from FirmwareSim:Lcdm2000 (timings, cassettes, ROM version). Ctrl+C stops it.")
        {
            link,
            upper,
            lower,
        };
        dispenser.SetAction((parse, cancellationToken) => CliHost.RunAsync(async () =>
        {
            using var host = CliHost.Build(parse, _ => { });
            var options = new Lcdm2000EmulatorOptions();
            AtmDevicesBuilder.Bind(host.Services.GetRequiredService<IConfiguration>().GetSection("FirmwareSim:Lcdm2000"), options);
            options.LinkPath = parse.GetValue(link) ?? options.LinkPath;
            options.UpperNotes = parse.GetValue(upper) ?? options.UpperNotes;
            options.LowerNotes = parse.GetValue(lower) ?? options.LowerNotes;
            var problems = options.Validate();
            if (problems.Count > 0)
            {
                await Console.Error.WriteLineAsync($"Configuration error in FirmwareSim:Lcdm2000: {string.Join("; ", problems)}");
                return 2;
            }

            return await Lcdm2000EmulatorCommand.RunAsync(options, Console.Out, cancellationToken, host.Services.GetRequiredService<ILogger<Lcdm2000Emulator>>());
        }));

        var command = new Command("firmware-sim", "Simulated device firmware at the bus, for rigs and CI without hardware.");
        command.Subcommands.Add(dispenser);
        return command;
    }
}
