using System.Text.Json;
using System.Text.Json.Serialization;
using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Lcdm4000.Protocol;
using CardlessAtm.Devices.Puloon;

namespace CardlessAtm.Devices.Lcdm4000;

/// <summary>
/// The driver's durable lifetime counters for positions 1..4, the command in flight, and the answer of the last
/// command settled (so that a LAST_STATUS that merely repeats it is not taken for the in-flight command's result).
/// Written with <see cref="DurableFile"/> before a command is sent and after it is settled.
/// </summary>
internal sealed class Lcdm4000CounterFile
{
    public const string Format = "cardless-atm/lcdm4000-counters/1";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.Never };
    private readonly Lock _lock = new();
    private State _state = State.Empty();

    private Lcdm4000CounterFile(string? path) => Path = path;

    /// <summary>The file's full path; null for counters kept in memory only (no <c>CounterFile</c> configured).</summary>
    public string? Path { get; }

    /// <summary>Counters kept in memory only: the in-flight command is still tracked for LAST_STATUS, nothing survives a restart.</summary>
    public static Lcdm4000CounterFile InMemory() => new(null);

    /// <summary>The command in flight (sent, or about to be, with its answer not recorded), or null.</summary>
    public InFlightCommand? InFlight
    {
        get
        {
            lock (_lock)
            {
                return _state.InFlight;
            }
        }
    }

    /// <summary>
    /// A command was folded unknown without its answer being learnt: the device's last answer is not known, so no
    /// LAST_STATUS can be told from that command's and none may settle a later one (until a command is settled from its own answer).
    /// </summary>
    public bool LastAnswerUnknown
    {
        get
        {
            lock (_lock)
            {
                return _state.LastAnswerUnknown;
            }
        }
    }

    /// <summary>The answer of the last command settled, or null.</summary>
    public SettledAnswer? LastSettled
    {
        get
        {
            lock (_lock)
            {
                return _state.LastSettled;
            }
        }
    }

    public static Lcdm4000CounterFile Open(string path)
    {
        var file = new Lcdm4000CounterFile(System.IO.Path.GetFullPath(path));
        var full = file.Path!;
        byte[] bytes;
        try
        {
            if (!File.Exists(full))
            {
                return file;
            }

            bytes = File.ReadAllBytes(full);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new PuloonCounterFileException("LCDM-4000", full, $"it cannot be read ({ex.Message})", ex);
        }

        State? state;
        try
        {
            state = JsonSerializer.Deserialize<State>(bytes, Json);
        }
        catch (JsonException ex)
        {
            throw new PuloonCounterFileException("LCDM-4000", full, $"it is not valid JSON (torn or corrupt: {ex.Message})", ex);
        }

        if (state is null || state.Format != Format)
        {
            throw new PuloonCounterFileException("LCDM-4000", full, $"its \"format\" is not \"{Format}\"");
        }

        if (!state.IsSound())
        {
            throw new PuloonCounterFileException("LCDM-4000", full, "its counts are not four non-negative counts per list");
        }

        file._state = state;
        return file;
    }

    /// <summary>The counters; the in-flight command's notes count as unknown.</summary>
    public DeviceCounters Snapshot()
    {
        lock (_lock)
        {
            var s = _state;
            return new DeviceCounters([.. Enumerable.Range(0, Lcdm4000Frame.Positions).Select(i => new PositionMovement(
                i + 1, checked((int)s.Presented[i]), checked((int)s.Rejected[i]), checked((int)(s.Unknown[i] + (s.InFlight?.Asked[i] ?? 0)))))]);
        }
    }

    /// <summary>Records a command as in flight before it is sent; a stale in-flight record must have been settled or folded first.</summary>
    public void BeginCommand(byte command, int[] asked)
    {
        lock (_lock)
        {
            if (_state.InFlight is not null)
            {
                throw new InvalidOperationException("A command is still in flight in the counter file.");
            }

            Save(_state with { InFlight = new InFlightCommand(command, [.. asked]) });
        }
    }

    /// <summary>Adds what the in-flight command moved and clears it; <paramref name="answer"/> is remembered as the last settled answer.</summary>
    /// <param name="moved">What the command moved (or its notes as unknown).</param>
    /// <param name="answer">The device's answer that settled it, or null.</param>
    /// <param name="answerUnknown">The command may have run but its answer was never learnt.</param>
    public void Settle(IReadOnlyList<PositionMovement> moved, SettledAnswer? answer, bool answerUnknown = false)
    {
        lock (_lock)
        {
            var presented = (long[])_state.Presented.Clone();
            var rejected = (long[])_state.Rejected.Clone();
            var unknown = (long[])_state.Unknown.Clone();
            foreach (var m in moved)
            {
                presented[m.Position - 1] += m.Presented;
                rejected[m.Position - 1] += m.Rejected;
                unknown[m.Position - 1] += m.Unknown;
            }

            var lastAnswerUnknown = answer is null && (answerUnknown || _state.LastAnswerUnknown);
            Save(_state with { Presented = presented, Rejected = rejected, Unknown = unknown, InFlight = null, LastSettled = answer ?? _state.LastSettled, LastAnswerUnknown = lastAnswerUnknown });
        }
    }

    private void Save(State next)
    {
        if (Path is not null)
        {
            DurableFile.WriteAllBytes(Path, JsonSerializer.SerializeToUtf8Bytes(next, Json));
        }

        _state = next;
    }

    /// <summary>A dispense command whose answer has not been recorded.</summary>
    internal sealed record InFlightCommand(byte Command, int[] Asked);

    /// <summary>An answer that settled a command: its command byte, error byte and per-position counts.</summary>
    internal sealed record SettledAnswer(byte Command, byte Error, int[] Exited, int[] Rejected)
    {
        public static SettledAnswer Of(Lcdm4000OperationReport report) =>
            new(report.Command, report.Error.Code, [.. report.Cassettes.Select(c => c.Exited)], [.. report.Cassettes.Select(c => c.Rejected)]);

        public bool SameAs(Lcdm4000OperationReport report) =>
            Command == report.Command && Error == report.Error.Code
            && Exited.SequenceEqual(report.Cassettes.Select(c => c.Exited)) && Rejected.SequenceEqual(report.Cassettes.Select(c => c.Rejected));
    }

    private sealed record State(string Format, long[] Presented, long[] Rejected, long[] Unknown, InFlightCommand? InFlight, SettledAnswer? LastSettled, bool LastAnswerUnknown = false)
    {
        public static State Empty() => new(Lcdm4000CounterFile.Format, new long[4], new long[4], new long[4], null, null);

        public bool IsSound() =>
            Presented is { Length: 4 } && Rejected is { Length: 4 } && Unknown is { Length: 4 }
            && Presented.Concat(Rejected).Concat(Unknown).All(n => n is >= 0 and <= int.MaxValue)
            && (InFlight is null || (InFlight.Asked is { Length: 4 } && InFlight.Asked.All(n => n >= 0)))
            && (LastSettled is null || (LastSettled.Exited is { Length: 4 } && LastSettled.Rejected is { Length: 4 }));
    }
}
