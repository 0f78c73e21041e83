using CardlessAtm.Devices.Sensors;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Devices.Dispenser;

/// <summary>
/// The framework layer over a dispenser device: validates every request against the configured cash
/// units, denominates, runs one dispense at a time, applies exactly what moved to the counts and
/// persists them before returning. Cassette presence comes from the fault sensors when they are wired.
/// </summary>
public sealed class CashDispenser : ICashDispenser, IDisposable
{
    private readonly IDispenserDevice _device;
    private readonly ICashUnitStore _store;
    private readonly MixAlgorithm _algorithm;
    private readonly IFaultSensors? _sensors;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _oneAtATime = new(1, 1);
    private readonly Lock _gate = new();
    private readonly Dictionary<string, CashUnit> _units;

    private CashDispenser(IDispenserDevice device, IEnumerable<CashUnit> units, ICashUnitStore store, MixAlgorithm algorithm, IFaultSensors? sensors, ILogger logger)
    {
        _device = device;
        _store = store;
        _algorithm = algorithm;
        _sensors = sensors;
        _logger = logger;
        _units = units.ToDictionary(u => u.Id, StringComparer.Ordinal);
        if (_sensors is not null)
        {
            _sensors.Status.Changed += OnSensorChanged;
            ApplyCassettePresence();
        }
    }

    /// <inheritdoc />
    public DispenserStatus Status => _device.Status;

    /// <inheritdoc />
    public IReadOnlyList<CashUnit> CashUnits
    {
        get
        {
            lock (_gate)
            {
                return [.. _units.Values.OrderBy(u => u.Position)];
            }
        }
    }

    /// <inheritdoc />
    public int MaxNotesPerDispense => _device.Info.MaxNotesPerDispense;

    /// <summary>
    /// Opens the dispenser: the persisted counts if the store has them (they survive restarts),
    /// otherwise the configured units, which are then persisted.
    /// </summary>
    /// <param name="device">The dispenser device.</param>
    /// <param name="layout">The configured units, already checked as a whole (ids and positions used once).</param>
    /// <param name="store">Where the counts persist.</param>
    /// <param name="algorithm">How amounts are denominated.</param>
    /// <param name="sensors">The fault sensors, when wired (cassette presence).</param>
    /// <param name="logger">Where reconciliation warnings go.</param>
    /// <param name="cancellationToken">Cancels loading and saving the counts.</param>
    /// <exception cref="ConfigurationException">A unit's position is not one of the device's.</exception>
    public static async Task<CashDispenser> OpenAsync(
        IDispenserDevice device,
        CashUnitLayout layout,
        ICashUnitStore store,
        MixAlgorithm algorithm,
        IFaultSensors? sensors,
        ILogger logger,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(logger);
        CheckPositionsFit(layout, device.Info);
        var configuredUnits = layout.Units;
        var persisted = await store.LoadAsync(cancellationToken);
        IReadOnlyList<CashUnit> units = configuredUnits;
        if (persisted is not null)
        {
            units = Reconcile(configuredUnits, persisted, logger);
        }
        else
        {
            await store.SaveAsync(units, cancellationToken);
        }

        return new CashDispenser(device, units, store, algorithm, sensors, logger);
    }

    /// <inheritdoc />
    public MixResult Denominate(Money amount) => Denominator.Denominate(amount, CashUnits, MaxNotesPerDispense, _algorithm);

    /// <inheritdoc />
    public async Task<DispenseResult> DispenseAsync(Mix mix, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(mix);
        await _oneAtATime.WaitAsync(cancellationToken);
        try
        {
            var byPosition = Validate(mix);
            var request = mix.Items.Select(i => new PositionCount(i.Position, i.Notes)).ToList();
            _logger.LogInformation("Dispensing {Amount} as {Mix}", mix.Amount, mix);
            var outcome = await _device.DispenseAsync(request, cancellationToken);
            var result = await ApplyAsync(outcome, mix.Amount, byPosition);
            _logger.LogInformation(
                "Dispense ended {Completion}: presented {Presented} of {Requested}{Unknown}",
                result.Completion, result.Presented, result.Requested, result.HasUnknown ? " (some notes unknown)" : string.Empty);
            return result;
        }
        finally
        {
            _oneAtATime.Release();
        }
    }

    /// <inheritdoc />
    public async Task<DispenseResult> ResetAsync(CancellationToken cancellationToken)
    {
        await _oneAtATime.WaitAsync(cancellationToken);
        try
        {
            var outcome = await _device.ResetAsync(cancellationToken);
            var anyCurrency = CashUnits[0].Currency;
            return await ApplyAsync(outcome, new Money(0, anyCurrency), PositionMap());
        }
        finally
        {
            _oneAtATime.Release();
        }
    }

    /// <inheritdoc />
    public async Task<DispenseResult> RecoverInterruptedDispenseAsync(Mix mix, IReadOnlyDictionary<string, int> countsBefore, IReadOnlyList<PositionMovement>? moved, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(mix);
        ArgumentNullException.ThrowIfNull(countsBefore);
        await _oneAtATime.WaitAsync(cancellationToken);
        try
        {
            var byPosition = PositionMap();
            var movements = moved ?? [.. mix.Items.Select(i => new PositionMovement(i.Position, 0, 0, i.Notes))];
            var outcome = new DeviceDispenseResult(
                moved is null ? DispenseCompletion.Timeout : DispenseCompletion.Partial,
                movements,
                "RECOVERED",
                moved is null ? "Interrupted dispense; the device keeps no counters, so every requested note is unknown." : "Interrupted dispense, settled from the device's counters.");
            var alreadyApplied = CashUnits.Any(u => countsBefore.TryGetValue(u.Id, out var before) && before != u.Count);
            if (alreadyApplied)
            {
                _logger.LogWarning("The interrupted dispense was already applied to the counts before the crash; counts unchanged");
                return ToResult(outcome, mix.Amount, byPosition);
            }

            return await ApplyAsync(outcome, mix.Amount, byPosition);
        }
        finally
        {
            _oneAtATime.Release();
        }
    }

    /// <inheritdoc />
    public PresentCapability Presenting => PresentCapability.Of(_device);

    /// <inheritdoc />
    public Task WaitForTakenAsync(CancellationToken cancellationToken) =>
        _device is IPresentingDispenserDevice { Presenting.DetectsTaken: true } presenting ? presenting.WaitForTakenAsync(cancellationToken) : Task.CompletedTask;

    /// <inheritdoc />
    public Task<ExitState> ReadExitAsync(CancellationToken cancellationToken) =>
        _device is IPresentingDispenserDevice { Presenting.DetectsTaken: true } presenting ? presenting.ReadExitAsync(cancellationToken) : Task.FromResult(ExitState.Unknown);

    /// <inheritdoc />
    public async Task<RetractResult> RetractAsync(IReadOnlyList<UnitMovement> presented, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(presented);
        if (_device is not IPresentingDispenserDevice { Presenting.CanRetract: true } presenting)
        {
            return new RetractResult(RetractCompletion.Failed, [], false, null, $"the {_device.Info.Model} cannot retract");
        }

        await _oneAtATime.WaitAsync(cancellationToken);
        try
        {
            var outcome = await presenting.RetractAsync(cancellationToken);
            var result = await ApplyRetractAsync(outcome, presented);
            _logger.LogInformation(
                "Retract ended {Completion}: {Notes} notes {What}", result.Completion, result.Units.Sum(u => u.Notes), result.Counted ? "in the retract bin" : "of unknown fate (the device did not count)");
            return result;
        }
        finally
        {
            _oneAtATime.Release();
        }
    }

    /// <inheritdoc />
    public async Task<RetractResult> RecoverInterruptedRetractAsync(IReadOnlyList<UnitMovement> presented, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(presented);
        await _oneAtATime.WaitAsync(cancellationToken);
        try
        {
            // As a retract that worked but could not count: every presented note becomes unknown.
            var outcome = new DeviceRetractResult(RetractCompletion.Ok, null, "RECOVERED", "Interrupted retract; the saved counts do not show it, so the presented notes are unknown.");
            var result = await ApplyRetractAsync(outcome, presented);
            _logger.LogWarning("Interrupted retract: {Notes} presented notes marked unknown (retract bin or customer)", result.Units.Sum(u => u.Notes));
            return result;
        }
        finally
        {
            _oneAtATime.Release();
        }
    }

    /// <inheritdoc />
    public Task<DeviceCounters?> ReadDeviceCountersAsync(CancellationToken cancellationToken) => _device.ReadCountersAsync(cancellationToken);

    /// <inheritdoc />
    public async Task RefreshStatusAsync(CancellationToken cancellationToken) => await _device.RefreshStatusAsync(cancellationToken);

    /// <inheritdoc />
    public Task ReplenishAsync(string cashUnitId, int count, CancellationToken cancellationToken)
    {
        var unit = Find(cashUnitId);
        if (count < 0 || count > unit.HighThreshold)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, $"Cash unit '{cashUnitId}' holds 0 to {unit.HighThreshold} notes.");
        }

        return ReplaceAsync(unit with { Count = count, InitialCount = count, Counters = CashUnitCounters.None, IsInoperative = false }, cancellationToken);
    }

    /// <inheritdoc />
    public Task SetLockedAsync(string cashUnitId, bool locked, CancellationToken cancellationToken) =>
        ReplaceAsync(Find(cashUnitId) with { IsLocked = locked }, cancellationToken);

    /// <inheritdoc />
    public void Dispose()
    {
        if (_sensors is not null)
        {
            _sensors.Status.Changed -= OnSensorChanged;
        }

        _oneAtATime.Dispose();
    }

    /// <summary>The one check of the layout that needs the device; the rest was done by <see cref="CashUnitLayout.Create"/>.</summary>
    private static void CheckPositionsFit(CashUnitLayout layout, DispenserDeviceInfo info)
    {
        for (var i = 0; i < layout.Units.Count; i++)
        {
            var unit = layout.Units[i];
            if (unit.Position < 1 || unit.Position > info.Positions)
            {
                throw new ConfigurationException($"{layout.Setting}:{i}:Position", $"cash unit '{unit.Id}' is at position {unit.Position}, but the {info.Model} has positions 1 to {info.Positions}");
            }
        }
    }

    /// <summary>Persisted counts win over configuration; configuration wins for layout (denomination, thresholds).</summary>
    private static List<CashUnit> Reconcile(IReadOnlyList<CashUnit> configured, IReadOnlyList<CashUnit> persisted, ILogger logger)
    {
        var saved = persisted.ToDictionary(u => u.Id, StringComparer.Ordinal);
        var result = new List<CashUnit>();
        foreach (var unit in configured)
        {
            if (saved.TryGetValue(unit.Id, out var state) && state.Denomination == unit.Denomination)
            {
                result.Add(unit with { Count = state.Count, InitialCount = state.InitialCount, Counters = state.Counters, IsLocked = state.IsLocked, IsInoperative = state.IsInoperative });
            }
            else
            {
                logger.LogWarning("Cash unit {CashUnit} has no persisted counts for {Denomination}; starting from the configured count {Count}", unit.Id, unit.Denomination, unit.Count);
                result.Add(unit);
            }
        }

        return result;
    }

    private Dictionary<int, CashUnit> Validate(Mix mix)
    {
        var byPosition = PositionMap();
        var sum = new Money(0, mix.Amount.Currency);
        foreach (var item in mix.Items)
        {
            var unit = Find(item.CashUnitId);
            if (item.Notes <= 0)
            {
                throw new InvalidMixException($"The mix takes {item.Notes} notes from '{unit.Id}'; each item must take at least one note.");
            }

            if (unit.Position != item.Position || unit.Denomination != item.Denomination)
            {
                throw new InvalidMixException($"The mix says '{unit.Id}' is {item.Denomination} at position {item.Position}; it is {unit.Denomination} at position {unit.Position}.");
            }

            if (!unit.CanDispense)
            {
                throw new InvalidMixException($"Cash unit '{unit.Id}' is {unit.Status} and cannot dispense.");
            }

            if (item.Notes > unit.Count)
            {
                throw new InvalidMixException($"The mix takes {item.Notes} notes from '{unit.Id}', which holds {unit.Count}.");
            }

            if (unit.Currency != mix.Amount.Currency)
            {
                throw new InvalidMixException($"Cash unit '{unit.Id}' holds {unit.Currency.Code}, the amount is in {mix.Amount.Currency.Code}.");
            }

            sum += item.Value;
        }

        if (sum != mix.Amount)
        {
            throw new InvalidMixException($"The mix adds up to {sum}, not {mix.Amount}.");
        }

        if (mix.TotalNotes > MaxNotesPerDispense)
        {
            throw new InvalidMixException($"The mix has {mix.TotalNotes} notes; one dispense may present at most {MaxNotesPerDispense}.");
        }

        return byPosition;
    }

    private static DispenseResult ToResult(DeviceDispenseResult outcome, Money requested, Dictionary<int, CashUnit> byPosition) => new(
        outcome.Completion,
        requested,
        [.. outcome.Movements.Where(m => m.Picked > 0 && byPosition.ContainsKey(m.Position))
            .Select(m => new UnitMovement(byPosition[m.Position].Id, byPosition[m.Position].Denomination, m.Presented, m.Rejected, m.Unknown))],
        outcome.DeviceCode,
        outcome.Detail);

    private async Task<DispenseResult> ApplyAsync(DeviceDispenseResult outcome, Money requested, Dictionary<int, CashUnit> byPosition)
    {
        lock (_gate)
        {
            foreach (var moved in outcome.Movements.Where(m => m.Picked > 0))
            {
                if (!byPosition.TryGetValue(moved.Position, out var configured))
                {
                    _logger.LogError("The device reports {Notes} notes moved from position {Position}, where no cash unit is configured", moved.Picked, moved.Position);
                    continue;
                }

                var unit = _units[configured.Id];
                _units[unit.Id] = unit with
                {
                    Count = Math.Max(0, unit.Count - moved.Picked),
                    Counters = unit.Counters with
                    {
                        Presented = unit.Counters.Presented + moved.Presented,
                        Rejected = unit.Counters.Rejected + moved.Rejected,
                        Unknown = unit.Counters.Unknown + moved.Unknown,
                    },
                };
            }
        }

        await _store.SaveAsync(CashUnits, CancellationToken.None);
        return ToResult(outcome, requested, byPosition);
    }

    /// <summary>
    /// Moves retracted notes from Presented to Retracted (counted) or to Unknown (not counted), never more than the
    /// dispense presented from that unit, and persists the counts before returning. A count that cannot be the notes of
    /// this dispense — a position with no cash unit, or more notes of a unit than it presented (a position named twice
    /// is summed first) — is not trusted: the retract is applied as one that could not count (every presented note
    /// unknown), so the customer is never charged for notes the device may hold.
    /// </summary>
    private async Task<RetractResult> ApplyRetractAsync(DeviceRetractResult outcome, IReadOnlyList<UnitMovement> presented)
    {
        if (outcome.Completion != RetractCompletion.Ok)
        {
            return new RetractResult(outcome.Completion, [], outcome.Retracted is not null, outcome.DeviceCode, outcome.Detail);
        }

        var presentedBy = presented.Where(m => m.Presented > 0).ToDictionary(m => m.CashUnitId, m => m.Presented, StringComparer.Ordinal);
        var moved = new List<UnitRetract>();
        var counted = outcome.Retracted is not null;
        var detail = outcome.Detail;
        lock (_gate)
        {
            var byPosition = _units.Values.ToDictionary(u => u.Position);
            var reported = (outcome.Retracted ?? []).Where(c => c.Notes > 0).GroupBy(c => c.Position)
                .Select(g => (Position: g.Key, Notes: (int)Math.Min(g.Sum(c => (long)c.Notes), int.MaxValue))).ToList();
            var wrong = reported.Where(r => !byPosition.TryGetValue(r.Position, out var u) || r.Notes > presentedBy.GetValueOrDefault(u.Id)).ToList();
            if (counted && wrong.Count > 0)
            {
                var what = string.Join(", ", wrong.Select(w => $"{w.Notes} at position {w.Position}"));
                _logger.LogError("The device's retract count ({What}) is not the notes this dispense presented: every presented note is counted unknown", what);
                counted = false;
                detail = $"{(detail is null ? string.Empty : detail + "; ")}the device's count ({what}) does not match the dispense: not trusted";
            }

            List<(string UnitId, int Notes)> notes = counted
                ? [.. reported.Select(r => (byPosition[r.Position].Id, r.Notes))]
                : [.. presentedBy.Select(p => (p.Key, p.Value))];
            foreach (var (id, count) in notes)
            {
                var unit = _units[id];
                _units[unit.Id] = unit with
                {
                    Counters = unit.Counters with
                    {
                        Presented = unit.Counters.Presented - count,
                        Retracted = unit.Counters.Retracted + (counted ? count : 0),
                        Unknown = unit.Counters.Unknown + (counted ? 0 : count),
                    },
                };
                moved.Add(new UnitRetract(unit.Id, unit.Denomination, count));
            }
        }

        await _store.SaveAsync(CashUnits, CancellationToken.None);
        return new RetractResult(outcome.Completion, moved, counted, outcome.DeviceCode, detail);
    }

    private CashUnit Find(string cashUnitId)
    {
        lock (_gate)
        {
            return _units.TryGetValue(cashUnitId, out var unit) ? unit : throw new UnknownCashUnitException(cashUnitId, _units.Keys);
        }
    }

    private Dictionary<int, CashUnit> PositionMap()
    {
        lock (_gate)
        {
            return _units.Values.ToDictionary(u => u.Position);
        }
    }

    private async Task ReplaceAsync(CashUnit unit, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _units[unit.Id] = unit;
        }

        await _store.SaveAsync(CashUnits, cancellationToken);
    }

    private void OnSensorChanged(object? sender, Status.StatusChange change) => ApplyCassettePresence();

    private void ApplyCassettePresence()
    {
        if (_sensors is null)
        {
            return;
        }

        lock (_gate)
        {
            foreach (var unit in _units.Values.ToList())
            {
                // A presence sensor that is not wired says nothing: the unit stays as the device reports it.
                var present = _sensors.Status.StateOf(SensorKind.CassettePresent, unit.Position) != SensorState.Alert;
                if (present != unit.IsPresent)
                {
                    _units[unit.Id] = unit with { IsPresent = present };
                    _logger.LogWarning("Cash unit {CashUnit} is now {Presence}", unit.Id, present ? "present" : "missing");
                }
            }
        }
    }
}
