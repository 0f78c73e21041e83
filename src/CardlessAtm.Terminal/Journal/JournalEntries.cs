using System.Reflection;
using System.Text.Json.Serialization;
using CardlessAtm.Devices.Dispenser;

namespace CardlessAtm.Terminal.Journal;

/// <summary>An amount in the journal: always minor units and the ISO 4217 letter code, the one representation of money there.</summary>
/// <param name="AmountMinor">Minor units, e.g. 8000 for 80.00.</param>
/// <param name="Currency">ISO 4217 letter code, e.g. <c>EUR</c>.</param>
public readonly record struct JournalAmount(long AmountMinor, string Currency)
{
    /// <summary>The journal form of <paramref name="money"/>.</summary>
    public static JournalAmount Of(Money money) => new(money.MinorUnits, money.Currency.Code);

    /// <summary>The amount as money.</summary>
    /// <exception cref="ArgumentException">The currency code is not one the devices know.</exception>
    public Money ToMoney() => Money.Of(AmountMinor, Currency);

    /// <summary>"80.00 EUR".</summary>
    public override string ToString() => ToMoney().ToString();
}

/// <summary>One note type of a dispense mix: <paramref name="Notes"/> notes of <paramref name="Denomination"/> from a cash unit.</summary>
public sealed record JournalMixItem(string CashUnitId, int Position, JournalAmount Denomination, int Notes)
{
    /// <summary>The journal form of a mix.</summary>
    public static IReadOnlyList<JournalMixItem> Of(Mix mix)
    {
        ArgumentNullException.ThrowIfNull(mix);
        return [.. mix.Items.Select(i => new JournalMixItem(i.CashUnitId, i.Position, JournalAmount.Of(i.Denomination), i.Notes))];
    }

    /// <summary>The mix of <paramref name="amount"/> these items describe.</summary>
    public static Mix ToMix(IReadOnlyList<JournalMixItem> items, Money amount)
    {
        ArgumentNullException.ThrowIfNull(items);
        return new Mix(amount, [.. items.Select(i => new MixItem(i.CashUnitId, i.Position, i.Denomination.ToMoney(), i.Notes))]);
    }
}

/// <summary>A dispenser position's own counters: notes presented and rejected since the device was made.</summary>
public sealed record JournalDeviceCounter(int Position, int Presented, int Rejected)
{
    /// <summary>The journal form of the device's counters.</summary>
    public static IReadOnlyList<JournalDeviceCounter> Of(DeviceCounters counters)
    {
        ArgumentNullException.ThrowIfNull(counters);
        return [.. counters.Positions.Select(p => new JournalDeviceCounter(p.Position, p.Presented, p.Rejected))];
    }

    /// <summary>The device's counters these describe.</summary>
    public static DeviceCounters ToCounters(IReadOnlyList<JournalDeviceCounter> counters)
    {
        ArgumentNullException.ThrowIfNull(counters);
        return new DeviceCounters([.. counters.Select(c => new PositionMovement(c.Position, c.Presented, c.Rejected, 0))]);
    }
}

/// <summary>What moved from one cash unit in a dispense: presented, rejected (to the reject bin) and of unknown fate.</summary>
public sealed record JournalMovement(string CashUnitId, int Presented, int Rejected, int Unknown);

/// <summary>A withdrawal still open when a segment began: its session and the sequence of its authorise-request.</summary>
public sealed record OpenWithdrawal(string Session, long Sequence);

/// <summary>
/// One line of the electronic journal: a typed event. On disk a JSON object whose <c>event</c> property names
/// the type (<see cref="JournalEvents"/>); every amount is a <see cref="JournalAmount"/>. Never holds a PIN, a key
/// or a full account credential.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "event")]
[JsonDerivedType(typeof(TerminalStarted), JournalEvents.Started)]
[JsonDerivedType(typeof(AmountEntered), JournalEvents.AmountEntered)]
[JsonDerivedType(typeof(FaultChecked), JournalEvents.FaultCheck)]
[JsonDerivedType(typeof(QrShown), JournalEvents.QrShown)]
[JsonDerivedType(typeof(SessionEnded), JournalEvents.SessionEnded)]
[JsonDerivedType(typeof(RequestRefused), JournalEvents.RequestRefused)]
[JsonDerivedType(typeof(RequestsUnmatched), JournalEvents.RequestsUnmatched)]
[JsonDerivedType(typeof(RequestReceived), JournalEvents.RequestReceived)]
[JsonDerivedType(typeof(AuthoriseRequested), JournalEvents.AuthoriseRequest)]
[JsonDerivedType(typeof(AuthoriseAnswered), JournalEvents.AuthoriseAnswer)]
[JsonDerivedType(typeof(DispenseStarted), JournalEvents.DispenseStart)]
[JsonDerivedType(typeof(DispenseEnded), JournalEvents.DispenseEnd)]
[JsonDerivedType(typeof(PresentStarted), JournalEvents.PresentStart)]
[JsonDerivedType(typeof(NotesTaken), JournalEvents.NotesTaken)]
[JsonDerivedType(typeof(RetractStarted), JournalEvents.RetractStart)]
[JsonDerivedType(typeof(NotesRetracted), JournalEvents.NotesRetracted)]
[JsonDerivedType(typeof(ReversalQueued), JournalEvents.ReversalQueued)]
[JsonDerivedType(typeof(ReversalAcknowledged), JournalEvents.ReversalAcknowledged)]
[JsonDerivedType(typeof(ReversalNotAcknowledged), JournalEvents.ReversalNotAcknowledged)]
[JsonDerivedType(typeof(WithdrawalFault), JournalEvents.WithdrawalFault)]
[JsonDerivedType(typeof(WithdrawalEnded), JournalEvents.WithdrawalEnd)]
[JsonDerivedType(typeof(Recovered), JournalEvents.Recovered)]
[JsonDerivedType(typeof(SegmentStarted), JournalEvents.SegmentStarted)]
[JsonDerivedType(typeof(SensorChanged), JournalEvents.Sensor)]
[JsonDerivedType(typeof(DispenserReset), JournalEvents.DispenserReset)]
[JsonDerivedType(typeof(HostRekey), JournalEvents.HostRekey)]
public abstract record JournalEntry
{
    private static readonly Dictionary<Type, string> Names = typeof(JournalEntry).GetCustomAttributes<JsonDerivedTypeAttribute>()
        .ToDictionary(a => a.DerivedType, a => (string)a.TypeDiscriminator!);

    /// <summary>1, 2, 3, … in file order (set by the journal when written).</summary>
    [JsonPropertyOrder(-4)]
    public long Sequence { get; init; }

    /// <summary>When it was written, UTC (set by the journal).</summary>
    [JsonPropertyOrder(-3)]
    public DateTimeOffset At { get; init; }

    /// <summary>The withdrawal session (QR nonce), if any.</summary>
    [JsonPropertyOrder(-2)]
    public string? Session { get; init; }

    /// <summary>The terminal's STAN toward the host, if any.</summary>
    [JsonPropertyOrder(-1)]
    public int? Stan { get; init; }

    /// <summary>The event's name, e.g. <c>dispense-start</c> (the <c>event</c> property on disk).</summary>
    [JsonIgnore]
    public string Event => this is UntypedEntry untyped ? untyped.OriginalEvent : Names[GetType()];

    /// <summary>Every entry type the journal writes, with its event name.</summary>
    public static IReadOnlyDictionary<Type, string> Types => Names;
}

/// <summary>The terminal started (and ran recovery).</summary>
public sealed record TerminalStarted(string Atm) : JournalEntry;

/// <summary>A customer began a withdrawal and typed an amount.</summary>
public sealed record AmountEntered(JournalAmount Amount) : JournalEntry;

/// <summary>The fault check's verdict: ready, or the reasons (<c>code: text</c>) it is not.</summary>
public sealed record FaultChecked(JournalAmount Amount, bool Ready, IReadOnlyList<string> Reasons) : JournalEntry;

/// <summary>A QR session is about to be shown, valid until <paramref name="Expires"/>.</summary>
public sealed record QrShown(JournalAmount Amount, DateTimeOffset Expires) : JournalEntry;

/// <summary>The session ended without a request (<c>expired</c>, <c>cancelled</c>).</summary>
public sealed record SessionEnded(string Reason) : JournalEntry;

/// <summary>A forwarded request for the session on screen was refused before the host was asked.</summary>
public sealed record RequestRefused(string Response, string Reason, string PhoneStan) : JournalEntry;

/// <summary>The forwarded requests that matched no session from <paramref name="From"/> to <paramref name="To"/>: counts per "code reason".</summary>
public sealed record RequestsUnmatched(DateTimeOffset From, DateTimeOffset To, long Total, IReadOnlyDictionary<string, long> Counts) : JournalEntry;

/// <summary>A forwarded request for the session on screen was accepted.</summary>
public sealed record RequestReceived(string PhoneStan, JournalAmount Amount) : JournalEntry;

/// <summary>The 0200 is about to be sent to the host: what a reversal of it must quote.</summary>
public sealed record AuthoriseRequested(string Rrn, string Transmission, JournalAmount Amount) : JournalEntry;

/// <summary>The host answered, or did not (<paramref name="Response"/> null, <paramref name="Failure"/> says why).</summary>
/// <param name="Response">Field 39 of the 0210, or null when none came.</param>
/// <param name="MacVerified">The 0210's MAC verified (false when none came).</param>
/// <param name="Mismatch">The fields that did not match the request (the answer is then not bound to it), or null.</param>
/// <param name="AuthCode">Field 38, if any.</param>
/// <param name="Cancelled">The customer pressed Cancel while the host decided.</param>
/// <param name="Failure">Why no answer came, or null.</param>
public sealed record AuthoriseAnswered(string? Response, bool MacVerified, string? Mismatch, string? AuthCode, bool Cancelled, string? Failure) : JournalEntry
{
    /// <summary>An authentic answer bound to this very request.</summary>
    [JsonIgnore]
    public bool IsAuthentic => Response is not null && MacVerified && Mismatch is null;
}

/// <summary>
/// The dispense is about to start: the mix, the cash-unit counts and the device's counters before it (null when
/// the device keeps none), and what a reversal of the withdrawal must quote.
/// </summary>
public sealed record DispenseStarted(
    IReadOnlyList<JournalMixItem> Mix,
    IReadOnlyDictionary<string, int> Counts,
    IReadOnlyList<JournalDeviceCounter>? Counters,
    string ReversalId,
    string Rrn,
    string Transmission,
    JournalAmount Amount) : JournalEntry;

/// <summary>The dispense ended: exactly what moved.</summary>
public sealed record DispenseEnded(string Completion, JournalAmount Presented, IReadOnlyList<JournalMovement> Movements, string? DeviceCode, string? Detail) : JournalEntry
{
    /// <summary>The journal form of a dispense result.</summary>
    public static DispenseEnded Of(DispenseResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return new DispenseEnded(
            result.Completion.ToString(),
            JournalAmount.Of(result.Presented),
            [.. result.Movements.Select(m => new JournalMovement(m.CashUnitId, m.Presented, m.Rejected, m.Unknown))],
            result.DeviceCode,
            result.Detail);
    }

    /// <summary>Notes whose fate is unknown.</summary>
    [JsonIgnore]
    public int UnknownNotes => Movements.Sum(m => m.Unknown);
}

/// <summary>
/// The presented notes are at the exit and the terminal waits up to <paramref name="Timeout"/> for the customer to take
/// them; <paramref name="CanRetract"/> says whether the dispenser can pull them back after that.
/// </summary>
public sealed record PresentStarted(JournalAmount Presented, TimeSpan Timeout, bool CanRetract) : JournalEntry;

/// <summary>
/// The present wait ended with the notes counted as taken: <paramref name="How"/> says whether the customer took them or
/// why they count as taken all the same (the dispenser cannot retract, the retract failed, the exit sensor failed).
/// </summary>
public sealed record NotesTaken(string How) : JournalEntry
{
    /// <summary>The exit sensor saw the customer take the notes.</summary>
    public const string ByCustomer = "taken by the customer";
}

/// <summary>
/// The notes were not taken within the present timeout and the retract is about to be commanded: per cash unit, its
/// <see cref="CashUnitCounters.Retracted"/> and <see cref="CashUnitCounters.Unknown"/> counters before it. Recovery after
/// a crash inside the retract (no <see cref="NotesRetracted"/> line) compares them with the saved counts: counters that
/// moved say the retract was applied; counters that did not, with an empty exit, leave the notes' fate unknown.
/// </summary>
public sealed record RetractStarted(IReadOnlyDictionary<string, int> Retracted, IReadOnlyDictionary<string, int> Unknown) : JournalEntry
{
    /// <summary>The entry for the retract about to start over <paramref name="units"/>.</summary>
    public static RetractStarted Of(IEnumerable<CashUnit> units)
    {
        ArgumentNullException.ThrowIfNull(units);
        var list = units.ToList();
        return new RetractStarted(
            list.ToDictionary(u => u.Id, u => u.Counters.Retracted, StringComparer.Ordinal),
            list.ToDictionary(u => u.Id, u => u.Counters.Unknown, StringComparer.Ordinal));
    }
}

/// <summary>
/// Notes left at the exit were retracted into the retract bin and the cash-unit counts saved: per unit, the notes moved
/// from presented to retracted (<paramref name="Counted"/>), or — when the device could not count — to unknown, and then
/// <paramref name="Value"/> is the suspect value. Written before the reversal of that value is stored.
/// </summary>
public sealed record NotesRetracted(JournalAmount Value, IReadOnlyDictionary<string, int> Notes, bool Counted, string? Detail) : JournalEntry
{
    /// <summary>The journal form of a retract.</summary>
    public static NotesRetracted Of(RetractResult result, Currency currency)
    {
        ArgumentNullException.ThrowIfNull(result);
        return new NotesRetracted(
            JournalAmount.Of(result.ValueIn(currency)),
            result.Units.ToDictionary(u => u.CashUnitId, u => u.Notes, StringComparer.Ordinal),
            result.Counted,
            result.Detail);
    }
}

/// <summary>A reversal was stored for forwarding (<paramref name="Kind"/> <c>full</c> or <c>partial</c>).</summary>
public sealed record ReversalQueued(string Id, JournalAmount Amount, JournalAmount Dispensed, string Kind, string ReasonCode, string Reason) : JournalEntry;

/// <summary>The host acknowledged a reversal with an authentic 0430 (<paramref name="Response"/> 00).</summary>
public sealed record ReversalAcknowledged(string Id, string Response, int Attempts) : JournalEntry;

/// <summary>The host answered a reversal with something other than an authentic 00, or did not answer; it stays queued.</summary>
public sealed record ReversalNotAcknowledged(string Id, string Response, string Disposition, int Attempts, string Problem) : JournalEntry;

/// <summary>The withdrawal transaction failed unexpectedly after the host was asked; it was settled by a reversal.</summary>
public sealed record WithdrawalFault(string Stage, string Fault, string Detail) : JournalEntry;

/// <summary>A withdrawal is finished: the phone's response code and what the customer got and was told.</summary>
public sealed record WithdrawalEnded(string Response, JournalAmount Presented, string State, string Message) : JournalEntry;

/// <summary>Recovery settled a withdrawal interrupted by a crash (<paramref name="Reversal"/>: full, partial, already queued, none needed).</summary>
public sealed record Recovered(string How, JournalAmount Presented, string Reversal) : JournalEntry;

/// <summary>The first entry of each new segment: the closed one's file name and the withdrawals still open.</summary>
public sealed record SegmentStarted(string Previous, IReadOnlyList<OpenWithdrawal> Open) : JournalEntry;

/// <summary>A fault sensor changed, in the terminal state <paramref name="State"/>.</summary>
public sealed record SensorChanged(string Sensor, string? From, string? To, string State) : JournalEntry;

/// <summary>The dispenser was reset after a fault; <paramref name="Rejected"/> notes went to the reject bin.</summary>
public sealed record DispenserReset(string Completion, int Rejected) : JournalEntry;

/// <summary>
/// Re-keying after suspect session keys (issue 13 item 4): <paramref name="Outcome"/> is <see cref="Needed"/> (why, in
/// <paramref name="Detail"/>), <see cref="Failed"/> (attempt <paramref name="Attempt"/> and the host's refusal),
/// <see cref="Renewed"/> or <see cref="Abandoned"/>. <paramref name="SessionVersion"/> is the terminal's session key version
/// after the step. Never key material.
/// </summary>
public sealed record HostRekey(string Outcome, int Attempt, int SessionVersion, string Detail) : JournalEntry
{
    /// <summary>The keys became suspect: out of service until re-keyed.</summary>
    public const string Needed = "needed";

    /// <summary>A key change attempt failed; another follows after the back-off unless it was the last.</summary>
    public const string Failed = "failed";

    /// <summary>Fresh session keys are installed: back in service.</summary>
    public const string Renewed = "renewed";

    /// <summary>Terminal:Rekey:MaxAttempts attempts failed: out of service until a sign-on renews the keys or a restart.</summary>
    public const string Abandoned = "abandoned";
}

/// <summary>
/// A line of a journal written before entries were typed, of an event recovery never reads: kept for the
/// listing with its original name and details (the events recovery reads are converted to their types).
/// </summary>
public sealed record UntypedEntry(string OriginalEvent, IReadOnlyDictionary<string, string> Data) : JournalEntry;
