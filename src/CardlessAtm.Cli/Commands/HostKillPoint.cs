using System.Diagnostics;
using CardlessAtm.Host.Processing;
using CardlessAtm.Iso8583;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Cli.Commands;

/// <summary>
/// The host's crash-test hook, the counterpart of the terminal's <see cref="KillPoint"/>: with
/// <c>CARDLESSATM_HOST_KILL_AFTER=withdrawal-approved</c> in the environment a <c>cardless-atm host run</c> process
/// SIGKILLs itself right after it committed an approved withdrawal (the debit is in the ledger) and before its 0210 is
/// written — the ATM never hears the approval, exactly as after a power cut at that point. The host failover kill tests
/// use it; see docs/scale-out.md. Never set it on a real host.
/// </summary>
internal static class HostKillPoint
{
    /// <summary>The environment variable naming the point after which the host process kills itself.</summary>
    public const string Variable = "CARDLESSATM_HOST_KILL_AFTER";

    /// <summary>The only point: an approved 0200 committed, its 0210 not yet written.</summary>
    public const string WithdrawalApproved = "withdrawal-approved";

    public static void Arm(HostProcessor processor, ILogger logger)
    {
        if (Environment.GetEnvironmentVariable(Variable) is not { Length: > 0 } killAfter)
        {
            return;
        }

        if (killAfter != WithdrawalApproved)
        {
            throw new ArgumentException($"{Variable}={killAfter}: the only kill point is '{WithdrawalApproved}'");
        }

        logger.LogWarning("{Variable}={Point}: this host kills itself (SIGKILL) right after committing an approved withdrawal, before its 0210 (crash test)", Variable, killAfter);
        processor.AfterWithdrawalCommitted = (_, outcome) =>
        {
            if (outcome.ResponseCode == ResponseCodes.Approved)
            {
                using var self = Process.GetCurrentProcess();
                self.Kill(); // SIGKILL on Unix: the 0210 is never written
            }

            return ValueTask.CompletedTask;
        };
    }
}
