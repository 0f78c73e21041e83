using System.CommandLine;
using System.Globalization;
using CardlessAtm.Devices.Configuration;
using CardlessAtm.FirmwareSim.Lcdm2000;
using CardlessAtm.FirmwareSim.Lcdm4000;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Cli.Commands;

/// <summary><c>cardless-atm firmware-sim dispenser</c>: simulated device firmware for rigs without hardware.</summary>
internal static class FirmwareSimCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "The dispenser to emulate: lcdm2000 (two cassettes, the default) or lcdm4000 (four cassettes, LAST_STATUS).", DefaultValueFactory = _ => "lcdm2000" };
        var link = new Option<string?>("--link") { Description = "Also create a symbolic link to the pseudo-terminal at this path (e.g. /tmp/lcdm2000)." };
        var upper = new Option<int?>("--upper") { Description = "LCDM-2000: notes in the upper cassette (default 500)." };
        var lower = new Option<int?>("--lower") { Description = "LCDM-2000: notes in the lower cassette (default 500)." };
        var cassettes = new Option<string?>("--cassettes") { Description = "LCDM-4000: notes in cassettes 1-4, comma-separated (default 500,500,500,500)." };
        var dispenser = new Command(
            "dispenser",
            "Run a Puloon dispenser's firmware emulator (LCDM-2000 or, with --model lcdm4000, LCDM-4000) behind a pseudo-terminal; point the driver at the printed device path. "
            + "Settings from FirmwareSim:Lcdm2000 or FirmwareSim:Lcdm4000 (timings, cassettes). Ctrl+C stops it.")
        {
            model,
            link,
            upper,
            lower,
            cassettes,
        };
        dispenser.SetAction((parse, cancellationToken) => CliHost.RunAsync(async () =>
        {
            using var host = CliHost.Build(parse, _ => { });
            var configuration = host.Services.GetRequiredService<IConfiguration>();
            switch (parse.GetValue(model)?.ToLowerInvariant())
            {
                case "lcdm2000":
                    if (parse.GetValue(cassettes) is not null)
                    {
                        throw new UsageException("--cassettes is for --model lcdm4000; the LCDM-2000 takes --upper and --lower");
                    }

                    return await RunLcdm2000Async(configuration, parse.GetValue(link), parse.GetValue(upper), parse.GetValue(lower), host.Services, cancellationToken);
                case "lcdm4000":
                    if (parse.GetValue(upper) is not null || parse.GetValue(lower) is not null)
                    {
                        throw new UsageException("--upper and --lower are for the LCDM-2000; the LCDM-4000 takes --cassettes N,N,N,N");
                    }

                    return await RunLcdm4000Async(configuration, parse.GetValue(link), parse.GetValue(cassettes), host.Services, cancellationToken);
                default:
                    throw new UsageException($"--model: '{parse.GetValue(model)}' is not an emulated dispenser; use lcdm2000 or lcdm4000");
            }
        }));

        var command = new Command("firmware-sim", "Simulated device firmware at the bus, for rigs and CI without hardware.");
        command.Subcommands.Add(dispenser);
        return command;
    }

    private static async Task<int> RunLcdm2000Async(
        IConfiguration configuration, string? link, int? upper, int? lower, IServiceProvider services, CancellationToken cancellationToken)
    {
        var options = new Lcdm2000EmulatorOptions();
        AtmDevicesBuilder.Bind(configuration.GetSection("FirmwareSim:Lcdm2000"), options);
        options.LinkPath = link ?? options.LinkPath;
        options.UpperNotes = upper ?? options.UpperNotes;
        options.LowerNotes = lower ?? options.LowerNotes;
        var problems = options.Validate();
        if (problems.Count > 0)
        {
            throw new ConfigurationException("FirmwareSim:Lcdm2000", string.Join("; ", problems));
        }

        return await Lcdm2000EmulatorCommand.RunAsync(options, Console.Out, cancellationToken, services.GetRequiredService<ILogger<Lcdm2000Emulator>>());
    }

    private static async Task<int> RunLcdm4000Async(
        IConfiguration configuration, string? link, string? cassettes, IServiceProvider services, CancellationToken cancellationToken)
    {
        var options = new Lcdm4000EmulatorOptions();
        AtmDevicesBuilder.Bind(configuration.GetSection("FirmwareSim:Lcdm4000"), options);
        options.LinkPath = link ?? options.LinkPath;
        if (cassettes is not null)
        {
            options.Notes = ParseCassettes(cassettes);
        }

        var problems = options.Validate();
        if (problems.Count > 0)
        {
            throw new ConfigurationException("FirmwareSim:Lcdm4000", string.Join("; ", problems));
        }

        return await Lcdm4000EmulatorCommand.RunAsync(options, Console.Out, cancellationToken, services.GetRequiredService<ILogger<Lcdm4000Emulator>>());
    }

    /// <summary>Parses <c>--cassettes 500,500,200,0</c>.</summary>
    /// <exception cref="UsageException">Not four non-negative whole numbers.</exception>
    internal static int[] ParseCassettes(string value)
    {
        var parts = value.Split(',', StringSplitOptions.TrimEntries);
        var counts = new int[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out counts[i]))
            {
                throw new UsageException($"--cassettes: '{parts[i]}' (cassette {i + 1}) is not a note count; give four counts such as 500,500,500,500");
            }
        }

        if (counts.Length != 4)
        {
            throw new UsageException($"--cassettes: the LCDM-4000 has four cassettes; '{value}' gives {counts.Length}");
        }

        return counts;
    }
}
