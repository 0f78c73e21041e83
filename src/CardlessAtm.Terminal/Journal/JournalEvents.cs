namespace CardlessAtm.Terminal.Journal;

/// <summary>
/// The journal's event names: the <c>event</c> property of each line, which names its <see cref="JournalEntry"/>
/// type. Withdrawal steps are written before the action they name.
/// </summary>
public static class JournalEvents
{
    /// <summary>The terminal started (and ran recovery).</summary>
    public const string Started = "terminal-started";

    /// <summary>A customer began a withdrawal and typed an amount.</summary>
    public const string AmountEntered = "amount-entered";

    /// <summary>The fault check's verdict (ready, or the reasons).</summary>
    public const string FaultCheck = "fault-check";

    /// <summary>A QR session is about to be shown.</summary>
    public const string QrShown = "qr-shown";

    /// <summary>The session ended without a request (cancel, expiry, terminated).</summary>
    public const string SessionEnded = "session-ended";

    /// <summary>A forwarded request was refused before the host was asked.</summary>
    public const string RequestRefused = "request-refused";

    /// <summary>
    /// A summary of the forwarded requests that matched no session (no session on screen, another session,
    /// a used or unknown nonce, unreadable): their counts per response code and reason over an interval.
    /// </summary>
    public const string RequestsUnmatched = "requests-unmatched";

    /// <summary>A forwarded request for the session on screen was accepted.</summary>
    public const string RequestReceived = "request-received";

    /// <summary>The 0200 is about to be sent to the host.</summary>
    public const string AuthoriseRequest = "authorise-request";

    /// <summary>The host answered (or did not).</summary>
    public const string AuthoriseAnswer = "authorise-answer";

    /// <summary>The dispense is about to start (mix, counts and device counters before it).</summary>
    public const string DispenseStart = "dispense-start";

    /// <summary>The dispense ended (exactly what moved).</summary>
    public const string DispenseEnd = "dispense-end";

    /// <summary>The notes are at the exit; the terminal waits for the customer to take them (<see cref="PresentStarted"/>).</summary>
    public const string PresentStart = "present-start";

    /// <summary>The wait at the exit ended with the notes counted as taken (<see cref="NotesTaken"/>).</summary>
    public const string NotesTaken = "notes-taken";

    /// <summary>
    /// The retract of notes left at the exit is about to be commanded, with each cash unit's retracted and unknown
    /// counters before it (<see cref="RetractStarted"/>): recovery after a crash inside the retract compares them.
    /// </summary>
    public const string RetractStart = "retract-start";

    /// <summary>Notes left at the exit were retracted into the retract bin, the counts saved (<see cref="NotesRetracted"/>).</summary>
    public const string NotesRetracted = "notes-retracted";

    /// <summary>A reversal was stored for forwarding.</summary>
    public const string ReversalQueued = "reversal-queued";

    /// <summary>The host acknowledged a reversal (0430).</summary>
    public const string ReversalAcknowledged = "reversal-acknowledged";

    /// <summary>The host answered a reversal with something other than an authentic 00, or did not answer; it stays queued.</summary>
    public const string ReversalNotAcknowledged = "reversal-not-acknowledged";

    /// <summary>The withdrawal transaction failed unexpectedly after the host was asked; it was settled by a reversal.</summary>
    public const string WithdrawalFault = "withdrawal-fault";

    /// <summary>A withdrawal is finished (the customer's outcome and the phone's response code).</summary>
    public const string WithdrawalEnd = "withdrawal-end";

    /// <summary>Recovery settled a withdrawal interrupted by a crash.</summary>
    public const string Recovered = "recovered";

    /// <summary>The first entry of each new journal segment: the closed one's file name and the withdrawals still open.</summary>
    public const string SegmentStarted = "journal-segment";

    /// <summary>A fault sensor changed.</summary>
    public const string Sensor = "sensor";

    /// <summary>The dispenser was reset after a fault.</summary>
    public const string DispenserReset = "dispenser-reset";

    /// <summary>The session keys were suspect: a re-key was needed, an attempt failed, the keys were renewed, or re-keying was given up.</summary>
    public const string HostRekey = "host-rekey";

    /// <summary>
    /// Entries forced to the disk (fsync) before the action they record, because money moves next: the
    /// request to the host, the dispense and its outcome, a reversal, a recovery. Every other entry is
    /// written through to the operating system at once and reaches the disk with the next forced one —
    /// recovery needs none of them to settle money, and skipping their fsync halves the terminal's latency.
    /// </summary>
    public static bool MustReachDiskFirst(string @event) =>
        @event is AuthoriseRequest or DispenseStart or DispenseEnd or PresentStart or RetractStart or NotesRetracted or ReversalQueued or ReversalAcknowledged or Recovered or Started or SegmentStarted;

    /// <summary>The entry from which a withdrawal must be settled by recovery if it is not finished.</summary>
    public static bool OpensWithdrawal(string @event) => @event == AuthoriseRequest;

    /// <summary>The entries after which recovery has nothing left to settle for a withdrawal.</summary>
    public static bool FinishesWithdrawal(string @event) => @event is WithdrawalEnd or Recovered;
}
