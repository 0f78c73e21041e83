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

    [Fact]
    public async Task The_phone_withdraws_from_the_png_the_terminal_writes_of_its_qr()
    {
        await using var network = await Network.StartAsync();
        var png = Path.Combine(network.Directory.FullName, "atm-qr.png");
        var terminal = await network.StartTerminalAsync(qrImagePath: png);
        var balance = await network.BalanceAsync();

        var shown = await Network.ShowQrAsync(terminal, 20);
        var scanned = Phone.Scanning.ScannedSession.FromImageFile(png); // what `phone withdraw --qr FILE` reads
        Assert.Equal(Phone.Scanning.ScannedSession.FromText(shown).Text, scanned.Text);
        var outcome = await network.Phone().WithdrawAsync(
            scanned, network.Seed.Customers[0].AccountId, WithdrawalInteraction.Automatic(network.Seed.Customers[0].Pin));

        Assert.Equal(WithdrawalStatus.Approved, outcome.Status);
        Assert.Equal(balance - 2000, await network.BalanceAsync());
        await network.AssertReconciledAsync(terminal);

        // The QR screen ended when the request arrived, and the file with it (a used QR is not left for the next phone).
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (File.Exists(png))
        {
            await Task.Delay(50, timeout.Token);
        }
    }

    [Fact]
    public async Task Sigterm_stops_the_terminal_with_exit_0()
    {
        await using var network = await Network.StartAsync();
        var terminal = await network.StartTerminalAsync(verbose: true);

        var exit = await terminal.TerminateAsync(TimeSpan.FromSeconds(30));

        var log = string.Join('\n', terminal.Output);
        Assert.True(exit == 0, $"exit {exit}:\n{log}");
        Assert.Contains("terminal: stopped", log, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", log, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("host")]
    [InlineData("proxy")]
    public async Task Sigterm_stops_a_listening_role_with_exit_0(string role)
    {
        var directory = Directory.CreateTempSubdirectory("cardless-atm-stop-");
        try
        {
            string[] args = role == "host"
                ? ["host", "run", "--port", "0", "--db", Path.Combine(directory.FullName, "host.db"), "--keys", Path.Combine(directory.FullName, "keys"), "--set", "Host:Insecure=true", "--verbose"]
                : ["proxy", "--atm-port", "0", "--phone-port", "0", "--set", "Proxy:Atm:Insecure=true", "--set", "Proxy:Phone:Insecure=true", "--verbose"];
            var (process, output) = CliRun.Start(directory.FullName, args);
            using (process)
            {
                using (var ready = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
                {
                    while (!output.Any(l => l.StartsWith(role + ":", StringComparison.Ordinal)))
                    {
                        await Task.Delay(50, ready.Token);
                    }
                }

                Signals.Terminate(process);
                using var stopped = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await process.WaitForExitAsync(stopped.Token);

                var log = string.Join('\n', output);
                Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}:\n{log}");
                Assert.Contains($"{role}: stopped", log, StringComparison.Ordinal);
                if (role == "host")
                {
                    // The start-up line says how the listener runs (issue 13 item 8).
                    Assert.Contains("with plain TCP (Host:Insecure = true)", log, StringComparison.Ordinal);
                }

                Assert.DoesNotContain("   at ", log, StringComparison.Ordinal);
            }
        }
        finally
        {
            directory.Delete(recursive: true);
        }
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
