using CardlessAtm.Cli.Hosting;

namespace CardlessAtm.Cli.Tests;

/// <summary><c>cardless-atm &lt;role&gt; status</c> reads the file a role rewrites: a file not rewritten for three intervals means the role is gone or hung.</summary>
public sealed class RoleStatusTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);
    private readonly string _directory = Directory.CreateTempSubdirectory("cardless-status-tests-").FullName;

    [Fact]
    public void A_fresh_healthy_status_is_exit_0_with_links_saf_and_devices()
    {
        var path = Write(Status(writtenAgo: TimeSpan.FromSeconds(4)));
        var output = new StringWriter();

        var exit = StatusReport.Print(path, Now, output, json: false);

        Assert.Equal(0, exit);
        var text = output.ToString();
        Assert.Contains("terminal ATM00001: in service (Idle) (pid 42, written 2026-12-02 11:59:56 UTC)", text, StringComparison.Ordinal);
        Assert.Contains("link host     signed on (TLS 1.3)", text, StringComparison.Ordinal);
        Assert.Contains("SAF queue      2 reversal(s) waiting, 1 for an operator", text, StringComparison.Ordinal);
        Assert.Contains("device dispenser  Online (Ok)", text, StringComparison.Ordinal);
        Assert.Contains("last problem   11:58:00 warning Link: host down", text, StringComparison.Ordinal);
    }

    [Fact]
    public void A_status_not_rewritten_for_three_intervals_is_not_running_or_hung_and_exit_1()
    {
        var path = Write(Status(writtenAgo: TimeSpan.FromSeconds(16)));
        var output = new StringWriter();

        var exit = StatusReport.Print(path, Now, output, json: false);

        Assert.Equal(1, exit);
        Assert.Contains("not running or hung (last status 16 s ago said: in service (Idle))", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void An_out_of_service_atm_is_exit_1_and_says_why()
    {
        var path = Write(Status(writtenAgo: TimeSpan.Zero) with { Healthy = false, State = "out of service: not signed on at the host" });
        var output = new StringWriter();

        Assert.Equal(1, StatusReport.Print(path, Now, output, json: false));
        Assert.Contains("terminal ATM00001: out of service: not signed on at the host", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_torn_status_file_is_exit_1_and_named()
    {
        var path = Path.Combine(_directory, "status.json");
        File.WriteAllText(path, "{\"role\": \"term");
        var output = new StringWriter();

        Assert.Equal(1, StatusReport.Print(path, Now, output, json: false));
        Assert.StartsWith($"unreadable status file {path}:", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Warnings_are_remembered_and_information_is_not()
    {
        var log = new LastProblemLog(new Microsoft.Extensions.Time.Testing.FakeTimeProvider(Now));
        var logger = log.CreateLogger("Link");

        Microsoft.Extensions.Logging.LoggerExtensions.LogWarning(logger, "host down");
        Microsoft.Extensions.Logging.LoggerExtensions.LogInformation(logger, "all fine");

        Assert.Equal("warning Link: host down", log.Last?.Text);
        Assert.Equal(Now, log.Last?.At);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static RoleStatus Status(TimeSpan writtenAgo) => new()
    {
        Role = "terminal",
        Name = "ATM00001",
        Healthy = true,
        State = "in service (Idle)",
        ProcessId = 42,
        WrittenAt = Now - writtenAgo,
        Interval = TimeSpan.FromSeconds(5),
        Links = [new StatusItem("host", "signed on", "TLS 1.3"), new StatusItem("proxy", "connected")],
        SafDepth = 2,
        SafStuck = 1,
        Devices = [new StatusItem("dispenser", "Online", "Ok")],
        LastProblemAt = Now - TimeSpan.FromMinutes(2),
        LastProblem = "warning Link: host down",
    };

    private string Write(RoleStatus status)
    {
        var path = Path.Combine(_directory, "status.json");
        File.WriteAllText(path, System.Text.Json.JsonSerializer.Serialize(status, StatusJson.Options));
        return path;
    }
}
