using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Cli.Hosting;

/// <summary>One named part of a role's status: a link, a device, a cash unit.</summary>
internal sealed record StatusItem(string Name, string State, string? Detail = null);

/// <summary>
/// What a monitoring desk watches of one running role, written by the role to its status file every
/// <c>Status:Interval</c> and read by <c>cardless-atm &lt;role&gt; status</c>. Holds no secret: ATM ids, states,
/// counts and the last warning's text (log lines never carry PINs, keys or full account ids).
/// </summary>
internal sealed record RoleStatus
{
    /// <summary>terminal, host or proxy.</summary>
    public required string Role { get; init; }

    /// <summary>The ATM id, or the role's listening endpoints.</summary>
    public required string Name { get; init; }

    /// <summary>True when the role serves (the ATM is in service, the listeners are open).</summary>
    public required bool Healthy { get; init; }

    /// <summary>In words: "in service", "out of service: …", "listening", "stopped".</summary>
    public required string State { get; init; }

    public int ProcessId { get; init; }

    public DateTimeOffset WrittenAt { get; init; }

    /// <summary>How often the role rewrites the file; a file older than three intervals means the role is gone or hung.</summary>
    public TimeSpan Interval { get; init; }

    public IReadOnlyList<StatusItem> Links { get; init; } = [];

    /// <summary>Reversals waiting in the store-and-forward queue (terminal only).</summary>
    public int? SafDepth { get; init; }

    /// <summary>Reversals past their retry budget, waiting for an operator (terminal only).</summary>
    public int? SafStuck { get; init; }

    public IReadOnlyList<StatusItem> Devices { get; init; } = [];

    /// <summary>Other figures of the role (online ATMs, signed-on connections).</summary>
    public IReadOnlyList<StatusItem> Figures { get; init; } = [];

    public DateTimeOffset? LastProblemAt { get; init; }

    public string? LastProblem { get; init; }
}

/// <summary>The <c>Status</c> section: where a role writes its status and how often.</summary>
internal sealed record StatusSettings(string Path, TimeSpan Interval)
{
    public const string SectionName = "Status";

    /// <summary>Reads <c>Status:Path</c> (default <paramref name="defaultPath"/>) and <c>Status:Interval</c> (default 00:00:05, 1 s to 10 min).</summary>
    /// <exception cref="ConfigurationException">A bad interval or path.</exception>
    public static StatusSettings Read(IConfiguration configuration, string defaultPath)
    {
        var section = configuration.GetSection(SectionName);
        var interval = TimeSpan.FromSeconds(5);
        if (section["Interval"] is { Length: > 0 } text
            && (!TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out interval) || interval < TimeSpan.FromSeconds(1) || interval > TimeSpan.FromMinutes(10)))
        {
            throw new ConfigurationException($"{SectionName}:Interval", $"'{text}' is not a time span from 00:00:01 to 00:10:00 (e.g. 00:00:05)");
        }

        var path = section["Path"] is { Length: > 0 } configured ? configured : defaultPath;
        string full;
        try
        {
            full = System.IO.Path.GetFullPath(path);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new ConfigurationException($"{SectionName}:Path", $"'{path}' is not a file path ({e.Message.TrimEnd('.')})");
        }

        if (full.EndsWith(System.IO.Path.DirectorySeparatorChar))
        {
            throw new ConfigurationException($"{SectionName}:Path", $"'{path}' names a directory, not a file (e.g. /run/cardless-atm/terminal-status.json)");
        }

        return new StatusSettings(full, interval);
    }

    /// <summary>The default for host and proxy, whose settings name no data directory: <c>~/.local/share/cardless-atm/ROLE-status.json</c>.</summary>
    public static string UserDefault(string role) => System.IO.Path.Combine(
        Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create),
        "cardless-atm",
        role + "-status.json");
}

/// <summary>Rewrites a role's status file every interval (write to a temporary file, then rename), and once more as "stopped" at the end.</summary>
internal sealed class StatusFileWriter : IAsyncDisposable
{
    private readonly StatusSettings _settings;
    private readonly Func<RoleStatus> _snapshot;
    private readonly LastProblemLog _problems;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private int _failuresLogged;
    private RoleStatus? _lastRunning;

    private StatusFileWriter(StatusSettings settings, Func<RoleStatus> snapshot, LastProblemLog problems, TimeProvider time, ILogger log)
    {
        _settings = settings;
        _snapshot = snapshot;
        _problems = problems;
        _time = time;
        _log = log;
        Write(null);
        _loop = RunAsync();
    }

    /// <summary>Writes the first status now and starts the periodic rewrite.</summary>
    public static StatusFileWriter Start(StatusSettings settings, Func<RoleStatus> snapshot, LastProblemLog problems, TimeProvider time, ILogger log)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(settings.Path)!);
        return new StatusFileWriter(settings, snapshot, problems, time, log);
    }

    /// <summary>Stops the rewrite and leaves a "stopped" status behind.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        Write("stopped");
        _stop.Dispose();
    }

    private async Task RunAsync()
    {
        using var timer = new PeriodicTimer(_settings.Interval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                Write(null);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void Write(string? finalState)
    {
        try
        {
            var problem = _problems.Last;

            // Stopped, the role's objects may already be closed: the last status taken while running, without its live links.
            var snapshot = finalState is null || _lastRunning is null ? _snapshot() : _lastRunning with { Links = [], Figures = [] };
            if (finalState is null)
            {
                _lastRunning = snapshot;
            }

            var status = snapshot with
            {
                ProcessId = Environment.ProcessId,
                WrittenAt = _time.GetUtcNow(),
                Interval = _settings.Interval,
                LastProblemAt = problem?.At,
                LastProblem = problem?.Text,
            };
            if (finalState is not null)
            {
                status = status with { State = finalState, Healthy = false };
            }

            var temporary = $"{_settings.Path}.{Environment.ProcessId}.tmp"; // two roles pointed at one file never share a temporary
            File.WriteAllText(temporary, JsonSerializer.Serialize(status, StatusJson.Options));
            File.Move(temporary, _settings.Path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            if (Interlocked.Increment(ref _failuresLogged) == 1)
            {
                _log.LogWarning("Cannot write the status file {Path} ({Error}); 'status' will report this role as not running", _settings.Path, e.Message);
            }
        }
    }
}

/// <summary>Reads a status file and says in a few lines what it holds; the exit code says whether all is well.</summary>
internal static class StatusReport
{
    /// <summary>Prints the status at <paramref name="path"/>; returns 0 when the role is running and healthy, 1 otherwise.</summary>
    public static int Print(string path, DateTimeOffset now, TextWriter output, bool json)
    {
        RoleStatus? status;
        try
        {
            status = JsonSerializer.Deserialize<RoleStatus>(File.ReadAllText(path), StatusJson.Options);
        }
        catch (FileNotFoundException)
        {
            output.WriteLine($"not running: no status file at {path} (Status:Path)");
            return 1;
        }
        catch (DirectoryNotFoundException)
        {
            output.WriteLine($"not running: no status file at {path} (Status:Path)");
            return 1;
        }
        catch (JsonException e)
        {
            output.WriteLine($"unreadable status file {path}: {e.Message}");
            return 1;
        }

        if (status is null)
        {
            output.WriteLine($"unreadable status file {path}: empty");
            return 1;
        }

        if (json)
        {
            output.WriteLine(JsonSerializer.Serialize(status, StatusJson.Options));
        }
        else
        {
            output.Write(Describe(status, now));
        }

        return status.Healthy && !IsStale(status, now) ? 0 : 1;
    }

    /// <summary>True when the role has not rewritten the file for three intervals: it is gone or hung.</summary>
    public static bool IsStale(RoleStatus status, DateTimeOffset now) => now - status.WrittenAt > 3 * status.Interval;

    /// <summary>The status as an operator reads it.</summary>
    public static string Describe(RoleStatus status, DateTimeOffset now)
    {
        var text = new StringBuilder();
        var age = now - status.WrittenAt;
        var state = IsStale(status, now) && status.State != "stopped"
            ? $"not running or hung (last status {age.TotalSeconds:0} s ago said: {status.State})"
            : status.State;
        text.Append(CultureInfo.InvariantCulture, $"{status.Role} {status.Name}: {state} (pid {status.ProcessId}, written {status.WrittenAt:yyyy-MM-dd HH:mm:ss} UTC)\n");
        foreach (var link in status.Links)
        {
            text.Append(CultureInfo.InvariantCulture, $"  link {link.Name,-8} {link.State}{Detail(link)}\n");
        }

        if (status.SafDepth is { } depth)
        {
            text.Append(CultureInfo.InvariantCulture, $"  SAF queue      {depth} reversal(s) waiting, {status.SafStuck ?? 0} for an operator\n");
        }

        foreach (var device in status.Devices)
        {
            text.Append(CultureInfo.InvariantCulture, $"  device {device.Name,-10} {device.State}{Detail(device)}\n");
        }

        foreach (var figure in status.Figures)
        {
            text.Append(CultureInfo.InvariantCulture, $"  {figure.Name,-14} {figure.State}{Detail(figure)}\n");
        }

        text.Append(status.LastProblem is null
            ? "  last problem   none\n"
            : string.Create(CultureInfo.InvariantCulture, $"  last problem   {status.LastProblemAt:HH:mm:ss} {status.LastProblem}\n"));
        return text.ToString();
    }

    private static string Detail(StatusItem item) => item.Detail is null ? string.Empty : $" ({item.Detail})";
}

/// <summary>Remembers the last warning or error any logger of the process wrote, for the status file.</summary>
internal sealed class LastProblemLog : ILoggerProvider
{
    private const int MaxLength = 300;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, ILogger> _loggers = new(StringComparer.Ordinal);
    private Problem? _last;

    public LastProblemLog(TimeProvider time) => _time = time;

    /// <summary>The last warning or error, or null when there was none.</summary>
    public Problem? Last => Volatile.Read(ref _last);

    public ILogger CreateLogger(string categoryName) => _loggers.GetOrAdd(categoryName, c => new Logger(this, c));

    public void Dispose()
    {
    }

    private void Record(LogLevel level, string category, string message)
    {
        var text = $"{(level >= LogLevel.Error ? "error" : "warning")} {category}: {message}";
        Volatile.Write(ref _last, new Problem(_time.GetUtcNow(), text.Length <= MaxLength ? text : text[..MaxLength] + "…"));
    }

    /// <summary>When and what.</summary>
    internal sealed record Problem(DateTimeOffset At, string Text);

    private sealed class Logger(LastProblemLog owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                owner.Record(logLevel, category, formatter(state, exception));
            }
        }
    }
}

internal static class StatusJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };
}
