using System.Diagnostics;
using CardlessAtm.Terminal;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Cli.Commands;

/// <summary>
/// The crash-test hook: with <c>CARDLESSATM_KILL_AFTER=&lt;journal event&gt;</c> in the environment the terminal
/// process SIGKILLs itself the moment that entry is on disk — nothing after it runs, exactly as after a power cut
/// at that point. The kill tests and the <c>terminal-killed-*</c> demo scenarios use it; see docs/operations.md §6.
/// </summary>
internal static class KillPoint
{
    /// <summary>The environment variable naming the journal event after which the process kills itself.</summary>
    public const string Variable = "CARDLESSATM_KILL_AFTER";

    public static void Arm(AtmTerminal terminal, ILogger logger)
    {
        if (Environment.GetEnvironmentVariable(Variable) is not { Length: > 0 } killAfter)
        {
            return;
        }

        logger.LogWarning("{Variable}={Event}: this terminal kills itself (SIGKILL) right after journalling '{Event}' (crash test)", Variable, killAfter, killAfter);
        terminal.Journal.Written += entry =>
        {
            if (entry.Event == killAfter)
            {
                using var self = Process.GetCurrentProcess();
                self.Kill(); // SIGKILL on Unix: no finally block, no flush, no sign-off
            }
        };
    }
}
