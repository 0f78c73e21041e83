using CardlessAtm.Iso8583;
using CardlessAtm.Terminal.Journal;

namespace CardlessAtm.Terminal.Tests.MoneyPath;

/// <summary>
/// A journal that fails while notes wait at the exit (found by the adversary pass on present / retract): the notes can
/// be neither watched nor retracted with the order of guarantees kept, so they count as taken, and the ATM must not
/// serve the next customer in front of them. A retract whose line cannot be written is still reversed as a retract (18).
/// </summary>
public class PresentJournalFaultTests
{
    private static readonly Money Eur80 = Money.FromMajor(80, "EUR");

    [Theory]
    [InlineData(typeof(PresentStarted))]
    [InlineData(typeof(RetractStarted))]
    public async Task A_journal_that_fails_while_notes_wait_at_the_exit_charges_what_was_presented_and_takes_the_atm_out_of_service(Type failing)
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Device.Faults.NotesNotTaken = true;
        rig.Host.Answers(ResponseCodes.Approved);
        FailOnce(rig, failing);

        var settled = await rig.RunOnFakeTimeAsync(rig.WithdrawAsync());

        Assert.Equal((ResponseCodes.Approved, (Money?)Eur80), (settled.ResponseCode, settled.Presented));
        Assert.Empty(rig.Queue.Pending);
        Assert.Equal((3, 0), (rig.Device.NotesAtExit, rig.Device.RetractBin)); // nothing retracted blind
        Assert.All(rig.Dispenser.CashUnits, u => Assert.Equal((99, 1, 0, 0), (u.Count, u.Counters.Presented, u.Counters.Retracted, u.Counters.Unknown)));
        Assert.NotNull(rig.UnusableReason);
        Assert.Contains("notes were at the exit", rig.UnusableReason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_retract_whose_journal_line_fails_is_still_reversed_in_full_as_a_retract()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Device.Faults.NotesNotTaken = true;
        rig.Host.Answers(ResponseCodes.Approved);
        FailOnce(rig, typeof(NotesRetracted));

        var settled = await rig.RunOnFakeTimeAsync(rig.WithdrawAsync());

        Assert.Equal((ResponseCodes.SystemMalfunction, (Money?)new Money(0, Eur80.Currency)), (settled.ResponseCode, settled.Presented));
        var reversal = rig.SingleReversal();
        Assert.Equal((8_000L, 0L, ReversalReasons.NotesRetracted), (reversal.AmountMinor, reversal.DispensedMinor, reversal.ReasonCode));
        Assert.Equal((0, 3), (rig.Device.NotesAtExit, rig.Device.RetractBin));
        Assert.All(rig.Dispenser.CashUnits, u => Assert.Equal((99, 0, 1, 0), (u.Count, u.Counters.Presented, u.Counters.Retracted, u.Counters.Unknown)));
    }

    /// <summary>The first write of an entry of this type throws as a full disk would.</summary>
    private static void FailOnce(MoneyPathRig rig, Type failing)
    {
        var failed = 0;
        rig.Journal.Written += entry =>
        {
            if (entry.GetType() == failing && Interlocked.Exchange(ref failed, 1) == 0)
            {
                throw new IOException("disk full");
            }
        };
    }
}
