using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Iso8583;
using CardlessAtm.Terminal.Flow;
using CardlessAtm.Terminal.Journal;
using CardlessAtm.Terminal.StoreAndForward;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Terminal.Tests.MoneyPath;

/// <summary>
/// Recovery decides from the SAF directory and the journal together: each test writes the journal a crash at
/// one point would leave, then asserts the reversal queue and the cash counts after recovery.
/// </summary>
public partial class RecoveryTests
{
    private const string Session = "s-1";
    private const int Stan = 7;
    private const string Transmission = "1201100000";
    private const string ReversalId = "000007-1201100000";

    [Fact]
    public async Task Killed_after_the_request_with_no_answer_recorded_reverses_in_full_as_a_timeout()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await AskedAsync(rig);

        Assert.Equal(1, await RecoverAsync(rig));

        var reversal = rig.SingleReversal();
        Assert.Equal((8_000, 0L, ReversalReasons.Timeout), (reversal.AmountMinor, reversal.DispensedMinor, reversal.ReasonCode));
    }

    [Fact]
    public async Task A_journalled_reversal_whose_file_is_missing_is_queued_again()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await AskedAsync(rig);
        await ApprovedAsync(rig);
        await rig.Journal.WriteAsync(DispenseStart(rig));
        await rig.Journal.WriteAsync(JournalSamples.DispenseEnd(Session, Stan,
            new DispenseResult(DispenseCompletion.Jam, MoneyPathRig.Mix80.Amount, [new UnitMovement("CASS1", MoneyPathRig.Mix80.Items[0].Denomination, 1, 0, 0)])));
        var euro = new JournalAmount(8_000, "EUR");
        await rig.Journal.WriteAsync(new ReversalQueued(ReversalId, euro, euro with { AmountMinor = 1_000 }, "partial", ReversalReasons.PartialDispense, "jam") { Session = Session, Stan = Stan }); // the old order: journal first, file never written

        Assert.Equal(1, await RecoverAsync(rig));

        var reversal = rig.SingleReversal();
        Assert.Equal(ReversalId, reversal.Id);
        Assert.Equal((8_000, 1_000L, ReversalReasons.PartialDispense), (reversal.AmountMinor, reversal.DispensedMinor, reversal.ReasonCode));
    }

    [Fact]
    public async Task Killed_after_the_reversal_file_and_before_its_journal_line_queues_nothing_twice()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await AskedAsync(rig);
        rig.Queue.Save(new PendingReversal(ReversalId, Stan, Transmission, "633510000007", 8_000, 0, 978, "no answer", Session, rig.Time.GetUtcNow()));

        Assert.Equal(1, await RecoverAsync(rig));

        Assert.Equal(ReversalId, rig.SingleReversal().Id);
        Assert.Contains(rig.Entries(), e => e is Recovered { Reversal: "already queued" });
    }

    [Fact]
    public async Task Killed_mid_dispense_on_a_device_without_counters_reverses_everything_as_suspect()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await AskedAsync(rig);
        await ApprovedAsync(rig);
        await rig.Journal.WriteAsync(DispenseStart(rig));

        Assert.Equal(1, await RecoverAsync(rig));

        var reversal = rig.SingleReversal();
        Assert.Equal((0L, ReversalReasons.SuspectedMalfunction), (reversal.DispensedMinor, reversal.ReasonCode));
    }

    [Fact]
    public async Task Killed_mid_dispense_on_a_device_with_counters_reverses_only_what_did_not_move()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await AskedAsync(rig);
        await ApprovedAsync(rig);
        var before = await rig.Dispenser.ReadDeviceCountersAsync(CancellationToken.None);
        await rig.Journal.WriteAsync(DispenseStart(rig, before));
        await rig.Device.DispenseAsync([new PositionCount(1, 1), new PositionCount(2, 1)], CancellationToken.None); // 30.00 moved, then the crash

        Assert.Equal(1, await RecoverAsync(rig));

        var reversal = rig.SingleReversal();
        Assert.Equal((3_000L, ReversalReasons.PartialDispense), (reversal.DispensedMinor, reversal.ReasonCode));
        Assert.Equal(99, rig.NotesIn("CASS1"));
        Assert.Equal(100, rig.NotesIn("CASS3"));
    }

    [Fact]
    public async Task A_finished_withdrawal_is_left_alone()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await AskedAsync(rig);
        await rig.Journal.WriteAsync(JournalSamples.Ended(Session));

        Assert.Equal(0, await RecoverAsync(rig));
        Assert.Empty(rig.Queue.Pending);
    }

    [Theory]
    [InlineData(ResponseCodes.DuplicateTransmission, true)]
    [InlineData(ResponseCodes.SystemMalfunction, true)]
    [InlineData(ResponseCodes.InsufficientFunds, false)]
    public async Task Killed_after_an_authentic_answer_that_is_not_a_clean_decline_reverses_in_full_as_unknown_outcome(string code, bool reversed)
    {
        using var rig = await MoneyPathRig.CreateAsync();
        await AskedAsync(rig);
        await rig.Journal.WriteAsync(new AuthoriseAnswered(code, true, null, null, false, null) { Session = Session, Stan = Stan });

        Assert.Equal(1, await RecoverAsync(rig));

        Assert.Equal(300, rig.NotesLeft);
        if (reversed)
        {
            var reversal = rig.SingleReversal();
            Assert.Equal((ReversalId, 8_000, 0L, ReversalReasons.UnknownOutcome), (reversal.Id, reversal.AmountMinor, reversal.DispensedMinor, reversal.ReasonCode));
            Assert.Contains(rig.Entries(), e => e is Recovered { Reversal: "full", How: "the host's answer left the outcome unknown" });
        }
        else
        {
            Assert.Empty(rig.Queue.Pending);
            Assert.Contains(rig.Entries(), e => e is Recovered { Reversal: "none needed" });
        }
    }

    private static Task<int> RecoverAsync(MoneyPathRig rig) =>
        new TerminalRecovery(rig.Journal, rig.Dispenser, rig.Forwarder, rig.Time, NullLogger.Instance).RecoverAsync(CancellationToken.None);

    private static Task<AuthoriseRequested> AskedAsync(MoneyPathRig rig) => rig.Journal.WriteAsync(JournalSamples.Asked(Session, Stan, transmission: Transmission));

    private static Task<AuthoriseAnswered> ApprovedAsync(MoneyPathRig rig) => rig.Journal.WriteAsync(JournalSamples.Answered(Session, Stan));

    private static DispenseStarted DispenseStart(MoneyPathRig rig, DeviceCounters? counters = null) =>
        JournalSamples.DispenseStart(Session, Stan, MoneyPathRig.Mix80, rig.Dispenser.CashUnits, counters, Transmission);
}
