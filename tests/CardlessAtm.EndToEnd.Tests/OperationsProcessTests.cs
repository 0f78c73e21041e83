using CardlessAtm.Phone.Withdrawal;

namespace CardlessAtm.EndToEnd.Tests;

/// <summary>What an operator sees of the processes: log lines in a redirected log, exit codes, stops.</summary>
[Collection("processes")]
public class OperationsProcessTests
{
    [Fact]
    public async Task A_redirected_terminal_log_names_the_atm_session_and_stan_in_plain_text()
    {
        await using var network = await Network.StartAsync();
        var terminal = await network.StartTerminalAsync(verbose: true);

        var qr = await Network.ShowQrAsync(terminal, 20);
        var outcome = await network.WithdrawAsync(network.Phone(), qr);
        Assert.Equal(WithdrawalStatus.Approved, outcome.Status);
        var ended = await WaitForAsync(terminal, l => l.Contains("Withdrawal ended", StringComparison.Ordinal));

        Assert.True(System.Text.RegularExpressions.Regex.IsMatch(ended, @"=> atm=ATM00001 session=\S+ stan=\d+ Withdrawal ended"), ended);
        var log = string.Join('\n', terminal.Output);
        Assert.DoesNotContain("System.Collections.Generic", log, StringComparison.Ordinal);
        Assert.DoesNotContain("\u001b[", log, StringComparison.Ordinal);
    }

    internal static async Task<string> WaitForAsync(TerminalProcess process, Func<string, bool> match)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            if (process.Output.FirstOrDefault(match) is { } line)
            {
                return line;
            }

            await Task.Delay(50, timeout.Token);
        }
    }
}
