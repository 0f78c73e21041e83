namespace CardlessAtm.Devices.Dispenser;

/// <summary>
/// Mix (denomination) algorithms: pure functions from an amount and the cash units to a <see cref="Mix"/>
/// or the reason none exists. They never take more notes than a unit holds, always sum exactly to the
/// amount, and never exceed the per-dispense note limit.
/// </summary>
/// <remarks>
/// Amounts are scaled by the greatest common divisor of the denominations, so the dynamic programmes
/// below work on a handful of thousand states for real ATM amounts. Reasons are decided in a fixed
/// order: amount not positive, currency not held, no such denomination, not enough notes, over the
/// note limit — the first that applies is the answer.
/// </remarks>
public static class Denominator
{
    /// <summary>Amounts (in units of the denominations' common divisor) beyond this are refused as absurd.</summary>
    private const long MaxScaledAmount = 5_000_000;

    /// <summary>Denominates with the given algorithm.</summary>
    public static MixResult Denominate(Money amount, IReadOnlyList<CashUnit> units, int maxNotes, MixAlgorithm algorithm) =>
        algorithm switch
        {
            MixAlgorithm.MinimumNotes => MinimumNotes(amount, units, maxNotes),
            MixAlgorithm.EqualEmptying => EqualEmptying(amount, units, maxNotes),
            _ => throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, "Unknown mix algorithm."),
        };

    /// <summary>The mix with the fewest notes.</summary>
    public static MixResult MinimumNotes(Money amount, IReadOnlyList<CashUnit> units, int maxNotes)
    {
        if (Prepare(amount, units, maxNotes) is not { } problem)
        {
            return Classify(amount, units, maxNotes);
        }

        var counts = problem.Units.Select(u => Math.Min(u.Count, maxNotes)).ToArray();
        var notes = SolveMinimumNotes(problem.Values, counts, problem.Target, maxNotes);
        return notes is null ? Classify(amount, units, maxNotes) : MixResult.Found(problem.ToMix(amount, notes));
    }

    /// <summary>
    /// A mix that takes notes from the fullest usable cash units first (one note at a time, keeping the
    /// rest of the amount makeable within the note limit), so cassettes empty evenly.
    /// </summary>
    public static MixResult EqualEmptying(Money amount, IReadOnlyList<CashUnit> units, int maxNotes)
    {
        if (Prepare(amount, units, maxNotes) is not { } problem)
        {
            return Classify(amount, units, maxNotes);
        }

        var remainingCounts = problem.Units.Select(u => Math.Min(u.Count, maxNotes)).ToArray();
        var taken = new int[problem.Units.Count];
        var remaining = problem.Target;
        var budget = maxNotes;
        if (SolveMinimumNotes(problem.Values, remainingCounts, remaining, budget) is null)
        {
            return Classify(amount, units, maxNotes);
        }

        while (remaining > 0)
        {
            // Fullest unit first (by notes left in the cassette), larger note on a tie.
            var order = Enumerable.Range(0, problem.Units.Count)
                .Where(i => remainingCounts[i] > 0 && problem.Values[i] <= remaining)
                .OrderByDescending(i => problem.Units[i].Count - taken[i])
                .ThenByDescending(i => problem.Values[i]);
            var progressed = false;
            foreach (var i in order)
            {
                remainingCounts[i]--;
                if (SolveMinimumNotes(problem.Values, remainingCounts, remaining - problem.Values[i], budget - 1) is not null)
                {
                    taken[i]++;
                    remaining -= problem.Values[i];
                    budget--;
                    progressed = true;
                    break;
                }

                remainingCounts[i]++;
            }

            if (!progressed)
            {
                // Cannot happen: the state was feasible, so one of its notes keeps it feasible.
                throw new InvalidOperationException("Equal-emptying mix lost feasibility; this is a bug.");
            }
        }

        return MixResult.Found(problem.ToMix(amount, taken));
    }

    /// <summary>Finds the first reason, in the documented order, why no mix exists.</summary>
    private static MixResult Classify(Money amount, IReadOnlyList<CashUnit> units, int maxNotes)
    {
        if (!amount.IsPositive)
        {
            return MixResult.Failed(MixFailureReason.AmountNotPositive, $"The amount {amount} is not greater than zero.");
        }

        var sameCurrency = units.Where(u => u.Currency == amount.Currency).ToList();
        if (sameCurrency.Count == 0)
        {
            var held = string.Join(", ", units.Select(u => u.Currency.Code).Distinct());
            return MixResult.Failed(MixFailureReason.CurrencyNotHeld, $"No cash unit holds {amount.Currency.Code} (held: {(held.Length == 0 ? "none" : held)}).");
        }

        var denominations = string.Join(", ", sameCurrency.Select(u => u.Denomination).Distinct().OrderBy(d => d.MinorUnits));
        var divisor = sameCurrency.Select(u => u.Denomination.MinorUnits).Aggregate(Gcd);
        if (amount.MinorUnits % divisor != 0 || amount.MinorUnits / divisor > MaxScaledAmount
            || !UnboundedFeasible(sameCurrency.Select(u => u.Denomination.MinorUnits / divisor).Distinct().ToArray(), amount.MinorUnits / divisor))
        {
            return MixResult.Failed(MixFailureReason.NoSuchDenomination, $"{amount} cannot be made from the denominations {denominations}.");
        }

        var usable = sameCurrency.Where(u => u.CanDispense && u.Count > 0).ToList();
        var values = usable.Select(u => u.Denomination.MinorUnits / divisor).ToArray();
        if (usable.Count == 0 || !BoundedFeasible(values, usable.Select(u => u.Count).ToArray(), amount.MinorUnits / divisor))
        {
            var onHand = usable.Count == 0
                ? "no usable cash unit"
                : string.Join(", ", usable.Select(u => $"{u.Id} {u.Count}×{u.Denomination}"));
            return MixResult.Failed(MixFailureReason.NotEnoughNotes, $"{amount} cannot be made from the notes on hand ({onHand}).");
        }

        return MixResult.Failed(MixFailureReason.OverNoteLimit, $"{amount} needs more than {maxNotes} notes, the most one dispense may present.");
    }

    /// <summary>Sets up the scaled problem, or returns null when a pre-condition fails (then <see cref="Classify"/> explains).</summary>
    private static Problem? Prepare(Money amount, IReadOnlyList<CashUnit> units, int maxNotes)
    {
        ArgumentNullException.ThrowIfNull(units);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxNotes);
        if (!amount.IsPositive)
        {
            return null;
        }

        var usable = units.Where(u => u.Currency == amount.Currency && u.CanDispense && u.Count > 0 && u.Denomination.MinorUnits > 0).ToList();
        if (usable.Count == 0)
        {
            return null;
        }

        var divisor = usable.Select(u => u.Denomination.MinorUnits).Aggregate(Gcd);
        if (amount.MinorUnits % divisor != 0)
        {
            return null;
        }

        var target = amount.MinorUnits / divisor;
        var largest = usable.Max(u => u.Denomination.MinorUnits / divisor);
        if (target > largest * maxNotes)
        {
            return null;
        }

        return new Problem(usable, [.. usable.Select(u => (int)(u.Denomination.MinorUnits / divisor))], (int)target);
    }

    /// <summary>Bounded knapsack, fewest items: notes per unit, or null if not makeable within <paramref name="maxNotes"/>.</summary>
    private static int[]? SolveMinimumNotes(int[] values, int[] counts, int target, int maxNotes)
    {
        if (target == 0)
        {
            return new int[values.Length];
        }

        if (maxNotes <= 0)
        {
            return null;
        }

        // Binary-split each unit's count into 0/1 items (1, 2, 4, …, rest notes).
        var items = new List<(int Unit, int Notes)>();
        for (var u = 0; u < values.Length; u++)
        {
            var left = counts[u];
            for (var chunk = 1; left > 0; chunk *= 2)
            {
                var take = Math.Min(chunk, left);
                items.Add((u, take));
                left -= take;
            }
        }

        const int Unreachable = int.MaxValue;
        var best = new int[target + 1];
        Array.Fill(best, Unreachable);
        best[0] = 0;
        var chosen = new bool[items.Count, target + 1];
        for (var k = 0; k < items.Count; k++)
        {
            var weight = values[items[k].Unit] * items[k].Notes;
            var cost = items[k].Notes;
            for (var a = target; a >= weight; a--)
            {
                var from = best[a - weight];
                if (from != Unreachable && from + cost < best[a])
                {
                    best[a] = from + cost;
                    chosen[k, a] = true;
                }
            }
        }

        if (best[target] == Unreachable || best[target] > maxNotes)
        {
            return null;
        }

        var notes = new int[values.Length];
        var at = target;
        for (var k = items.Count - 1; k >= 0 && at > 0; k--)
        {
            if (chosen[k, at])
            {
                notes[items[k].Unit] += items[k].Notes;
                at -= values[items[k].Unit] * items[k].Notes;
            }
        }

        return notes;
    }

    /// <summary>Whether <paramref name="target"/> is a sum of the values with unlimited notes.</summary>
    private static bool UnboundedFeasible(long[] values, long target)
    {
        var reachable = new bool[target + 1];
        reachable[0] = true;
        for (var a = 1; a <= target; a++)
        {
            foreach (var v in values)
            {
                if (v <= a && reachable[a - v])
                {
                    reachable[a] = true;
                    break;
                }
            }
        }

        return reachable[target];
    }

    /// <summary>Whether <paramref name="target"/> is a sum of the values with at most <paramref name="counts"/> notes each (no note limit).</summary>
    private static bool BoundedFeasible(long[] values, int[] counts, long target)
    {
        if (target > MaxScaledAmount)
        {
            return false;
        }

        var reachable = new bool[target + 1];
        reachable[0] = true;
        var used = new int[target + 1];
        for (var u = 0; u < values.Length; u++)
        {
            Array.Clear(used);
            var v = values[u];
            for (var a = v; a <= target; a++)
            {
                if (!reachable[a] && reachable[a - v] && used[a - v] < counts[u])
                {
                    reachable[a] = true;
                    used[a] = used[a - v] + 1;
                }
            }
        }

        return reachable[target];
    }

    private static long Gcd(long a, long b)
    {
        while (b != 0)
        {
            (a, b) = (b, a % b);
        }

        return Math.Abs(a);
    }

    private sealed record Problem(IReadOnlyList<CashUnit> Units, int[] Values, int Target)
    {
        public Mix ToMix(Money amount, int[] notes) => new(
            amount,
            [.. Units.Select((u, i) => new MixItem(u.Id, u.Position, u.Denomination, notes[i])).Where(i => i.Notes > 0)]);
    }
}
