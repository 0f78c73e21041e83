using System.Globalization;
using System.Text.Json;
using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Lcdm2000.Protocol;
using CardlessAtm.Devices.Puloon;

namespace CardlessAtm.Devices.Lcdm2000;

/// <summary>
/// The driver's own durable note counters (the LCDM-2000 keeps none): notes presented, rejected and
/// unknown per position, plus the command in flight. Before a dispense command is sent its notes are
/// recorded as in flight (file written with <see cref="DurableFile"/>); after its answer they move into
/// presented / rejected / unknown as the answer says and the in-flight record is cleared, in one write.
/// So after a crash only the command in flight can be uncertain: <see cref="Snapshot"/> reports its
/// notes as unknown. Not thread-safe; the driver calls it under its own gate, snapshots take the lock.
/// </summary>
internal sealed class Lcdm2000CounterFile
{
    /// <summary>The <c>format</c> value of this file layout.</summary>
    public const string Format = "cardless-atm/lcdm2000-counters/1";

    private static readonly JsonWriterOptions WriterOptions = new() { Indented = true };

    private readonly Lock _lock = new();
    private readonly long[] _presented = new long[3];
    private readonly long[] _rejected = new long[3];
    private readonly long[] _unknown = new long[3];
    private InFlightCommand? _inFlight;

    private Lcdm2000CounterFile(string path) => Path = path;

    /// <summary>The file's full path.</summary>
    public string Path { get; }

    /// <summary>The command recorded as in flight, or null.</summary>
    public InFlightCommand? InFlight
    {
        get
        {
            lock (_lock)
            {
                return _inFlight;
            }
        }
    }

    /// <summary>Loads the file, or starts from zero when it does not exist yet (a leftover <c>.tmp</c> is ignored).</summary>
    /// <exception cref="PuloonCounterFileException">The file exists but is unreadable.</exception>
    public static Lcdm2000CounterFile Open(string path)
    {
        var file = new Lcdm2000CounterFile(System.IO.Path.GetFullPath(path));
        byte[] bytes;
        try
        {
            if (!File.Exists(file.Path))
            {
                return file;
            }

            bytes = File.ReadAllBytes(file.Path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new PuloonCounterFileException("LCDM-2000", file.Path, $"it cannot be read ({ex.Message})", ex);
        }

        file.Parse(bytes);
        return file;
    }

    /// <summary>The counters, the in-flight command's notes counted as unknown.</summary>
    public DeviceCounters Snapshot()
    {
        lock (_lock)
        {
            return new DeviceCounters([Position(1), Position(2)]);
        }

        PositionMovement Position(int p) => new(
            p,
            checked((int)_presented[p]),
            checked((int)_rejected[p]),
            checked((int)(_unknown[p] + (_inFlight is { } f ? (p == 1 ? f.Upper : f.Lower) : 0))));
    }

    /// <summary>
    /// Records <paramref name="step"/> as in flight, durably, before it is sent. An in-flight record left by
    /// a crash is folded into the unknown counts first (its fate was never learned).
    /// </summary>
    /// <exception cref="IOException">The file could not be written; the command must not be sent.</exception>
    public void BeginCommand(Lcdm2000DispenseStep step)
    {
        lock (_lock)
        {
            var unknown = (long[])_unknown.Clone();
            if (_inFlight is { } stale)
            {
                unknown[1] += stale.Upper;
                unknown[2] += stale.Lower;
            }

            var next = new InFlightCommand((byte)step.Command, step.Upper, step.Lower);
            Save(_presented, _rejected, unknown, next);
            unknown.CopyTo(_unknown, 0);
            _inFlight = next;
        }
    }

    /// <summary>Adds what the in-flight command moved (per position: presented, rejected, unknown) and clears it, durably.</summary>
    /// <exception cref="IOException">The file could not be written; the in-flight record stays (its notes stay unknown on disk).</exception>
    public void CompleteCommand(IReadOnlyList<PositionMovement> moved)
    {
        lock (_lock)
        {
            var presented = (long[])_presented.Clone();
            var rejected = (long[])_rejected.Clone();
            var unknown = (long[])_unknown.Clone();
            foreach (var m in moved)
            {
                presented[m.Position] += m.Presented;
                rejected[m.Position] += m.Rejected;
                unknown[m.Position] += m.Unknown;
            }

            Save(presented, rejected, unknown, null);
            presented.CopyTo(_presented, 0);
            rejected.CopyTo(_rejected, 0);
            unknown.CopyTo(_unknown, 0);
            _inFlight = null;
        }
    }

    private void Save(long[] presented, long[] rejected, long[] unknown, InFlightCommand? inFlight)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, WriterOptions))
        {
            json.WriteStartObject();
            json.WriteString("format", Format);
            json.WriteStartArray("positions");
            for (var p = 1; p <= 2; p++)
            {
                json.WriteStartObject();
                json.WriteNumber("position", p);
                json.WriteNumber("presented", presented[p]);
                json.WriteNumber("rejected", rejected[p]);
                json.WriteNumber("unknown", unknown[p]);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            if (inFlight is { } f)
            {
                json.WriteStartObject("inFlight");
                json.WriteString("command", "0x" + f.Command.ToString("X2", CultureInfo.InvariantCulture));
                json.WriteNumber("upper", f.Upper);
                json.WriteNumber("lower", f.Lower);
                json.WriteEndObject();
            }
            else
            {
                json.WriteNull("inFlight");
            }

            json.WriteEndObject();
        }

        DurableFile.WriteAllBytes(Path, buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
    }

    private void Parse(byte[] bytes)
    {
        try
        {
            using var document = JsonDocument.Parse(bytes);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw Bad("it is not a JSON object");
            }

            if (!root.TryGetProperty("format", out var format) || format.ValueKind != JsonValueKind.String || format.GetString() != Format)
            {
                throw Bad($"its \"format\" is not \"{Format}\"");
            }

            if (!root.TryGetProperty("positions", out var positions) || positions.ValueKind != JsonValueKind.Array || positions.GetArrayLength() != 2)
            {
                throw Bad("\"positions\" is not a list of the two positions");
            }

            var seen = new bool[3];
            foreach (var item in positions.EnumerateArray())
            {
                var p = Count(item, "position");
                if (p is not (1 or 2) || seen[p])
                {
                    throw Bad($"position {p} is not 1 or 2, or is listed twice");
                }

                seen[p] = true;
                _presented[p] = Count(item, "presented");
                _rejected[p] = Count(item, "rejected");
                _unknown[p] = Count(item, "unknown");
            }

            if (!root.TryGetProperty("inFlight", out var inFlight))
            {
                throw Bad("\"inFlight\" is missing");
            }

            if (inFlight.ValueKind != JsonValueKind.Null)
            {
                var text = inFlight.ValueKind == JsonValueKind.Object && inFlight.TryGetProperty("command", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : "";
                if (!text.StartsWith("0x", StringComparison.Ordinal) || !byte.TryParse(text.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var command))
                {
                    throw Bad("\"inFlight\" has no command");
                }

                var upper = Count(inFlight, "upper");
                var lower = Count(inFlight, "lower");
                if (upper > int.MaxValue || lower > int.MaxValue)
                {
                    throw Bad("\"inFlight\" counts are out of range");
                }

                _inFlight = new InFlightCommand(command, (int)upper, (int)lower);
            }
        }
        catch (JsonException ex)
        {
            var where = ex.LineNumber is { } line ? $" at line {line + 1}, byte {ex.BytePositionInLine + 1}" : "";
            throw new PuloonCounterFileException("LCDM-2000", Path, $"it is not valid JSON{where} (torn or corrupt: {ex.Message})", ex);
        }
    }

    private long Count(JsonElement item, string name)
    {
        if (item.ValueKind != JsonValueKind.Object || !item.TryGetProperty(name, out var value) || value.ValueKind != JsonValueKind.Number
            || !value.TryGetInt64(out var n) || n < 0 || n > int.MaxValue)
        {
            throw Bad($"\"{name}\" is missing or not a count 0..{int.MaxValue}");
        }

        return n;
    }

    private PuloonCounterFileException Bad(string problem) => new("LCDM-2000", Path, problem);

    /// <summary>A dispense command sent (or about to be) whose answer has not been recorded.</summary>
    /// <param name="Command">Its command byte.</param>
    /// <param name="Upper">Notes asked of position 1.</param>
    /// <param name="Lower">Notes asked of position 2.</param>
    internal readonly record struct InFlightCommand(byte Command, int Upper, int Lower);
}
