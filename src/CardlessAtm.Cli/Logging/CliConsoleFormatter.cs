using System.Collections;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace CardlessAtm.Cli.Logging;

/// <summary>
/// One line per log entry, <c>HH:mm:ss.fff info: Category[event] => atm=ATM00001 session=… stan=000042 message</c>.
/// The simple console formatter prints a scope with its <c>ToString()</c>, which for the key/value scopes the
/// terminal and phone open (a dictionary, so log sinks get structured fields) is the type name; this one prints
/// their pairs. Colour only when standard error, where the log goes, is a terminal: a log file gets plain text.
/// </summary>
internal sealed class CliConsoleFormatter : ConsoleFormatter, IDisposable
{
    /// <summary>The name the formatter is registered under.</summary>
    public const string FormatterName = "cardless-atm";

    private readonly IDisposable? _reload;
    private ConsoleFormatterOptions _options;

    public CliConsoleFormatter(IOptionsMonitor<ConsoleFormatterOptions> options)
        : base(FormatterName)
    {
        _options = options.CurrentValue;
        _reload = options.OnChange(o => _options = o);
    }

    /// <summary>Whether level names are coloured; false when standard error is redirected (a file, a pipe, journald).</summary>
    public bool UseColour { get; init; } = !Console.IsErrorRedirected && Environment.GetEnvironmentVariable("NO_COLOR") is null;

    public void Dispose() => _reload?.Dispose();

    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        var message = logEntry.Formatter?.Invoke(logEntry.State, logEntry.Exception);
        if (message is null && logEntry.Exception is null)
        {
            return;
        }

        if (_options.TimestampFormat is { } format)
        {
            var now = _options.UseUtcTimestamp ? DateTimeOffset.UtcNow : DateTimeOffset.Now;
            textWriter.Write(now.ToString(format, CultureInfo.InvariantCulture));
        }

        WriteLevel(logEntry.LogLevel, textWriter);
        textWriter.Write(": ");
        textWriter.Write(logEntry.Category);
        textWriter.Write('[');
        textWriter.Write(logEntry.EventId.Id.ToString(CultureInfo.InvariantCulture));
        textWriter.Write(']');
        if (_options.IncludeScopes && scopeProvider is not null)
        {
            var scopes = new List<string>();
            scopeProvider.ForEachScope((scope, list) =>
            {
                if (FormatScope(scope) is { Length: > 0 } text)
                {
                    list.Add(text);
                }
            }, scopes);
            if (scopes.Count > 0)
            {
                textWriter.Write(" => ");
                textWriter.Write(string.Join(' ', scopes));
            }
        }

        textWriter.Write(' ');
        textWriter.Write(OneLine(message ?? string.Empty));
        if (logEntry.Exception is not null)
        {
            textWriter.Write(' ');
            textWriter.Write(OneLine(logEntry.Exception.ToString()));
        }

        textWriter.Write(Environment.NewLine);
    }

    /// <summary>
    /// A scope as text: a message-template scope (<c>BeginScope("atm={AtmId}", …)</c>) as its formatted text, a
    /// key/value scope as <c>key=value</c> pairs with each key in lower case without an <c>Id</c> suffix
    /// (<c>AtmId</c> → <c>atm</c>, <c>SessionId</c> → <c>session</c>), anything else with its <c>ToString()</c>.
    /// </summary>
    public static string? FormatScope(object? scope)
    {
        if (scope is null)
        {
            return null;
        }

        if (scope is IEnumerable<KeyValuePair<string, object?>> pairs && !HasOwnToString(scope))
        {
            return string.Join(' ', pairs
                .Where(p => p.Key != "{OriginalFormat}")
                .Select(p => $"{ShortKey(p.Key)}={Convert.ToString(p.Value, CultureInfo.InvariantCulture)}"));
        }

        return scope.ToString();
    }

    private static bool HasOwnToString(object scope) =>
        scope is not IDictionary && scope.GetType().GetMethod(nameof(ToString), Type.EmptyTypes)?.DeclaringType != typeof(object);

    private static string ShortKey(string key)
    {
        var name = key.Length > 2 && key.EndsWith("Id", StringComparison.Ordinal) ? key[..^2] : key;
        return name.ToLowerInvariant();
    }

    private static string OneLine(string text) => text.Replace(Environment.NewLine, " ", StringComparison.Ordinal).Replace('\n', ' ');

    private void WriteLevel(LogLevel level, TextWriter writer)
    {
        var (name, colour) = level switch
        {
            LogLevel.Trace => ("trce", "\u001b[37m"),
            LogLevel.Debug => ("dbug", "\u001b[37m"),
            LogLevel.Information => ("info", "\u001b[32m"),
            LogLevel.Warning => ("warn", "\u001b[33m"),
            LogLevel.Error => ("fail", "\u001b[31m"),
            LogLevel.Critical => ("crit", "\u001b[1;31m"),
            _ => ("none", ""),
        };
        if (UseColour && colour.Length > 0)
        {
            writer.Write(colour);
            writer.Write(name);
            writer.Write("\u001b[0m");
        }
        else
        {
            writer.Write(name);
        }
    }
}
