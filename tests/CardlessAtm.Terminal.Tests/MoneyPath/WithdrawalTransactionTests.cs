using CardlessAtm.Devices.Sensors;
using CardlessAtm.Iso8583;
using CardlessAtm.Network;
using CardlessAtm.Terminal.Flow;
using CardlessAtm.Terminal.Journal;
using CardlessAtm.Terminal.Links;

namespace CardlessAtm.Terminal.Tests.MoneyPath;

/// <summary>
/// Every host answer the withdrawal transaction can meet, each asserting the code for the phone, the notes
/// that left the cassettes and the reversal queue — not the mere presence of a journal line.
/// </summary>
public class WithdrawalTransactionTests
{
    [Fact]
    public async Task An_authentic_approval_dispenses_the_whole_amount_and_queues_nothing()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Host.Answers(ResponseCodes.Approved);

        var settled = await rig.WithdrawAsync();

        Assert.Equal(ResponseCodes.Approved, settled.ResponseCode);
        Assert.Equal(TerminalState.Done, settled.Final);
        Assert.Equal(Money.FromMajor(80, "EUR"), settled.Presented);
        Assert.Equal("A1B2C3", settled.AuthorizationCode);
        Assert.Equal(297, rig.NotesLeft);
        Assert.Empty(rig.Queue.Pending);
    }

    [Theory]
    [InlineData(ResponseCodes.InsufficientFunds)]
    [InlineData(ResponseCodes.IncorrectPin)]
    [InlineData(ResponseCodes.DoNotHonour)]
    [InlineData(ResponseCodes.InvalidTransaction)]
    [InlineData(ResponseCodes.InvalidAmount)]
    [InlineData(ResponseCodes.InvalidAccount)]
    [InlineData(ResponseCodes.FormatError)]
    [InlineData(ResponseCodes.SessionExpired)]
    [InlineData(ResponseCodes.NotPermittedToCardholder)]
    [InlineData(ResponseCodes.ExceedsAmountLimit)]
    [InlineData(ResponseCodes.SecurityViolation)]
    [InlineData(ResponseCodes.ExceedsFrequencyLimit)]
    [InlineData(ResponseCodes.PinTriesExceeded)]
    public async Task A_decline_moves_nothing_and_reverses_nothing(string code)
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Host.Answers(code);

        var settled = await rig.WithdrawAsync();

        Assert.Equal(code, settled.ResponseCode);
        Assert.Equal(TerminalState.Terminated, settled.Final);
        Assert.Equal(300, rig.NotesLeft);
        Assert.Empty(rig.Queue.Pending);
    }

    [Theory]
    [InlineData(ResponseCodes.DuplicateTransmission)] // a request with this key was already processed: maybe an attacker's copy, approved
    [InlineData(ResponseCodes.SystemMalfunction)] // the handler may have failed after the debit was committed
    [InlineData(ResponseCodes.IssuerUnavailable)]
    [InlineData(ResponseCodes.RoutingError)]
    [InlineData("Z9")] // a code this network does not use
    [InlineData(null)] // an authentic 0210 without field 39
    public async Task An_authentic_answer_that_is_not_a_clean_decline_dispenses_nothing_and_reverses_in_full(string? code)
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Host.Then(request =>
        {
            var response = ScriptedHostLink.Respond(request, ResponseCodes.DoNotHonour);
            if (code is null)
            {
                response.Remove(39);
            }
            else
            {
                response.ResponseCode = code;
            }

            return new HostAnswer(response, MacVerified: true);
        });

        var settled = await rig.WithdrawAsync();

        Assert.Equal(new WithdrawalSettlement(ResponseCodes.SystemMalfunction, null, CustomerTexts.English.UnknownOutcome, TerminalState.Terminated), settled);
        Assert.Equal((100, 100, 100), (rig.NotesIn("CASS1"), rig.NotesIn("CASS2"), rig.NotesIn("CASS3")));
        Assert.Equal(0, rig.Device.PresentedTotal);
        var request = rig.Host.Sent[0];
        var reversal = rig.SingleReversal();
        Assert.Equal(
            ($"{request.Stan:D6}-{request.GetString(7)}", request.Stan!.Value, request.RetrievalReferenceNumber, 8_000L, 0L, 978, ReversalReasons.UnknownOutcome, false),
            (reversal.Id, reversal.OriginalStan, reversal.RetrievalReference, reversal.AmountMinor, reversal.DispensedMinor, reversal.CurrencyNumeric, reversal.ReasonCode, reversal.IsPartial));
        Assert.Equal($"the host answered {code ?? "without field 39"}: the outcome of the 0200 is unknown", reversal.Reason);
        var queued = Assert.Single(rig.Entries().OfType<ReversalQueued>());
        Assert.Equal((reversal.Id, "full", ReversalReasons.UnknownOutcome, 8_000L), (queued.Id, queued.Kind, queued.ReasonCode, queued.Amount.AmountMinor));
        Assert.DoesNotContain(rig.Entries(), e => e is DispenseStarted);
    }

    [Fact]
    public async Task No_answer_moves_nothing_and_queues_a_full_timeout_reversal()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Host.TimesOut();

        var settled = await rig.WithdrawAsync();

        Assert.Equal(ResponseCodes.IssuerUnavailable, settled.ResponseCode);
        Assert.Equal(300, rig.NotesLeft);
        var reversal = rig.SingleReversal();
        Assert.Equal(8_000, reversal.AmountMinor);
        Assert.Equal(0, reversal.DispensedMinor);
        Assert.Equal(ReversalReasons.Timeout, reversal.ReasonCode);
    }

    [Fact]
    public async Task An_approval_whose_mac_fails_is_not_acted_on_and_is_reversed()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Host.Then(r => new HostAnswer(ScriptedHostLink.Respond(r, ResponseCodes.Approved), MacVerified: false));

        var settled = await rig.WithdrawAsync();

        Assert.Equal(ResponseCodes.SystemMalfunction, settled.ResponseCode);
        Assert.Equal(300, rig.NotesLeft);
        Assert.Equal(ReversalReasons.InvalidResponse, rig.SingleReversal().ReasonCode);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(7)]
    [InlineData(11)]
    [InlineData(37)]
    [InlineData(41)]
    public async Task A_replayed_approval_that_differs_in_a_bound_field_dispenses_nothing(int field)
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Host.Then(request =>
        {
            // An approval recorded from another request: MAC valid under the key, but another amount, time, STAN, RRN or ATM.
            var old = ScriptedHostLink.Respond(request, ResponseCodes.Approved);
            switch (field)
            {
                case 4: old.AmountMinor = 2_000; break;
                case 7: old.SetTransmissionDateTime(new DateTimeOffset(2026, 11, 30, 9, 0, 0, TimeSpan.Zero)); break;
                case 11: old.Stan = 999_000; break;
                case 37: old.RetrievalReferenceNumber = "633400000001"; break;
                default: old.TerminalId = "ATM00002"; break;
            }

            return new HostAnswer(old, MacVerified: true);
        });

        var settled = await rig.WithdrawAsync();

        Assert.Equal(ResponseCodes.SystemMalfunction, settled.ResponseCode);
        Assert.Equal(300, rig.NotesLeft);
        var reversal = rig.SingleReversal();
        Assert.Equal(ReversalReasons.InvalidResponse, reversal.ReasonCode);
        Assert.Equal(8_000, reversal.AmountMinor);
        Assert.Contains(rig.Entries(), e => e is AuthoriseAnswered a && a.Mismatch == $"{field}");
    }

    [Fact]
    public async Task Cancel_pressed_while_the_host_approved_dispenses_nothing_and_reverses_in_full()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Host.Answers(ResponseCodes.Approved);

        var settled = await rig.WithdrawAsync(Task.FromResult(true));

        Assert.Equal(ResponseCodes.DoNotHonour, settled.ResponseCode);
        Assert.Equal(300, rig.NotesLeft);
        var reversal = rig.SingleReversal();
        Assert.Equal(ReversalReasons.CustomerCancellation, reversal.ReasonCode);
        Assert.Equal(0, reversal.DispensedMinor);
    }

    [Fact]
    public async Task A_jam_pays_what_was_presented_and_reverses_the_rest_as_a_partial_dispense()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Device.Faults.JamAfterNotes = 2;
        rig.Host.Answers(ResponseCodes.Approved);

        var settled = await rig.WithdrawAsync();

        Assert.Equal(ResponseCodes.Approved, settled.ResponseCode);
        Assert.Equal(Money.FromMajor(30, "EUR"), settled.Presented);
        var reversal = rig.SingleReversal();
        Assert.Equal(ReversalReasons.PartialDispense, reversal.ReasonCode);
        Assert.Equal(3_000, reversal.DispensedMinor);
        Assert.Equal(99, rig.NotesIn("CASS1"));
        Assert.Equal(99, rig.NotesIn("CASS2"));
    }

    [Fact]
    public async Task A_cassette_pulled_while_the_host_decided_ends_in_a_full_reversal_not_a_wedged_atm()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Host.Then(request =>
        {
            rig.Sensors.Set("Cassette3", SensorState.Alert); // the 50s are gone by the time the approval arrives
            return new HostAnswer(ScriptedHostLink.Respond(request, ResponseCodes.Approved), MacVerified: true);
        });

        var settled = await rig.WithdrawAsync();

        Assert.Equal(ResponseCodes.SystemMalfunction, settled.ResponseCode);
        Assert.Equal(TerminalState.Terminated, settled.Final);
        Assert.Equal(300, rig.NotesLeft);
        var reversal = rig.SingleReversal();
        Assert.Equal(0, reversal.DispensedMinor);
        Assert.Equal(ReversalReasons.AtmMalfunction, reversal.ReasonCode);
        Assert.Contains(rig.Entries(), e => e is WithdrawalFault { Fault: "InvalidMixException" });
        Assert.Null(rig.UnusableReason);
    }

    [Fact]
    public async Task Any_exception_from_the_host_link_after_the_request_left_is_settled_by_a_full_reversal()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Host.Then(_ => throw new FormatException("a bug in the link"));

        var settled = await rig.WithdrawAsync();

        Assert.Equal(ResponseCodes.SystemMalfunction, settled.ResponseCode);
        Assert.Equal(300, rig.NotesLeft);
        Assert.Equal(8_000, rig.SingleReversal().AmountMinor);
    }

    [Fact]
    public async Task A_dispense_that_never_ends_is_abandoned_at_its_bound_reversed_as_suspect_and_the_dispenser_declared_unusable()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        rig.Device.Faults.NoteDelay = TimeSpan.FromHours(1);
        rig.Host.Answers(ResponseCodes.Approved);

        var running = rig.WithdrawAsync();
        while (!rig.Entries().Any(e => e.Event == JournalEvents.DispenseStart))
        {
            await Task.Delay(5);
        }

        rig.Time.Advance(TimeSpan.FromSeconds(11)); // past DispenseTimeout (10 s), far short of the first note
        var settled = await running.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(ResponseCodes.SystemMalfunction, settled.ResponseCode);
        var reversal = rig.SingleReversal();
        Assert.Equal(ReversalReasons.SuspectedMalfunction, reversal.ReasonCode);
        Assert.Equal(0, reversal.DispensedMinor);
        Assert.NotNull(rig.UnusableReason);
    }

    [Fact]
    public async Task A_reversal_is_on_disk_before_the_journal_says_it_was_queued()
    {
        using var rig = await MoneyPathRig.CreateAsync();
        var fileExistedWhenJournalled = false;
        rig.Journal.Written += e =>
        {
            if (e is ReversalQueued queued)
            {
                fileExistedWhenJournalled = rig.Queue.Contains(queued.Id);
            }
        };
        rig.Host.TimesOut();

        await rig.WithdrawAsync();

        Assert.True(fileExistedWhenJournalled);
    }
}
