using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Iso8583;
using CardlessAtm.Terminal.Journal;

namespace CardlessAtm.Terminal.Tests.MoneyPath;

/// <summary>
/// A crash while the notes waited at the exit: the journal ends at present-start (or at notes-retracted), the simulated
/// dispenser still holds what it holds at the exit, and recovery settles from both with the real journal and SAF files.
/// </summary>
public partial class RecoveryTests
{
    [Fact]
    public async Task Killed_while_presenting_with_the_notes_still_at_the_exit_retracts_them_and_reverses_them_as_not_taken()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await PresentingAsync(rig);

        Assert.Equal(1, await RecoverAsync(rig));

        var reversal = rig.SingleReversal();
        Assert.Equal((ReversalId, 8_000L, 0L, ReversalReasons.NotesRetracted), (reversal.Id, reversal.AmountMinor, reversal.DispensedMinor, reversal.ReasonCode));
        Assert.All(rig.Dispenser.CashUnits, u => Assert.Equal((99, 0, 1), (u.Count, u.Counters.Presented, u.Counters.Retracted)));
        Assert.Equal((0, 3), (rig.Device.NotesAtExit, rig.Device.RetractBin));
        Assert.Contains(rig.Entries(), e => e is Recovered { Reversal: "full" });
        Assert.Single(rig.Entries().OfType<NotesRetracted>());
    }

    [Fact]
    public async Task Killed_while_presenting_after_the_customer_took_the_notes_reverses_nothing()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await PresentingAsync(rig);
        rig.Device.TakeNotes();

        Assert.Equal(1, await RecoverAsync(rig));

        Assert.Empty(rig.Queue.Pending);
        Assert.All(rig.Dispenser.CashUnits, u => Assert.Equal((99, 1, 0), (u.Count, u.Counters.Presented, u.Counters.Retracted)));
        Assert.Equal(0, rig.Device.RetractBin);
        Assert.Contains(rig.Entries(), e => e is NotesTaken taken && taken.How.Contains("exit was empty", StringComparison.Ordinal));
        Assert.Contains(rig.Entries(), e => e is Recovered { Reversal: "none needed" });
    }

    [Fact]
    public async Task Killed_while_presenting_on_a_dispenser_that_cannot_tell_counts_the_notes_as_presented()
    {
        using var rig = await MoneyPathRig.CreateAsync(presenting: PresentCapability.None);
        await PresentingAsync(rig); // journalled by a run whose dispenser could tell; this one cannot

        Assert.Equal(1, await RecoverAsync(rig));

        Assert.Empty(rig.Queue.Pending);
        Assert.All(rig.Dispenser.CashUnits, u => Assert.Equal((1, 0), (u.Counters.Presented, u.Counters.Retracted)));
        Assert.Contains(rig.Entries(), e => e is NotesTaken taken && taken.How.Contains("cannot tell", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Killed_after_journalling_the_retract_and_before_the_reversal_file_queues_the_reversal_without_retracting_again()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await PresentingAsync(rig);
        var presented = rig.Dispenser.CashUnits.Select(u => new UnitMovement(u.Id, u.Denomination, 1, 0, 0)).ToList();
        var retract = await rig.Dispenser.RetractAsync(presented, CancellationToken.None);
        await rig.Journal.WriteAsync(NotesRetracted.Of(retract, Currency.FromCode("EUR")) with { Session = Session, Stan = Stan });

        Assert.Equal(1, await RecoverAsync(rig));

        var reversal = rig.SingleReversal();
        Assert.Equal((8_000L, 0L, ReversalReasons.NotesRetracted), (reversal.AmountMinor, reversal.DispensedMinor, reversal.ReasonCode));
        Assert.Equal(3, rig.Device.RetractBin);
        Assert.All(rig.Dispenser.CashUnits, u => Assert.Equal((0, 1), (u.Counters.Presented, u.Counters.Retracted)));
        Assert.Single(rig.Entries().OfType<NotesRetracted>());
    }

    /// <summary>The journal and the devices as a crash in Presenting leaves them: 80 EUR dispensed for real and waiting at the exit.</summary>
    private static async Task PresentingAsync(MoneyPathRig rig)
    {
        await AskedAsync(rig);
        await ApprovedAsync(rig);
        await rig.Journal.WriteAsync(DispenseStart(rig));
        var result = await rig.Dispenser.DispenseAsync(MoneyPathRig.Mix80, CancellationToken.None);
        await rig.Journal.WriteAsync(JournalSamples.DispenseEnd(Session, Stan, result));
        await rig.Journal.WriteAsync(new PresentStarted(JournalAmount.Of(result.Presented), rig.Options.PresentTimeout, CanRetract: true) { Session = Session, Stan = Stan });
    }
}
