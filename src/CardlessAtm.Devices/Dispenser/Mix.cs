
namespace CardlessAtm.Devices.Dispenser;

/// <summary>Notes to take from one cash unit.</summary>
/// <param name="CashUnitId">The cash unit.</param>
/// <param name="Position">Its dispenser position.</param>
/// <param name="Denomination">The value of one note.</param>
/// <param name="Notes">How many notes.</param>
public sealed record MixItem(string CashUnitId, int Position, Money Denomination, int Notes)
{
    /// <summary>Value of these notes.</summary>
    public Money Value => Denomination * Notes;
}

/// <summary>A way to make an amount from the cash units: notes per unit, summing exactly to the amount.</summary>
/// <param name="Amount">The amount made.</param>
/// <param name="Items">Notes per cash unit (units with zero notes are left out).</param>
public sealed record Mix(Money Amount, IReadOnlyList<MixItem> Items)
{
    /// <summary>Notes in total.</summary>
    public int TotalNotes => Items.Sum(i => i.Notes);

    /// <summary>"2×50.00 EUR + 1×20.00 EUR".</summary>
    public override string ToString() =>
        string.Join(" + ", Items.Select(i => $"{i.Notes}×{i.Denomination}"));
}

/// <summary>Why an amount cannot be made.</summary>
public enum MixFailureReason
{
    /// <summary>The amount is zero or negative.</summary>
    AmountNotPositive,

    /// <summary>No cash unit holds the amount's currency.</summary>
    CurrencyNotHeld,

    /// <summary>No combination of the loaded denominations makes the amount, however many notes there were.</summary>
    NoSuchDenomination,

    /// <summary>The denominations could make it, but not with the notes on hand in usable units.</summary>
    NotEnoughNotes,

    /// <summary>It needs more notes than one dispense may present.</summary>
    OverNoteLimit,
}

/// <summary>The answer of a mix algorithm: a <see cref="Mix"/>, or the reason none exists.</summary>
public sealed record MixResult
{
    private MixResult(Mix? mix, MixFailureReason? reason, string? explanation)
    {
        Mix = mix;
        FailureReason = reason;
        Explanation = explanation;
    }

    /// <summary>The mix, when one exists.</summary>
    public Mix? Mix { get; }

    /// <summary>Why no mix exists, when none does.</summary>
    public MixFailureReason? FailureReason { get; }

    /// <summary>A technician-readable explanation of the failure.</summary>
    public string? Explanation { get; }

    /// <summary>Whether a mix was found.</summary>
    public bool Succeeded => Mix is not null;

    /// <summary>A found mix.</summary>
    public static MixResult Found(Mix mix) => new(mix, null, null);

    /// <summary>No mix, for the given reason.</summary>
    public static MixResult Failed(MixFailureReason reason, string explanation) => new(null, reason, explanation);

    /// <inheritdoc />
    public override string ToString() => Succeeded ? Mix!.ToString() : $"{FailureReason}: {Explanation}";
}

/// <summary>The configured way to denominate.</summary>
public enum MixAlgorithm
{
    /// <summary>Fewest notes.</summary>
    MinimumNotes,

    /// <summary>Take from the fullest cassettes so that they empty evenly.</summary>
    EqualEmptying,
}
