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
    [InlineData("reversal-refused", "the host answered 91")]
    [InlineData("atm-blocked-after-approval", "status=NeedsOperator")]
    [InlineData("exception-after-approval", "InvalidMixException")]
    [InlineData("unmatched-request-flood", "500 of 500 refused")]
    [InlineData("impostor-atm", "claiming ATM00001: sign-on answered 63")]
    [InlineData("torn-journal", ":4: ")]
    [InlineData("terminal-killed-mid-dispense", "recovered after SIGKILL")]
    [InlineData("terminal-killed-before-reversal-file", "reason=recovery: dispense had ended")]
    [InlineData("replayed-approval", "The ATM refused the replayed approval: no note moved")]
    [InlineData("connection-flood", "link phone->proxy: TLS 1.3, server pinned spki-sha256:")]
    [InlineData("forged-key-change", "forged 0800/101 for ATM00001 (no valid MAC): the host answered 63")]
    [InlineData("notes-not-taken", "Retract bin: 3 notes, 80.00 EUR (CASS1 1 x 10.00 EUR, CASS2 1 x 20.00 EUR, CASS3 1 x 50.00 EUR)")]
    public async Task Every_demo_scenario_ends_as_described_with_a_balanced_ledger(string scenario, string expected)
    {
        var (exit, text) = await RunDemoAsync("--scenario", scenario);
        Assert.True(exit == 0, $"exit {exit}\n{text}");
        Assert.Contains(expected, text, StringComparison.Ordinal);
        Assert.Contains("Ledger balanced", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Scenario_all_runs_every_scenario_and_prints_one_row_each()
    {
        var (exit, text) = await RunDemoAsync("--scenario", "all");

        Assert.True(exit == 0, $"exit {exit}\n{text}");
        var scenarios = typeof(DemoScenarioTests).GetMethod(nameof(Every_demo_scenario_ends_as_described_with_a_balanced_ledger))!
            .GetCustomAttributes(typeof(InlineDataAttribute), inherit: false).Length; // every scenario tested one by one above is in "all"
        var rows = text.Split('\n').Where(l => l.Contains("; ledger balanced", StringComparison.Ordinal)).ToList();
        Assert.Equal(scenarios, rows.Count);
        Assert.Contains($"{scenarios} of {scenarios} scenarios ended as they should", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_demo_prints_every_link_as_TLS_1_3_with_the_pin_its_session_matched()
    {
        var (exit, text) = await RunDemoAsync("--scenario", "approved");

        Assert.True(exit == 0, $"exit {exit}\n{text}");
        foreach (var link in new[] { "terminal->host", "terminal->proxy", "phone->proxy" })
        {
            Assert.Matches($"link {System.Text.RegularExpressions.Regex.Escape(link)}: TLS 1\\.3, server pinned spki-sha256:[A-Za-z0-9+/]{{43}}=", text);
        }
    }

    [Fact]
    public async Task The_plain_demo_ends_with_its_summary_and_no_teardown_noise()
    {
        var (exit, text) = await RunDemoAsync();

        Assert.True(exit == 0, $"exit {exit}\n{text}");
        var last = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)[^1];
        Assert.True(last.StartsWith("Ledger balanced", StringComparison.Ordinal), $"last line: {last}\n{text}");
        Assert.DoesNotContain("is offline", text, StringComparison.Ordinal);
    }

    private static async Task<(int Exit, string Output)> RunDemoAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Cli.Path);
        start.ArgumentList.Add("demo");
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        // A safety net only (the whole table takes about a minute on a quiet machine): on a loaded machine the
        // scenarios are slower, not wrong. On expiry the demo is killed and its output is the failure message.
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            Assert.Fail($"demo {string.Join(' ', arguments)} did not end within 10 minutes. Output:\n{await output}\n{await errors}");
        }

        return (process.ExitCode, await output + "\n" + await errors);
    }
}
