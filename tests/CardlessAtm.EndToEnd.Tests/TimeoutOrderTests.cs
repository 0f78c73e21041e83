using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using CardlessAtm.Phone.Withdrawal;
using CardlessAtm.Proxy;
using CardlessAtm.Terminal;

namespace CardlessAtm.EndToEnd.Tests;

/// <summary>
/// Issue 13: the timeouts along a withdrawal nest, so that the party closest to the money answers first:
/// the terminal's host timeout (<c>Terminal:HostTimeout</c>) &lt; the proxy's <c>Proxy:ForwardTimeout</c> &lt; the phone's
/// <c>Phone:RequestTimeout</c> (docs/operations.md §3, "Timeouts nest"). Checked for the defaults and for every shipped configuration.
/// </summary>
public class TimeoutOrderTests
{
    private static readonly TimeSpan TerminalDefault = new TerminalOptions().HostTimeout;
    private static readonly TimeSpan ProxyDefault = new ProxyOptions().ForwardTimeout;
    private static readonly TimeSpan PhoneDefault = new PhoneSettings().RequestTimeout;

    [Fact]
    public void The_defaults_nest_terminal_then_proxy_then_phone()
    {
        Assert.True(TerminalDefault < ProxyDefault, $"Terminal:HostTimeout {TerminalDefault} must be below Proxy:ForwardTimeout {ProxyDefault}");
        Assert.True(ProxyDefault < PhoneDefault, $"Proxy:ForwardTimeout {ProxyDefault} must be below Phone:RequestTimeout {PhoneDefault}");
    }

    [Fact]
    public void The_present_wait_fits_after_the_host_answer_within_the_proxy_forward_timeout()
    {
        // Issue 19: the phone's answer leaves the ATM only after the notes were taken or retracted, so the host's answer
        // and the present wait together must end before the proxy gives up on the ATM.
        var terminal = new TerminalOptions();
        Assert.True(
            terminal.HostTimeout + terminal.PresentTimeout < ProxyDefault,
            $"Terminal:HostTimeout {terminal.HostTimeout} + Terminal:PresentTimeout {terminal.PresentTimeout} must be below Proxy:ForwardTimeout {ProxyDefault}");
        Assert.True(terminal.PresentTimeout < terminal.StopTimeout, "a stop must not cut the present wait short");
    }

    [Fact]
    public void Every_shipped_configuration_keeps_the_order()
    {
        var shipped = JsonDocument.Parse(File.ReadAllText(Repository.File("src/CardlessAtm.Cli/appsettings.json"))).RootElement;
        var configurations = new List<(string Where, JsonElement Json)> { ("src/CardlessAtm.Cli/appsettings.json", shipped) };
        var docs = Repository.File("docs");
        foreach (var file in Directory.EnumerateFiles(docs, "*.md", SearchOption.AllDirectories))
        {
            var text = File.ReadAllText(file);
            foreach (Match block in Regex.Matches(text, "```json\\n(.*?)\\n```", RegexOptions.Singleline))
            {
                try
                {
                    configurations.Add(($"{Path.GetRelativePath(docs, file)} (block at offset {block.Index})", JsonDocument.Parse(block.Groups[1].Value).RootElement));
                }
                catch (JsonException)
                {
                    // an excerpt with "…", not a file anyone can use as it is
                }
            }
        }

        Assert.True(configurations.Count > 3, "the configurations were not found");
        foreach (var (where, json) in configurations)
        {
            // Each file is read over the shipped appsettings.json, which is read over the defaults.
            var terminal = Read(json, "Terminal", "HostTimeout") ?? Read(shipped, "Terminal", "HostTimeout") ?? TerminalDefault;
            var proxy = Read(json, "Proxy", "ForwardTimeout") ?? Read(shipped, "Proxy", "ForwardTimeout") ?? ProxyDefault;
            var phone = Read(json, "Phone", "RequestTimeout") ?? Read(shipped, "Phone", "RequestTimeout") ?? PhoneDefault;
            Assert.True(terminal < proxy && proxy < phone, $"{where}: Terminal:HostTimeout {terminal} < Proxy:ForwardTimeout {proxy} < Phone:RequestTimeout {phone} does not hold");
        }
    }

    private static TimeSpan? Read(JsonElement json, string section, string key) =>
        json.ValueKind == JsonValueKind.Object && json.TryGetProperty(section, out var s) && s.ValueKind == JsonValueKind.Object && s.TryGetProperty(key, out var v)
            ? TimeSpan.Parse(v.GetString()!, CultureInfo.InvariantCulture)
            : null;
}
