using CardlessAtm.Cli.Logging;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace CardlessAtm.Cli.Tests;

public class CliConsoleFormatterTests
{
    [Fact]
    public void A_dictionary_scope_is_printed_as_short_key_value_pairs()
    {
        var scope = new Dictionary<string, object> { ["AtmId"] = "ATM00001", ["Session"] = "3f2a", ["Stan"] = "000042" };

        Assert.Equal("atm=ATM00001 session=3f2a stan=000042", CliConsoleFormatter.FormatScope(scope));
    }

    [Fact]
    public void A_message_template_scope_is_printed_as_its_formatted_text()
    {
        var provider = new LoggerExternalScopeProvider();
        using var _ = provider.Push(new TemplateScope());

        string? text = null;
        provider.ForEachScope((s, _) => text = CliConsoleFormatter.FormatScope(s), (object?)null);

        Assert.Equal("phone=ABC", text);
    }

    [Fact]
    public void A_log_line_carries_every_scope_and_no_type_name_or_colour_when_not_a_terminal()
    {
        var provider = new LoggerExternalScopeProvider();
        using var outer = provider.Push(new Dictionary<string, object> { ["AtmId"] = "ATM00001", ["SessionId"] = "s1" });
        using var inner = provider.Push(new Dictionary<string, object> { ["Stan"] = "000007" });
        var formatter = new CliConsoleFormatter(new FixedOptions(new ConsoleFormatterOptions { IncludeScopes = true })) { UseColour = false };
        var writer = new StringWriter();

        formatter.Write(new LogEntry<string>(LogLevel.Warning, "CardlessAtm.Terminal", new EventId(7), "declined", null, (s, _) => s), provider, writer);

        Assert.Equal("warn: CardlessAtm.Terminal[7] => atm=ATM00001 session=s1 stan=000007 declined" + Environment.NewLine, writer.ToString());
        Assert.DoesNotContain("System.Collections", writer.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void The_level_is_coloured_only_for_a_terminal()
    {
        var options = new FixedOptions(new ConsoleFormatterOptions());
        var entry = new LogEntry<string>(LogLevel.Error, "c", default, "m", null, (s, _) => s);
        var plain = new StringWriter();
        var coloured = new StringWriter();

        new CliConsoleFormatter(options) { UseColour = false }.Write(entry, null, plain);
        new CliConsoleFormatter(options) { UseColour = true }.Write(entry, null, coloured);

        Assert.DoesNotContain("\u001b[", plain.ToString(), StringComparison.Ordinal);
        Assert.Contains("\u001b[31mfail\u001b[0m", coloured.ToString(), StringComparison.Ordinal);
    }

    private sealed class TemplateScope : IReadOnlyList<KeyValuePair<string, object?>>
    {
        public int Count => 2;

        public KeyValuePair<string, object?> this[int index] => index == 0 ? new("Phone", "ABC") : new("{OriginalFormat}", "phone={Phone}");

        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
        {
            yield return this[0];
            yield return this[1];
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() => "phone=ABC";
    }

    private sealed class FixedOptions(ConsoleFormatterOptions value) : IOptionsMonitor<ConsoleFormatterOptions>
    {
        public ConsoleFormatterOptions CurrentValue => value;

        public ConsoleFormatterOptions Get(string? name) => value;

        public IDisposable? OnChange(Action<ConsoleFormatterOptions, string?> listener) => null;
    }
}
