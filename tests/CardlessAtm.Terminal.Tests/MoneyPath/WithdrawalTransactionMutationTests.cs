using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Channels;
using CardlessAtm.Network;
using CardlessAtm.Terminal.Flow;
using CardlessAtm.Terminal.Links;
using CardlessAtm.Terminal.StoreAndForward;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Terminal.Tests.MoneyPath;

/// <summary>
/// The withdrawal transaction stage by stage, for the mutants the happy paths leave alive: what the 0200
/// carries, every way the host's answer is refused, cancel, the device-counter reads, a dispense that throws
/// or hangs or moves part of the notes, a journal that fails at each write, and a crash at each stage followed
/// by the recovery of the next start. Each test asserts the code and text for the customer, the notes left,
/// the reversal in the queue (amount, dispensed amount, reason code and reason), the dispenser-fault metric and
/// whether the ATM declared the dispenser unusable; none asserts the mere presence of a journal line.
/// </summary>
public class WithdrawalTransactionMutationTests
{
    private const int Stan = 4711;
    private const string CouldNotPay = "The ATM could not pay out. Nothing will be charged.";
    private static readonly Money Eighty = Money.FromMajor(80, "EUR");
    private static readonly Money Nothing = new(0, Currency.FromNumericCode(978));

    [Fact]
    public async Task The_0200_carries_the_phone_fields_this_terminals_stan_and_rrn_and_each_stage_is_reported()
    {
        using var t = await Transaction.CreateAsync();
        t.Rig.Host.Answers(ResponseCodes.Approved);
        var phone = MoneyPathRig.PhoneRequest();
        phone.SessionPayload = "QR-PAYLOAD";
        phone.ProtectedData = [1, 2, 3];
        phone.RetrievalReferenceNumber = "999999999999";

        var settled = await t.RunAsync(phone: phone);

        var sent = Assert.Single(t.Rig.Host.Sent);
        Assert.Equal((Mti.FinancialRequest, Stan, "633510004711", MoneyPathRig.AtmId), (sent.Mti, sent.Stan, sent.RetrievalReferenceNumber, sent.TerminalId));
        Assert.Equal(("010000", 8_000L, 978, "QR-PAYLOAD"), (sent.ProcessingCode, sent.AmountMinor, sent.CurrencyCode, sent.SessionPayload));
        Assert.Equal([1, 2, 3], sent.ProtectedData!);
        Assert.Equal([TerminalState.Authorising, TerminalState.Dispensing, TerminalState.Presenting], t.States);
        Assert.Equal(new WithdrawalSettlement(ResponseCodes.Approved, Eighty, "Please take your cash.", TerminalState.Done, "A1B2C3"), settled);
        Assert.Equal(297, t.Rig.NotesLeft);
        Assert.Empty(t.Rig.Queue.Pending);
        Assert.Equal(0, t.Faults());
        Assert.Equal(0, t.Dispenser.Resets);
    }

    [Fact]
    public async Task A_phone_request_without_fields_48_and_127_sends_a_0200_without_them()
    {
        using var t = await Transaction.CreateAsync();
        t.Rig.Host.Answers(ResponseCodes.InsufficientFunds);

        await t.RunAsync();

        var sent = Assert.Single(t.Rig.Host.Sent);
        Assert.False(sent.Has(48));
        Assert.False(sent.Has(127));
        Assert.True(sent.Has(4));
    }

    [Fact]
    public async Task A_screen_that_throws_or_hangs_never_holds_up_or_breaks_the_money_path()
    {
        using var t = await Transaction.CreateAsync();
        t.Rig.Host.Answers(ResponseCodes.Approved);
        t.Screen = state => state switch
        {
            TerminalState.Authorising => throw new InvalidOperationException("display unplugged"),
            TerminalState.Dispensing => new TaskCompletionSource().Task, // never updates
            _ => Task.FromException(new IOException("display bus error")),
        };

        var settled = await t.AdvanceUntilDoneAsync(t.RunAsync());

        Assert.Equal((ResponseCodes.Approved, TerminalState.Done, Eighty), (settled.ResponseCode, settled.Final, settled.Presented));
        Assert.Equal(297, t.Rig.NotesLeft);
        Assert.Empty(t.Rig.Queue.Pending);
        Assert.Equal(3, t.States.Count);
    }

    [Theory]
    [InlineData("channel")]
    [InlineData("link-down")]
    [InlineData("timeout")]
    public async Task No_answer_of_any_kind_is_a_91_and_a_full_timeout_reversal_of_this_very_request(string how)
    {
        using var t = await Transaction.CreateAsync();
        t.Rig.Host.Then(_ => throw (how switch
        {
            "channel" => new Iso8583ChannelException(ChannelErrorReason.Timeout, "no answer"),
            "link-down" => new InvalidOperationException("not connected"),
            _ => (Exception)new TimeoutException("no answer"),
        }));

        var settled = await t.RunAsync();

        Assert.Equal(new WithdrawalSettlement(ResponseCodes.IssuerUnavailable, null, CustomerTexts.English.ForResponseCode(ResponseCodes.IssuerUnavailable), TerminalState.Terminated), settled);
        Assert.Equal(300, t.Rig.NotesLeft);
        t.AssertFullReversal(ReversalReasons.Timeout, "no answer from the host");
        Assert.Equal([TerminalState.Authorising], t.States);
    }

    [Theory]
    [InlineData("format")]
    [InlineData("cancelled-elsewhere")]
    public async Task Any_other_exception_from_the_link_is_an_atm_fault_settled_by_a_full_reversal(string how)
    {
        using var t = await Transaction.CreateAsync();
        t.Rig.Host.Then(_ => throw (how == "format" ? new FormatException("a bug in the link") : new TaskCanceledException("a token that is not the shutdown's")));

        var settled = await t.RunAsync();

        Assert.Equal(new WithdrawalSettlement(ResponseCodes.SystemMalfunction, null, CouldNotPay, TerminalState.Terminated), settled);
        Assert.Equal(300, t.Rig.NotesLeft);
        t.AssertFullReversal(ReversalReasons.AtmMalfunction, $"ATM fault before any note moved: {(how == "format" ? "FormatException" : "TaskCanceledException")}");
        Assert.Null(t.Unusable);
    }

    [Theory]
    [InlineData(false, null, "host answer failed its MAC check")]
    [InlineData(false, 4, "host answer failed its MAC check")]
    [InlineData(true, 4, "host answer not bound to the request (field(s) 4)")]
    [InlineData(true, 37, "host answer not bound to the request (field(s) 37)")]
    public async Task An_approval_that_is_not_authentic_pays_nothing_and_is_reversed_with_the_reason(bool macVerified, int? differs, string reason)
    {
        using var t = await Transaction.CreateAsync();
        t.Rig.Host.Then(request =>
        {
            var response = ScriptedHostLink.Respond(request, ResponseCodes.Approved);
            if (differs == 4)
            {
                response.AmountMinor = 2_000;
            }
            else if (differs == 37)
            {
                response.RetrievalReferenceNumber = "633400000001";
            }

            return new HostAnswer(response, macVerified);
        });

        var settled = await t.RunAsync();

        Assert.Equal(new WithdrawalSettlement(ResponseCodes.SystemMalfunction, null, "The bank's answer could not be verified.", TerminalState.Terminated), settled);
        Assert.Equal(300, t.Rig.NotesLeft);
        t.AssertFullReversal(ReversalReasons.InvalidResponse, reason);
    }

    [Theory]
    [InlineData("0230")]
    [InlineData("0430")]
    [InlineData("0200")]
    public async Task An_authentic_bound_approval_that_is_not_an_0210_pays_nothing_and_is_reversed(string mti)
    {
        using var t = await Transaction.CreateAsync();
        t.Rig.Host.Then(request =>
        {
            var response = ScriptedHostLink.Respond(request, ResponseCodes.Approved);
            response.Mti = mti;
            return new HostAnswer(response, MacVerified: true);
        });

        var settled = await t.RunAsync();

        Assert.Equal((ResponseCodes.SystemMalfunction, "The bank's answer could not be verified."), (settled.ResponseCode, settled.CustomerMessage));
        Assert.Equal(300, t.Rig.NotesLeft);
        t.AssertFullReversal(ReversalReasons.InvalidResponse, $"host answered {mti}, not 0210");
    }

    [Theory]
    [InlineData(ResponseCodes.InsufficientFunds, "Insufficient funds.")]
    [InlineData(ResponseCodes.PinTriesExceeded, "Too many wrong PINs: your cardless withdrawals are blocked. Please contact your bank.")]
    public async Task An_authentic_decline_passes_its_code_and_words_on_and_a_restart_finds_nothing_to_reverse(string code, string words)
    {
        using var t = await Transaction.CreateAsync();
        t.Rig.Host.Answers(code);

        var settled = await t.RunAsync(cancel: Task.FromResult(true)); // Cancel pressed too: a decline needs no reversal either way

        Assert.Equal(new WithdrawalSettlement(code, null, words, TerminalState.Terminated), settled);
        Assert.Equal(300, t.Rig.NotesLeft);
        Assert.Empty(t.Rig.Queue.Pending);
        Assert.Equal([TerminalState.Authorising], t.States);

        // The terminal dies before the dialogue closes the session: what the journal says of the answer must
        // still prove an authentic, bound decline, or recovery would credit money that was never debited.
        Assert.Equal(1, await t.RecoverAsync());
        Assert.Empty(t.Rig.Queue.Pending);
    }

    [Fact]
    public async Task An_authentic_answer_without_field_39_is_a_96_with_nothing_paid_and_a_full_unknown_outcome_reversal()
    {
        using var t = await Transaction.CreateAsync();
        t.Rig.Host.Then(request =>
        {
            var response = ScriptedHostLink.Respond(request, ResponseCodes.Approved);
            response.Remove(39);
            return new HostAnswer(response, MacVerified: true);
        });

        var settled = await t.RunAsync();

        // No field 39 does not say "declined before any debit": the outcome is unknown, so it is undone in full.
        Assert.Equal(new WithdrawalSettlement(ResponseCodes.SystemMalfunction, null, CustomerTexts.English.UnknownOutcome, TerminalState.Terminated), settled);
        Assert.Equal(300, t.Rig.NotesLeft);
        t.AssertFullReversal(ReversalReasons.UnknownOutcome, "the host answered without field 39: the outcome of the 0200 is unknown");
    }

    [Fact]
    public async Task Cancel_pressed_while_the_host_approved_is_a_05_and_a_full_cancellation_reversal()
    {
        using var t = await Transaction.CreateAsync();
        t.Rig.Host.Answers(ResponseCodes.Approved);

        var settled = await t.RunAsync(cancel: Task.FromResult(true));

        Assert.Equal(new WithdrawalSettlement(ResponseCodes.DoNotHonour, null, "Cancelled. Nothing will be charged.", TerminalState.Terminated), settled);
        Assert.Equal(300, t.Rig.NotesLeft);
        t.AssertFullReversal(ReversalReasons.CustomerCancellation, "customer cancelled while the host was deciding");
        Assert.Equal([TerminalState.Authorising], t.States);
    }

    [Theory]
    [InlineData("not pressed yet")]
    [InlineData("key failed")]
    public async Task A_cancel_that_did_not_happen_does_not_stop_an_approved_dispense(string how)
    {
        using var t = await Transaction.CreateAsync();
        t.Rig.Host.Answers(ResponseCodes.Approved);
        var cancel = how == "key failed" ? Task.FromException<bool>(new IOException("keypad gone")) : new TaskCompletionSource<bool>().Task;

        var settled = await t.RunAsync(cancel: cancel).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal((ResponseCodes.Approved, Eighty), (settled.ResponseCode, settled.Presented));
        Assert.Equal(297, t.Rig.NotesLeft);
        Assert.Empty(t.Rig.Queue.Pending);
    }

    [Fact]
    public async Task A_counter_read_that_hangs_is_abandoned_at_the_dispense_bound_and_reversed_before_any_note_moves()
    {
        using var t = await Transaction.CreateAsync();
        t.Rig.Host.Answers(ResponseCodes.Approved);
        t.Dispenser.CounterReads.Enqueue(() => new TaskCompletionSource<DeviceCounters?>().Task);

        var settled = await t.AdvanceUntilDoneAsync(t.RunAsync());

        Assert.Equal(new WithdrawalSettlement(ResponseCodes.SystemMalfunction, null, CouldNotPay, TerminalState.Terminated), settled);
        Assert.Equal(300, t.Rig.NotesLeft);
        t.AssertFullReversal(ReversalReasons.AtmMalfunction, "ATM fault before any note moved: TimeoutException");
    }

    [Fact]
    public async Task A_dispense_that_throws_after_notes_moved_is_settled_from_the_device_counters_as_a_partial_dispense()
    {
        using var t = await Transaction.CreateAsync();
        t.Rig.Host.Answers(ResponseCodes.Approved);
        t.Dispenser.Dispense = async (_, _) =>
        {
            await t.Rig.Device.DispenseAsync([new PositionCount(1, 1), new PositionCount(2, 1)], CancellationToken.None); // the 10 and the 20 came out
            throw new IOException("serial link lost");
        };

        var settled = await t.RunAsync();

        var thirty = Money.FromMajor(30, "EUR");
        var screen = CustomerTexts.English.Partial(thirty.ToString(), Eighty.ToString());
        Assert.Equal(new WithdrawalSettlement(ResponseCodes.Approved, thirty, string.Join(' ', screen.Lines), TerminalState.Done, null, screen), settled);
        Assert.Equal((99, 99, 100), (t.Rig.NotesIn("CASS1"), t.Rig.NotesIn("CASS2"), t.Rig.NotesIn("CASS3")));
        t.AssertReversal(ReversalReasons.PartialDispense, 3_000, "dispense failed: IOException");
        var moved = Assert.Single(t.Dispenser.RecoveredMoves);
        Assert.Equal([new PositionMovement(1, 1, 0, 0), new PositionMovement(2, 1, 0, 0)], moved!);
        Assert.Equal(1, t.Faults(DispenseCompletion.Partial));
        Assert.Null(t.Unusable);
    }

    [Theory]
    [InlineData("no counters at the start")]
    [InlineData("no counters after the fault")]
    public async Task A_dispense_that_throws_where_the_device_cannot_count_marks_the_notes_unknown_and_reverses_all_as_suspect(string how)
    {
        using var t = await Transaction.CreateAsync();
        t.Rig.Host.Answers(ResponseCodes.Approved);
        if (how == "no counters at the start")
        {
            t.Dispenser.CounterReads.Enqueue(() => Task.FromResult<DeviceCounters?>(null));
        }
        else
        {
            t.Dispenser.CounterReads.Enqueue(() => t.Rig.Dispenser.ReadDeviceCountersAsync(CancellationToken.None));
            t.Dispenser.CounterReads.Enqueue(() => Task.FromResult<DeviceCounters?>(null));
        }

        t.Dispenser.Dispense = async (_, _) =>
        {
            await t.Rig.Device.DispenseAsync([new PositionCount(1, 1)], CancellationToken.None);
            throw new IOException("serial link lost");
        };

        var settled = await t.RunAsync();

        Assert.Equal(new WithdrawalSettlement(ResponseCodes.SystemMalfunction, Nothing, CouldNotPay, TerminalState.Terminated), settled);
        Assert.Null(Assert.Single(t.Dispenser.RecoveredMoves));
        Assert.Equal(297, t.Rig.NotesLeft); // every requested note left its cassette with an unknown fate
        t.AssertReversal(ReversalReasons.SuspectedMalfunction, 0, "dispense failed: IOException");
        Assert.Equal(1, t.Faults(DispenseCompletion.Timeout));
        Assert.Null(t.Unusable);
    }

    [Fact]
    public async Task A_device_without_counters_is_not_asked_for_them_again_after_a_fault()
    {
        using var t = await Transaction.CreateAsync();
        t.Rig.Host.Answers(ResponseCodes.Approved);
        t.Dispenser.CounterReads.Enqueue(() => Task.FromResult<DeviceCounters?>(null));
        t.Dispenser.CounterReads.Enqueue(() => Task.FromException<DeviceCounters?>(new IOException("must not be asked")));
        t.Dispenser.Dispense = (_, _) => Task.FromException<DispenseResult>(new IOException("serial link lost"));

        await t.RunAsync();

        t.AssertReversal(ReversalReasons.SuspectedMalfunction, 0, "dispense failed: IOException");
        Assert.Equal(1, t.Faults(DispenseCompletion.Timeout)); // recovered as "no counters", not as a hardware error
        Assert.Single(t.Dispenser.CounterReads);
        Assert.Null(t.Unusable);
    }

    [Theory]
    [InlineData("counter read fails")]
    [InlineData("recovery fails")]
    public async Task A_dispense_that_throws_and_a_device_that_cannot_say_what_moved_is_suspect_and_takes_the_dispenser_out_of_service(string how)
    {
        using var t = await Transaction.CreateAsync();
        t.Rig.Host.Answers(ResponseCodes.Approved);
        t.Dispenser.CounterReads.Enqueue(() => t.Rig.Dispenser.ReadDeviceCountersAsync(CancellationToken.None));
        if (how == "counter read fails")
        {
            t.Dispenser.CounterReads.Enqueue(() => Task.FromException<DeviceCounters?>(new IOException("no answer")));
        }
        else
        {
            t.Dispenser.Recover = () => Task.FromException<DispenseResult>(new UnauthorizedAccessException("cash-unit file"));
        }

        t.Dispenser.Dispense = (_, _) => Task.FromException<DispenseResult>(new IOException("serial link lost"));

        var settled = await t.RunAsync();

        Assert.Equal(new WithdrawalSettlement(ResponseCodes.SystemMalfunction, Nothing, CouldNotPay, TerminalState.Terminated), settled);
        t.AssertReversal(ReversalReasons.SuspectedMalfunction, 0, "dispense failed: IOException");
        Assert.Equal(1, t.Faults(DispenseCompletion.HardwareError));
        Assert.Equal($"the dispenser failed and cannot say what it moved ({(how == "counter read fails" ? "IOException" : "UnauthorizedAccessException")})", t.Unusable);
    }

    [Fact]
    public async Task A_mix_the_cassettes_no_longer_hold_is_refused_before_any_note_moves_and_reversed_in_full()
    {
        using var t = await Transaction.CreateAsync();
        t.Rig.Host.Then(request =>
        {
            t.Rig.Sensors.Set("Cassette3", Devices.Sensors.SensorState.Alert);
            return new HostAnswer(ScriptedHostLink.Respond(request, ResponseCodes.Approved), MacVerified: true);
        });

        var settled = await t.RunAsync();

        Assert.Equal(new WithdrawalSettlement(ResponseCodes.SystemMalfunction, Nothing, CouldNotPay, TerminalState.Terminated), settled);
        Assert.Equal(300, t.Rig.NotesLeft);
        t.AssertFullReversal(ReversalReasons.AtmMalfunction, "dispense failed: InvalidMixException");
        Assert.Equal(1, t.Faults(DispenseCompletion.InvalidRequest));
        Assert.Empty(t.Dispenser.RecoveredMoves); // nothing to ask the device: it was never commanded
        Assert.Null(t.Unusable);
    }

    [Fact]
    public async Task A_dispense_that_never_ends_is_suspect_in_full_and_the_dispenser_unusable()
    {
        using var t = await Transaction.CreateAsync();
        t.Rig.Device.Faults.NoteDelay = TimeSpan.FromHours(1);
        t.Rig.Host.Answers(ResponseCodes.Approved);

        var settled = await t.AdvanceUntilDoneAsync(t.RunAsync());

        Assert.Equal(new WithdrawalSettlement(ResponseCodes.SystemMalfunction, Nothing, CouldNotPay, TerminalState.Terminated), settled);
        t.AssertFullReversal(ReversalReasons.SuspectedMalfunction, "dispense failed: TimeoutException");
        Assert.Equal(1, t.Faults(DispenseCompletion.Timeout));
        Assert.Equal("the dispenser did not finish a dispense within 00:00:10", t.Unusable);
        Assert.Empty(t.Dispenser.RecoveredMoves);
    }

    [Fact]
    public async Task A_jam_pays_the_notes_presented_reverses_the_rest_and_resets_the_mechanism_for_the_next_customer()
    {
        using var t = await Transaction.CreateAsync();
        t.Rig.Device.Faults.JamAfterNotes = 2;
        t.Rig.Host.Answers(ResponseCodes.Approved).Answers(ResponseCodes.Approved);

        var settled = await t.RunAsync();

        var thirty = Money.FromMajor(30, "EUR");
        var screen = CustomerTexts.English.Partial(thirty.ToString(), Eighty.ToString());
        Assert.Equal(new WithdrawalSettlement(ResponseCodes.Approved, thirty, string.Join(' ', screen.Lines), TerminalState.Done, "A1B2C3", screen), settled);
        t.AssertReversal(ReversalReasons.PartialDispense, 3_000, "dispense Jam");
        Assert.Equal(1, t.Faults(DispenseCompletion.Jam));
        Assert.Equal(1, t.Dispenser.Resets);
        Assert.Equal([TerminalState.Authorising, TerminalState.Dispensing, TerminalState.Presenting], t.States);

        // The reset cleared the transport: the next customer gets all the notes.
        t.Rig.Device.Faults.Clear();
        var next = await t.RunAsync(stan: Stan + 1);
        Assert.Equal((ResponseCodes.Approved, Eighty), (next.ResponseCode, next.Presented));
        Assert.Single(t.Rig.Queue.Pending);
    }

    [Fact]
    public async Task A_dispense_whose_notes_all_went_to_the_reject_tray_is_a_96_and_a_full_malfunction_reversal()
    {
        using var t = await Transaction.CreateAsync();
        t.Rig.Device.Faults.ShutterJam = true;
        t.Rig.Host.Answers(ResponseCodes.Approved);

        var settled = await t.RunAsync();

        Assert.Equal(new WithdrawalSettlement(ResponseCodes.SystemMalfunction, Nothing, CouldNotPay, TerminalState.Terminated), settled);
        t.AssertFullReversal(ReversalReasons.AtmMalfunction, $"dispense {DispenseCompletion.ShutterFault}");
        Assert.Equal(1, t.Faults(DispenseCompletion.ShutterFault));
        Assert.Equal(1, t.Dispenser.Resets);
    }

    [Fact]
    public async Task A_device_that_stops_answering_mid_dispense_reverses_all_as_suspect()
    {
        using var t = await Transaction.CreateAsync();
        t.Rig.Device.Faults.NoAnswer = true;
        t.Rig.Host.Answers(ResponseCodes.Approved);

        var settled = await t.RunAsync();

        Assert.Equal((ResponseCodes.SystemMalfunction, TerminalState.Terminated), (settled.ResponseCode, settled.Final));
        var reversal = t.Rig.SingleReversal();
        Assert.Equal((ReversalReasons.SuspectedMalfunction, 0L, "dispense Timeout"), (reversal.ReasonCode, reversal.DispensedMinor, reversal.Reason));
    }

    [Fact]
    public async Task A_dispense_that_reports_a_fault_after_presenting_every_note_is_reported_to_the_host_with_nothing_credited()
    {
        using var t = await Transaction.CreateAsync();
        t.Rig.Host.Answers(ResponseCodes.Approved);
        t.Dispenser.Dispense = (mix, _) => Task.FromResult(new DispenseResult(DispenseCompletion.Jam, mix.Amount,
            [.. mix.Items.Select(i => new UnitMovement(i.CashUnitId, i.Denomination, i.Notes, 0, 0))]));

        var settled = await t.RunAsync();

        Assert.Equal((ResponseCodes.Approved, Eighty, TerminalState.Done), (settled.ResponseCode, settled.Presented, settled.Final));
        t.AssertReversal(ReversalReasons.PartialDispense, 8_000, $"dispense {DispenseCompletion.Jam}"); // 95 = the whole amount: no credit
        Assert.Equal(1, t.Dispenser.Resets);
    }

    [Fact]
    public async Task A_missing_phone_request_or_cancel_task_is_refused_before_anything_is_sent()
    {
        using var t = await Transaction.CreateAsync();

        await Assert.ThrowsAsync<ArgumentNullException>(() => t.Raw.RunAsync("s", Eighty, MoneyPathRig.Mix80, null!, Stan, Task.FromResult(false), CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentNullException>(() => t.Raw.RunAsync("s", Eighty, MoneyPathRig.Mix80, MoneyPathRig.PhoneRequest(), Stan, null!, CancellationToken.None));

        Assert.Empty(t.Rig.Host.Sent);
        Assert.Empty(t.States);
        Assert.Empty(t.Rig.Queue.Pending);
    }

    [Fact]
    public async Task A_refused_mix_on_a_device_without_counters_is_closed_in_the_journal_so_a_restart_marks_no_note_unknown()
    {
        using var t = await Transaction.CreateAsync();
        t.Dispenser.CounterReads.Enqueue(() => Task.FromResult<DeviceCounters?>(null));
        t.Rig.Host.Then(request =>
        {
            t.Rig.Sensors.Set("Cassette3", Devices.Sensors.SensorState.Alert);
            return new HostAnswer(ScriptedHostLink.Respond(request, ResponseCodes.Approved), MacVerified: true);
        });
        await t.RunAsync();

        await t.RecoverAsync();

        Assert.Equal(300, t.Rig.NotesLeft); // without the settled end, recovery would take the three notes as gone
        t.AssertFullReversal(ReversalReasons.AtmMalfunction, "dispense failed: InvalidMixException");
    }

    [Theory]
    [InlineData(1)] // authorise-request
    public async Task A_journal_that_fails_before_the_request_leaves_sends_nothing_and_reverses_nothing(int write)
    {
        using var t = await Transaction.CreateAsync();
        t.FailJournalWrites(write);

        var settled = await t.RunAsync();

        Assert.Equal(new WithdrawalSettlement(ResponseCodes.SystemMalfunction, null, "The ATM could not complete the request.", TerminalState.Terminated), settled);
        Assert.Empty(t.Rig.Host.Sent);
        Assert.Empty(t.Rig.Queue.Pending);
        Assert.Equal(300, t.Rig.NotesLeft);
        Assert.Null(t.Unusable);
    }

    [Theory]
    [InlineData(2)] // the answer
    [InlineData(3)] // the dispense start
    public async Task A_journal_that_fails_after_an_approval_and_before_any_note_moved_is_a_full_reversal(int write)
    {
        using var t = await Transaction.CreateAsync();
        t.Rig.Host.Answers(ResponseCodes.Approved);
        t.FailJournalWrites(write);

        var settled = await t.RunAsync();

        Assert.Equal(new WithdrawalSettlement(ResponseCodes.SystemMalfunction, null, CouldNotPay, TerminalState.Terminated), settled);
        Assert.Equal(300, t.Rig.NotesLeft);
        t.AssertFullReversal(ReversalReasons.AtmMalfunction, "ATM fault before any note moved: IOException");
        Assert.Null(t.Unusable);
    }

    [Fact]
    public async Task A_journal_that_fails_after_a_complete_dispense_still_pays_and_reverses_nothing()
    {
        using var t = await Transaction.CreateAsync();
        t.Rig.Host.Answers(ResponseCodes.Approved);
        t.FailJournalWrites(4); // the dispense end

        var settled = await t.RunAsync();

        Assert.Equal(new WithdrawalSettlement(ResponseCodes.Approved, Eighty, "Please take your cash.", TerminalState.Done), settled);
        Assert.Equal(297, t.Rig.NotesLeft);
        Assert.Empty(t.Rig.Queue.Pending);
    }

    [Fact]
    public async Task A_journal_that_fails_after_a_partial_dispense_pays_the_part_and_reverses_the_rest()
    {
        using var t = await Transaction.CreateAsync();
        t.Rig.Device.Faults.JamAfterNotes = 2;
        t.Rig.Host.Answers(ResponseCodes.Approved);
        t.FailJournalWrites(4); // the dispense end

        var settled = await t.RunAsync();

        var thirty = Money.FromMajor(30, "EUR");
        var screen = CustomerTexts.English.Partial(thirty.ToString(), Eighty.ToString());
        Assert.Equal(new WithdrawalSettlement(ResponseCodes.Approved, thirty, string.Join(' ', screen.Lines), TerminalState.Done, null, screen), settled);
        t.AssertReversal(ReversalReasons.PartialDispense, 3_000, "fault after the dispense: IOException");
    }

    [Fact]
    public async Task A_journal_that_fails_after_a_dispense_with_notes_of_unknown_fate_reverses_them_as_suspect()
    {
        using var t = await Transaction.CreateAsync();
        t.Rig.Host.Answers(ResponseCodes.Approved);
        t.Dispenser.Dispense = (mix, _) => Task.FromResult(new DispenseResult(DispenseCompletion.Ok, mix.Amount,
            [.. mix.Items.Select(i => new UnitMovement(i.CashUnitId, i.Denomination, i.Notes, 0, i.CashUnitId == "CASS1" ? 1 : 0))]));
        t.FailJournalWrites(4);

        var settled = await t.RunAsync();

        Assert.Equal((ResponseCodes.Approved, Eighty), (settled.ResponseCode, settled.Presented));
        t.AssertReversal(ReversalReasons.SuspectedMalfunction, 8_000, "fault after the dispense: IOException");
    }

    [Fact]
    public async Task A_reversal_that_cannot_be_journalled_takes_the_atm_out_of_service_with_the_reversal_still_on_disk()
    {
        using var t = await Transaction.CreateAsync();
        t.Rig.Host.TimesOut();
        t.FailJournalWrites(3, count: 10); // the reversal's line, the fault's line, and the reversal's line again

        var settled = await t.RunAsync();

        Assert.Equal((ResponseCodes.SystemMalfunction, TerminalState.Terminated, (Money?)null), (settled.ResponseCode, settled.Final, settled.Presented));
        var reversal = t.Rig.SingleReversal();
        Assert.Equal((8_000L, 0L), (reversal.AmountMinor, reversal.DispensedMinor));
        Assert.Equal("withdrawal session-1 could not be settled: disk full", t.Unusable);
    }

    [Fact]
    public async Task A_crash_while_the_host_decides_leaves_nothing_queued_and_the_restart_reverses_the_request_in_full()
    {
        using var t = await Transaction.CreateAsync();
        t.Rig.Host.Then(_ => throw t.Crash());

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => t.RunAsync());
        Assert.Empty(t.Rig.Queue.Pending);

        Assert.Equal(1, await t.RecoverAsync());
        t.AssertFullReversal(ReversalReasons.Timeout, "recovery: no answer from the host was recorded");
    }

    [Fact]
    public async Task A_crash_after_an_approval_and_before_the_dispense_leaves_a_journal_the_restart_reverses_in_full()
    {
        using var t = await Transaction.CreateAsync();
        t.Rig.Host.Answers(ResponseCodes.Approved);
        t.Dispenser.CounterReads.Enqueue(() => throw t.Crash());

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => t.RunAsync());
        Assert.Empty(t.Rig.Queue.Pending);

        Assert.Equal(1, await t.RecoverAsync());
        t.AssertFullReversal(ReversalReasons.AtmMalfunction, "recovery: approved but nothing was dispensed");
        Assert.Equal(300, t.Rig.NotesLeft);
    }

    [Fact]
    public async Task A_crash_mid_dispense_leaves_a_journal_from_which_the_restart_counts_what_came_out()
    {
        using var t = await Transaction.CreateAsync();
        t.Rig.Host.Answers(ResponseCodes.Approved);
        t.Dispenser.Dispense = async (_, _) =>
        {
            await t.Rig.Device.DispenseAsync([new PositionCount(1, 1), new PositionCount(2, 1)], CancellationToken.None);
            throw t.Crash();
        };

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => t.RunAsync());
        Assert.Empty(t.Rig.Queue.Pending);
        Assert.Equal(300, t.Rig.NotesLeft); // the counts did not learn of the notes before the crash

        Assert.Equal(1, await t.RecoverAsync());
        t.AssertReversal(ReversalReasons.PartialDispense, 3_000, "recovery: dispense interrupted; settled from the device counters");
        Assert.Equal((99, 99, 100), (t.Rig.NotesIn("CASS1"), t.Rig.NotesIn("CASS2"), t.Rig.NotesIn("CASS3")));
    }

    [Fact]
    public async Task After_a_settled_fault_a_restart_settles_nothing_twice()
    {
        using var t = await Transaction.CreateAsync();
        t.Rig.Host.Answers(ResponseCodes.Approved);
        t.Dispenser.Dispense = async (_, _) =>
        {
            await t.Rig.Device.DispenseAsync([new PositionCount(1, 1)], CancellationToken.None);
            throw new IOException("serial link lost");
        };
        await t.RunAsync();

        await t.RecoverAsync();

        t.AssertReversal(ReversalReasons.PartialDispense, 1_000, "dispense failed: IOException");
        Assert.Equal((99, 100, 100), (t.Rig.NotesIn("CASS1"), t.Rig.NotesIn("CASS2"), t.Rig.NotesIn("CASS3")));
    }

    /// <summary>A transaction over the rig with a scripted dispenser, its own meters, and a shutdown token the test can pull.</summary>
    private sealed class Transaction : IDisposable
    {
        private readonly CancellationTokenSource _shutdown = new();
        private readonly TestMeters _meters = new();
        private readonly TerminalMetrics _metrics;
        private readonly WithdrawalTransaction _transaction;
        private int _writes;

        private Transaction(MoneyPathRig rig)
        {
            Rig = rig;
            Dispenser = new ScriptedDispenser(rig.Dispenser);
            _metrics = new TerminalMetrics(() => 0, () => 0, _meters);
            _transaction = new WithdrawalTransaction(rig.Host, Dispenser, rig.Forwarder, rig.Journal, rig.Options, _metrics, rig.Time, NullLogger.Instance);
            _transaction.DispenserUnusable += reason => Unusable = reason;
            _transaction.Progress += state =>
            {
                States.Add(state);
                return Screen(state);
            };
        }

        public MoneyPathRig Rig { get; }

        public WithdrawalTransaction Raw => _transaction;

        public ScriptedDispenser Dispenser { get; }

        public List<TerminalState> States { get; } = [];

        public Func<TerminalState, Task> Screen { get; set; } = _ => Task.CompletedTask;

        public string? Unusable { get; private set; }

        public static async Task<Transaction> CreateAsync() => new(await MoneyPathRig.CreateAsync());

        public Task<WithdrawalSettlement> RunAsync(Task<bool>? cancel = null, IsoMessage? phone = null, int stan = Stan) =>
            _transaction.RunAsync("session-1", Eighty, MoneyPathRig.Mix80, phone ?? MoneyPathRig.PhoneRequest(), stan, cancel ?? Task.FromResult(false), _shutdown.Token);

        /// <summary>The process dies here: shutdown is signalled and the cancellation surfaces.</summary>
        public OperationCanceledException Crash()
        {
            _shutdown.Cancel();
            return new OperationCanceledException(_shutdown.Token);
        }

        /// <summary>The next start's recovery, over the same journal, queue and dispenser.</summary>
        public Task<int> RecoverAsync() =>
            new TerminalRecovery(Rig.Journal, Rig.Dispenser, Rig.Forwarder, Rig.Time, NullLogger.Instance).RecoverAsync(CancellationToken.None);

        /// <summary>Journal writes number <paramref name="from"/> onwards (counted from 1) throw after reaching the disk.</summary>
        public void FailJournalWrites(int from, int count = 1) => Rig.Journal.Written += _ =>
        {
            var n = Interlocked.Increment(ref _writes);
            if (n >= from && n < from + count)
            {
                throw new IOException("disk full");
            }
        };

        public long Faults(DispenseCompletion? kind = null) =>
            kind is null ? _meters.Total("cardless_atm.dispenser.faults") : _meters.Total("cardless_atm.dispenser.faults", "kind", kind.ToString());

        /// <summary>Moves the fake clock a second at a time until the transaction settles (it waits on bounds).</summary>
        public async Task<WithdrawalSettlement> AdvanceUntilDoneAsync(Task<WithdrawalSettlement> running)
        {
            for (var i = 0; i < 300 && !running.IsCompleted; i++)
            {
                await Task.Delay(5);
                Rig.Time.Advance(TimeSpan.FromSeconds(1));
            }

            return await running.WaitAsync(TimeSpan.FromSeconds(30));
        }

        public void AssertFullReversal(string reasonCode, string reason) => AssertReversal(reasonCode, 0, reason);

        /// <summary>The one reversal in the queue is for this withdrawal's 0200, with these amounts and reasons.</summary>
        public void AssertReversal(string reasonCode, long dispensedMinor, string reason)
        {
            var reversal = Rig.SingleReversal();
            var transmission = Rig.Host.Sent[0].GetString(7)!;
            Assert.Equal(($"{Stan:D6}-{transmission}", Stan, transmission, "633510004711"), (reversal.Id, reversal.OriginalStan, reversal.OriginalTransmission, reversal.RetrievalReference));
            Assert.Equal((8_000L, dispensedMinor, 978, "session-1"), (reversal.AmountMinor, reversal.DispensedMinor, reversal.CurrencyNumeric, reversal.Session));
            Assert.Equal((reasonCode, reason), (reversal.ReasonCode, reversal.Reason));
            Assert.Equal(ReversalStatus.Pending, reversal.Status);
        }

        public void Dispose()
        {
            _metrics.Dispose();
            _meters.Dispose();
            _shutdown.Dispose();
            Rig.Dispose();
        }
    }
}
