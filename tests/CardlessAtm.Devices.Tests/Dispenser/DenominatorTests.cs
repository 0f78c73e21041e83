using CardlessAtm.Devices.Dispenser;
using FsCheck.Xunit;
using static CardlessAtm.Devices.Tests.TestUnits;

namespace CardlessAtm.Devices.Tests.Dispenser;

public class DenominatorTests
{
    private static readonly long[] Denominations = [5, 10, 20, 50, 100];

    [Fact]
    public void Minimum_notes_prefers_large_notes()
    {
        var mix = Denominator.MinimumNotes(Eur(280), Standard(), 40).Mix!;
        Assert.Equal(5, mix.TotalNotes); // 2×100 + 50 + 20 + 10
        Assert.Equal(Eur(280), mix.Amount);
    }

    [Fact]
    public void Minimum_notes_is_not_greedy_when_greedy_fails()
    {
        // 60 from 50s and 20s: greedy takes 50 and is stuck; the answer is 3×20.
        var units = new List<CashUnit> { Unit("A", 1, 50, 10), Unit("B", 2, 20, 10) };
        var mix = Denominator.MinimumNotes(Eur(60), units, 40).Mix!;
        Assert.Equal([("B", 3)], mix.Items.Select(i => (i.CashUnitId, i.Notes)));
    }

    [Fact]
    public void Equal_emptying_takes_from_the_fullest_unit()
    {
        var units = Standard(tens: 10, twenties: 400, fifties: 10, hundreds: 10);
        var mix = Denominator.EqualEmptying(Eur(100), units, 40).Mix!;
        Assert.Equal([("CASS2", 5)], mix.Items.Select(i => (i.CashUnitId, i.Notes)));
    }

    [Theory]
    [InlineData(0, MixFailureReason.AmountNotPositive)]
    [InlineData(-20, MixFailureReason.AmountNotPositive)]
    [InlineData(15, MixFailureReason.NoSuchDenomination)]
    [InlineData(30, MixFailureReason.NotEnoughNotes)]
    [InlineData(5000, MixFailureReason.NotEnoughNotes)]
    [InlineData(3000, MixFailureReason.OverNoteLimit)]
    public void Failures_carry_their_reason(long amount, MixFailureReason reason)
    {
        // 10s (empty), one 20, forty 100s; at most 20 notes. 15 is no multiple of 10; 30 needs a 10;
        // 5000 needs fifty 100s; 3000 needs thirty notes.
        var units = new List<CashUnit> { Unit("T", 1, 10, 0), Unit("W", 2, 20, 1), Unit("H", 3, 100, 40) };
        var result = Denominator.MinimumNotes(Eur(amount), units, maxNotes: 20);
        Assert.False(result.Succeeded);
        Assert.Equal(reason, result.FailureReason);
        Assert.False(string.IsNullOrWhiteSpace(result.Explanation));
    }

    [Fact]
    public void A_currency_nobody_holds_is_named()
    {
        var result = Denominator.MinimumNotes(Money.FromMajor(20, "USD"), Standard(), 40);
        Assert.Equal(MixFailureReason.CurrencyNotHeld, result.FailureReason);
        Assert.Contains("USD", result.Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public void Locked_missing_and_inoperative_units_are_never_used()
    {
        var units = new List<CashUnit>
        {
            Unit("L", 1, 50, 10) with { IsLocked = true },
            Unit("M", 2, 50, 10) with { IsPresent = false },
            Unit("I", 3, 50, 10) with { IsInoperative = true },
        };
        Assert.Equal(MixFailureReason.NotEnoughNotes, Denominator.MinimumNotes(Eur(50), units, 40).FailureReason);
        Assert.Equal(MixFailureReason.NotEnoughNotes, Denominator.EqualEmptying(Eur(50), units, 40).FailureReason);
    }

    /// <summary>
    /// For random small cash-unit sets, both algorithms either return a valid mix (sums to the amount,
    /// never more notes than a unit holds, within the note limit, only usable units) or fail with exactly
    /// the reason a brute-force search over every combination gives; minimum notes is optimal.
    /// </summary>
    [Property(MaxTest = 400)]
    public bool Mixes_are_valid_or_fail_for_the_brute_force_reason(byte d1, byte d2, byte d3, byte c1, byte c2, byte c3, short amountEur, byte maxNotesSeed)
    {
        var units = new List<CashUnit>
        {
            Unit("U1", 1, Denominations[d1 % Denominations.Length], c1 % 7),
            Unit("U2", 2, Denominations[d2 % Denominations.Length], c2 % 7),
            Unit("U3", 3, Denominations[d3 % Denominations.Length], c3 % 7, low: 0) with { IsLocked = c3 % 5 == 0 },
        };
        var amount = Eur(amountEur % 400);
        var maxNotes = 1 + (maxNotesSeed % 12);
        var expected = BruteForce(amount, units, maxNotes);

        foreach (var algorithm in new[] { MixAlgorithm.MinimumNotes, MixAlgorithm.EqualEmptying })
        {
            var result = Denominator.Denominate(amount, units, maxNotes, algorithm);
            if (expected.Reason is { } reason)
            {
                if (result.Succeeded || result.FailureReason != reason)
                {
                    return false;
                }

                continue;
            }

            if (!result.Succeeded || !IsValid(result.Mix!, amount, units, maxNotes))
            {
                return false;
            }

            if (algorithm == MixAlgorithm.MinimumNotes && result.Mix!.TotalNotes != expected.MinimumNotes)
            {
                return false;
            }
        }

        return true;
    }

    [Property(MaxTest = 200)]
    public bool Large_amounts_with_many_notes_stay_valid(ushort tens, ushort twenties, ushort fifties, ushort amountTens)
    {
        var units = Standard(tens % 3000, twenties % 3000, fifties % 3000, 0);
        var amount = Eur(10L * (amountTens % 2000));
        var result = Denominator.MinimumNotes(amount, units, maxNotes: 200);
        return result.Succeeded ? IsValid(result.Mix!, amount, units, 200) : result.FailureReason is not null && result.Explanation is not null;
    }

    private static bool IsValid(Mix mix, Money amount, IReadOnlyList<CashUnit> units, int maxNotes)
    {
        var byId = units.ToDictionary(u => u.Id);
        return mix.Amount == amount
            && mix.Items.Aggregate(new Money(0, amount.Currency), (sum, i) => sum + i.Value) == amount
            && mix.Items.All(i => byId[i.CashUnitId].CanDispense && i.Notes > 0 && i.Notes <= byId[i.CashUnitId].Count && i.Denomination == byId[i.CashUnitId].Denomination)
            && mix.TotalNotes <= maxNotes;
    }

    private static (MixFailureReason? Reason, int MinimumNotes) BruteForce(Money amount, IReadOnlyList<CashUnit> units, int maxNotes)
    {
        if (amount.MinorUnits <= 0)
        {
            return (MixFailureReason.AmountNotPositive, 0);
        }

        // Unlimited notes of every configured denomination (any status).
        var reachable = new bool[amount.MinorUnits + 1];
        reachable[0] = true;
        for (var a = 1L; a <= amount.MinorUnits; a++)
        {
            reachable[a] = units.Any(u => u.Denomination.MinorUnits <= a && reachable[a - u.Denomination.MinorUnits]);
        }

        if (!reachable[amount.MinorUnits])
        {
            return (MixFailureReason.NoSuchDenomination, 0);
        }

        var usable = units.Where(u => u.CanDispense).ToList();
        var best = int.MaxValue;
        void Search(int index, long remaining, int notes)
        {
            if (remaining == 0)
            {
                best = Math.Min(best, notes);
                return;
            }

            if (index == usable.Count || remaining < 0)
            {
                return;
            }

            for (var n = 0; n <= usable[index].Count; n++)
            {
                Search(index + 1, remaining - (n * usable[index].Denomination.MinorUnits), notes + n);
            }
        }

        Search(0, amount.MinorUnits, 0);
        return best == int.MaxValue ? (MixFailureReason.NotEnoughNotes, 0)
            : best > maxNotes ? (MixFailureReason.OverNoteLimit, 0)
            : (null, best);
    }
}
