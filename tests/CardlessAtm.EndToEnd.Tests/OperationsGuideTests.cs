namespace CardlessAtm.EndToEnd.Tests;

/// <summary>
/// Issue 13: docs/operations.md is executable. Its marked steps run in order in a temporary prefix, every link on
/// TLS, and the test fails where the guide and the tool disagree (an exit code, a line the guide promises).
/// </summary>
[Collection("processes")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // bash, POSIX signals and file modes
public class OperationsGuideTests
{
    private static IReadOnlyList<GuideStep> Steps => GuideStep.Parse(File.ReadAllText(Repository.File("docs/operations.md")));

    [Fact]
    public void The_guide_marks_each_step_the_issue_asks_for_in_order()
    {
        var steps = Steps;
        string[] milestones =
        [
            "load-components", "keys tls-ca", "keys tls-client", "start host", "start proxy", "start terminal", "phones enroll",
            "keypad terminal 80", "phone withdraw", "keypad terminal 20", "phone withdraw", "host --config \"$ETC/host.json\" report", "journal",
        ];
        var transcript = string.Concat(steps.Select(s => $"{s.Kind} {s.Arguments}\n{s.Code}\n"));
        var at = 0;
        foreach (var milestone in milestones)
        {
            var found = transcript.IndexOf(milestone, at, StringComparison.Ordinal);
            Assert.True(found >= 0, $"No step for '{milestone}' after the earlier ones. Steps:\n{GuideRunner.Describe(steps)}");
            at = found + milestone.Length;
        }

        Assert.DoesNotContain(steps, s => s.Code.Contains("Insecure", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_operations_guide_runs_as_written_in_a_temporary_prefix_with_TLS_on_every_link()
    {
        await using var guide = new GuideRunner();
        foreach (var step in Steps)
        {
            await guide.RunAsync(step);
        }

        // Everything landed under the prefix, and the roles' logs never carry the full account id.
        Assert.True(File.Exists(Path.Combine(guide.Prefix, "var", "lib", "cardless-atm", "host.db")));
        foreach (var role in new[] { "host", "proxy", "terminal" })
        {
            Assert.DoesNotContain(guide.RoleOutput(role), l => l.Contains("100000000001", StringComparison.Ordinal));
        }
    }

    [Theory]
    [InlineData("Approved: 80.00 EUR … Take your cash.", "Approved: 80.00 EUR dispensed at ATM00001 (authorisation 123456). Take your cash.", true)]
    [InlineData("ATM00001 978 1 8000", "ATM00001  978              1          8000         1", true)]
    [InlineData("ATM00001 978 1 8000", "ATM00001  978              2          16000", false)]
    [InlineData("… state=Done …", "state=Terminated", false)]
    public void A_promised_line_matches_with_spaces_collapsed_and_an_ellipsis_for_anything(string expected, string printed, bool matches) =>
        Assert.Equal(matches, GuideStep.Matches([printed], expected));
}
