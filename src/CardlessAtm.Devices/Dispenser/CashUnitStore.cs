using System.Text.Json;

namespace CardlessAtm.Devices.Dispenser;

/// <summary>Where the cash-unit counts persist between runs.</summary>
public interface ICashUnitStore
{
    /// <summary>The saved units, or null if nothing was saved yet.</summary>
    /// <exception cref="CashUnitStoreException">The saved state is unreadable.</exception>
    Task<IReadOnlyList<CashUnit>?> LoadAsync(CancellationToken cancellationToken);

    /// <summary>Saves the units durably (the previous state stays intact if this fails midway).</summary>
    Task SaveAsync(IReadOnlyList<CashUnit> units, CancellationToken cancellationToken);
}

/// <summary>The saved cash-unit state cannot be read.</summary>
public sealed class CashUnitStoreException(string message, Exception? inner = null) : IOException(message, inner);

/// <summary>
/// Cash-unit counts in a JSON file, replaced atomically with <see cref="DurableFile"/>: written to a temporary
/// file, fsynced, renamed over the old one, and the directory fsynced — so a power cut leaves either the old
/// or the new counts, never half, and a completed save is not lost with the directory entry.
/// </summary>
public sealed class JsonFileCashUnitStore(string path) : ICashUnitStore
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>The file's path.</summary>
    public string Path { get; } = System.IO.Path.GetFullPath(path);

    /// <inheritdoc />
    public async Task<IReadOnlyList<CashUnit>?> LoadAsync(CancellationToken cancellationToken)
    {
        if (!File.Exists(Path))
        {
            return null;
        }

        try
        {
            await using var stream = File.OpenRead(Path);
            var saved = await JsonSerializer.DeserializeAsync<List<SavedUnit>>(stream, Json, cancellationToken)
                ?? throw new CashUnitStoreException($"{Path} holds no cash units.");
            return [.. saved.Select(s => s.ToCashUnit())];
        }
        catch (JsonException e)
        {
            var where = e.LineNumber is { } line ? $" at line {line + 1}, byte {e.BytePositionInLine + 1}" : "";
            throw new CashUnitStoreException($"{Path} is not a valid cash-unit state file{where}: {e.Message} Move it aside to start from the configured counts.", e);
        }
        catch (Exception e) when (e is UnknownCurrencyException or ArgumentException)
        {
            throw new CashUnitStoreException($"{Path} is not a valid cash-unit state file: {e.Message} Move it aside to start from the configured counts.", e);
        }
    }

    /// <inheritdoc />
    public async Task SaveAsync(IReadOnlyList<CashUnit> units, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(units);
        var bytes = JsonSerializer.SerializeToUtf8Bytes(units.Select(SavedUnit.From).ToList(), Json);
        await DurableFile.WriteAllBytesAsync(Path, bytes, cancellationToken);
    }

    private sealed record SavedUnit(
        string Id, int Position, string Currency, long DenominationMinorUnits, int Count, int InitialCount,
        int LowThreshold, int HighThreshold, int Presented, int Rejected, int Unknown, bool Locked, bool Inoperative, int Retracted = 0)
    {
        public static SavedUnit From(CashUnit u) => new(
            u.Id, u.Position, u.Currency.Code, u.Denomination.MinorUnits, u.Count, u.InitialCount, u.LowThreshold,
            u.HighThreshold, u.Counters.Presented, u.Counters.Rejected, u.Counters.Unknown, u.IsLocked, u.IsInoperative, u.Counters.Retracted);

        public CashUnit ToCashUnit() => new(
            Id, Position, Money.Of(DenominationMinorUnits, Currency), Count, InitialCount, LowThreshold, HighThreshold,
            new CashUnitCounters(Presented, Rejected, Unknown, Retracted), IsLocked: Locked, IsInoperative: Inoperative);
    }
}

/// <summary>Counts kept in memory only, for unit tests of the layers above.</summary>
public sealed class InMemoryCashUnitStore : ICashUnitStore
{
    private IReadOnlyList<CashUnit>? _units;

    /// <inheritdoc />
    public Task<IReadOnlyList<CashUnit>?> LoadAsync(CancellationToken cancellationToken) => Task.FromResult(_units);

    /// <inheritdoc />
    public Task SaveAsync(IReadOnlyList<CashUnit> units, CancellationToken cancellationToken)
    {
        _units = [.. units];
        return Task.CompletedTask;
    }
}
