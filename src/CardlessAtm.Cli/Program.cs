using System.CommandLine;
using CardlessAtm.Cli;
using CardlessAtm.Cli.Commands;

var root = new RootCommand("cardless-atm — cardless cash withdrawal at an ATM by QR code: terminal, proxy, host, phone, devices and simulated firmware.");

root.Options.Add(CliHost.ConfigOption);
root.Options.Add(CliHost.SetOption);
root.Options.Add(CliHost.VerboseOption);

// One line per subcommand; each area builds its own command in Commands/.
// --- subcommands (keep one per line) ---
root.Subcommands.Add(DevicesCommand.Create());
root.Subcommands.Add(ProxyCommand.Create());
root.Subcommands.Add(KeysCommand.Create());
root.Subcommands.Add(PhoneCommand.Create());
root.Subcommands.Add(TerminalCommand.Create());
root.Subcommands.Add(DemoCommand.Create());
root.Subcommands.Add(HostCommand.Create());
root.Subcommands.Add(FirmwareSimCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(PanelCommand.Create());
// --- end subcommands ---

// Exceptions come here, not to System.CommandLine's handler (which prints the stack trace): one mapping to
// exit code and message for every subcommand.
try
{
    return await root.Parse(args).InvokeAsync(new InvocationConfiguration
    {
        EnableDefaultExceptionHandler = false,

        // SIGTERM/Ctrl+C cancel the command, which stops in its own time (the terminal drains a withdrawal in flight
        // for Terminal:StopTimeout, then signs off). System.CommandLine's default of 2 s would cut that short with
        // exit 143; this is only the last resort for a command that ignores the cancellation.
        ProcessTerminationTimeout = TimeSpan.FromMinutes(5),
    });
}
catch (Exception e)
{
    var (exitCode, line) = CliErrors.Describe(e);
    await Console.Error.WriteLineAsync(line);
    return exitCode;
}
