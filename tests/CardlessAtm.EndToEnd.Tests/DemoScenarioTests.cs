using System.Diagnostics;

namespace CardlessAtm.EndToEnd.Tests;

/// <summary>
/// <c>cardless-atm demo --scenario …</c> as a process, exactly as a user runs it: every scenario must end with
/// its customer message and a balanced ledger (the demo's exit code says so).
/// </summary>
[Collection("processes")]
public class DemoScenarioTests
{
    [Theory]
    [InlineData("approved", "Approved: 80.00 EUR dispensed")]
    [InlineData("wrong-pin", "incorrect PIN")]
    [InlineData("insufficient-funds", "insufficient funds")]
    [InlineData("dispenser-jam", "Only 10.00 EUR of 80.00 EUR could be paid")]
    [InlineData("expired-qr", "expired")]
    [InlineData("door-open", "This ATM cannot dispense cash right now")]
    [InlineData("host-down", "The host acknowledged the reversal")]
    public async Task Every_demo_scenario_ends_as_described_with_a_balanced_ledger(string scenario, string expected)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Cli.Path);
        start.ArgumentList.Add("demo");
        start.ArgumentList.Add("--scenario");
        start.ArgumentList.Add(scenario);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);

        var text = await output;
        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}\n{text}\n{await errors}");
        Assert.Contains(expected, text, StringComparison.Ordinal);
        Assert.Contains("Ledger balanced", text, StringComparison.Ordinal);
    }
}
