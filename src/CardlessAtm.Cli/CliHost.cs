using System.CommandLine;
using System.CommandLine.Parsing;
using CardlessAtm.Cli.Hosting;
using CardlessAtm.Cli.Logging;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace CardlessAtm.Cli;

/// <summary>
/// The .NET Generic Host every subcommand runs on: configuration from the shipped appsettings.json,
/// an optional <c>--config</c> file, <c>CARDLESSATM_</c> environment variables (<c>CARDLESSATM_Devices__Dispenser__Kind</c>)
/// and <c>--set Key=Value</c> overrides, in that order; console logging to standard error.
/// </summary>
internal static class CliHost
{
    /// <summary>The <c>--config</c> option shared by every subcommand.</summary>
    public static readonly Option<FileInfo?> ConfigOption = new("--config", "-c")
    {
        Description = "A JSON configuration file (settings override the shipped appsettings.json).",
        Recursive = true,
    };

    /// <summary>The <c>--set</c> option: configuration overrides as Key=Value (e.g. Devices:Dispenser:Kind=Lcdm2000).</summary>
    public static readonly Option<string[]> SetOption = new("--set")
    {
        Description = "Override one setting, as Key=Value with ':' between sections (repeatable).",
        Recursive = true,
        AllowMultipleArgumentsPerToken = false,
    };

    /// <summary>The <c>--verbose</c> option: log at Information level instead of Warning.</summary>
    public static readonly Option<bool> VerboseOption = new("--verbose", "-v")
    {
        Description = "Log at Information level to standard error.",
        Recursive = true,
    };

    /// <summary>
    /// Key of <see cref="IHostApplicationBuilder.Properties"/>: the index of the first configuration source the user gives
    /// (--config, environment, --set); a rig's shipped settings go in just below it (see <c>FirmwareSimRig</c>).
    /// </summary>
    public const string UserSettingsStartKey = "CardlessAtm.UserSettingsStart";

    /// <summary>Builds a host for a subcommand; <paramref name="configureServices"/> adds the subcommand's parts.</summary>
    /// <exception cref="ConfigurationException">A <c>--config</c> file is missing or a <c>--set</c> is malformed.</exception>
    public static IHost Build(ParseResult parse, Action<HostApplicationBuilder> configureServices)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddInMemoryCollection(Defaults());
        builder.Configuration.AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true);
        ((IHostApplicationBuilder)builder).Properties[UserSettingsStartKey] = builder.Configuration.Sources.Count;
        var config = parse.GetValue(ConfigOption);
        if (config is not null)
        {
            if (!config.Exists)
            {
                throw new ConfigurationException("--config", $"the file '{config.FullName}' does not exist");
            }

            builder.Configuration.AddJsonFile(config.FullName, optional: false);
        }

        builder.Configuration.AddEnvironmentVariables("CARDLESSATM_");
        builder.Configuration.AddInMemoryCollection(ParseOverrides(parse.GetValue(SetOption) ?? []));
        builder.Logging.AddConsole(o => o.FormatterName = CliConsoleFormatter.FormatterName);
        builder.Logging.AddConsoleFormatter<CliConsoleFormatter, ConsoleFormatterOptions>(o =>
        {
            o.IncludeScopes = true; // the ATM id, session and STAN of a withdrawal ride on every line as a scope
            o.TimestampFormat = "HH:mm:ss.fff ";
        });
        builder.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.SetMinimumLevel(parse.GetValue(VerboseOption) ? LogLevel.Information : LogLevel.Warning);
        builder.Services.AddSingleton(TimeProvider.System);
        var problems = new LastProblemLog(TimeProvider.System);
        builder.Logging.AddProvider(problems);
        builder.Services.AddSingleton(problems);
        var telemetry = TelemetrySettings.Read(builder.Configuration);
        telemetry.AddTo(builder, RoleOf(parse));
        if (telemetry.Describe() is { } line)
        {
            Console.Error.WriteLine(line);
        }

        configureServices(builder);
        return builder.Build();
    }

    /// <summary>The role a command belongs to: the first word after <c>cardless-atm</c> (<c>host run</c> → host).</summary>
    internal static string RoleOf(ParseResult parse)
    {
        var command = parse.CommandResult;
        while (command.Parent is CommandResult parent && parent.Parent is not null)
        {
            command = parent;
        }

        return command.Command.Name;
    }

    /// <summary>Runs a subcommand body; an exception it throws is mapped to an exit code and one line by <see cref="CliErrors"/>.</summary>
    public static async Task<int> RunAsync(Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            var (exitCode, line) = CliErrors.Describe(e);
            await Console.Error.WriteLineAsync(line);
            return exitCode;
        }
    }

    private static Dictionary<string, string?> Defaults() => new()
    {
        ["Devices:Dispenser:StateFile"] = Path.Combine(
            Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create),
            "cardless-atm", "cash-units.json"),

        // The LCDM-2000's own counters (presented/rejected per position, the command in flight), so recovery after a
        // crash mid-dispense knows what moved; used only when Devices:Dispenser:Kind=Lcdm2000.
        ["Devices:Dispenser:Lcdm2000:CounterFile"] = Path.Combine(
            Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create),
            "cardless-atm", "lcdm2000-counters.json"),

        // The LCDM-4000 driver's counters and the dispense command in flight, settled from LAST_STATUS after a crash.
        ["Devices:Dispenser:Lcdm4000:CounterFile"] = Path.Combine(
            Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create),
            "cardless-atm", "lcdm4000-counters.json"),
    };

    private static Dictionary<string, string?> ParseOverrides(IEnumerable<string> overrides)
    {
        var result = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var item in overrides)
        {
            var equals = item.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw new ConfigurationException("--set", $"'{item}' is not Key=Value (e.g. --set Devices:Dispenser:Kind=Simulated)");
            }

            result[item[..equals].Trim()] = item[(equals + 1)..];
        }

        return result;
    }
}
