using System.Diagnostics.Metrics;

namespace CardlessAtm.Terminal.Tests;

/// <summary>A meter factory whose meters only this instance listens to, so parallel tests do not mix their measurements.</summary>
internal sealed class TestMeters : IMeterFactory
{
    private readonly MeterListener _listener = new();
    private readonly List<(string Instrument, long Value, Dictionary<string, string?> Tags)> _measurements = [];

    public TestMeters()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter.Scope, this))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var tagged = new Dictionary<string, string?>();
            foreach (var tag in tags)
            {
                tagged[tag.Key] = tag.Value?.ToString();
            }

            lock (_measurements)
            {
                _measurements.Add((instrument.Name, value, tagged));
            }
        });
        _listener.Start();
    }

    /// <summary>The sum of an instrument's measurements, optionally only those with a tag of a value.</summary>
    public long Total(string instrument, string? tag = null, string? value = null)
    {
        lock (_measurements)
        {
            return _measurements
                .Where(m => m.Instrument == instrument && (tag is null || (m.Tags.TryGetValue(tag, out var v) && v == value)))
                .Sum(m => m.Value);
        }
    }

    public Meter Create(MeterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Scope = this;
        return new Meter(options);
    }

    public void Dispose() => _listener.Dispose();
}
