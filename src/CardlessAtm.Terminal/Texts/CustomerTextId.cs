namespace CardlessAtm.Terminal.Texts;

/// <summary>
/// The stable id of every text a customer can see. A translation supplies one template per id; ids are never
/// renumbered or reused (journals and translators refer to them by name).
/// </summary>
public enum CustomerTextId
{
    /// <summary>The heading of every screen.</summary>
    Title,

    /// <summary>Idle screen, first line.</summary>
    WelcomePrompt,

    /// <summary>Idle screen, second line.</summary>
    WelcomeNoCard,

    /// <summary>The host cannot be reached or a device is unusable.</summary>
    OutOfService,

    /// <summary>Follows <see cref="OutOfService"/>.</summary>
    UseAnotherAtm,

    /// <summary>The amount typed so far. Placeholders: <c>{currency}</c>, <c>{typed}</c>.</summary>
    AmountEntry,

    /// <summary>The largest amount. Placeholders: <c>{max}</c>, <c>{currency}</c>.</summary>
    AmountEntryLimit,

    /// <summary>The keys of the amount-entry screen.</summary>
    AmountEntryKeys,

    /// <summary>Above the QR code. Placeholder: <c>{amount}</c>.</summary>
    ScanQr,

    /// <summary>Below the QR code.</summary>
    CancelToStop,

    /// <summary>While the host decides. Placeholder: <c>{amount}</c>.</summary>
    Authorising,

    /// <summary>Follows <see cref="Authorising"/>.</summary>
    PleaseWait,

    /// <summary>While notes are counted. Placeholder: <c>{amount}</c>.</summary>
    Dispensing,

    /// <summary>The notes are out. Placeholder: <c>{amount}</c>.</summary>
    TakeCashAmount,

    /// <summary>Follows <see cref="TakeCashAmount"/>.</summary>
    ThankYou,

    /// <summary>Only part of the amount came out. Placeholders: <c>{presented}</c>, <c>{requested}</c>.</summary>
    PartialPaid,

    /// <summary>Follows <see cref="PartialPaid"/>.</summary>
    PartialNotCharged,

    /// <summary>The approved withdrawal's message, and the last line of the partial screen.</summary>
    TakeCash,

    /// <summary>The first line of every screen that ends a withdrawal without cash.</summary>
    Terminated,

    /// <summary>The customer did not take the notes in time; they were retracted.</summary>
    NotesRetracted,

    /// <summary>The host's answer does not say whether the withdrawal was declined.</summary>
    UnknownOutcome,

    /// <summary>The host's answer failed its MAC.</summary>
    AnswerNotVerified,

    /// <summary>The customer cancelled at amount entry or while the QR code was shown.</summary>
    CancelledByCustomer,

    /// <summary>The QR code's session expired before a request came.</summary>
    QrExpired,

    /// <summary>The customer cancelled after the request was sent.</summary>
    Cancelled,

    /// <summary>The dispenser failed before any note came out.</summary>
    CouldNotPayOut,

    /// <summary>The request could not be sent or answered.</summary>
    CouldNotComplete,

    /// <summary>Response code 51.</summary>
    DeclinedInsufficientFunds,

    /// <summary>Response code 55.</summary>
    DeclinedIncorrectPin,

    /// <summary>Response code 75.</summary>
    DeclinedPinTriesExceeded,

    /// <summary>Response code 61.</summary>
    DeclinedAmountLimit,

    /// <summary>Response code 65.</summary>
    DeclinedFrequencyLimit,

    /// <summary>Response code 13.</summary>
    DeclinedAmountMismatch,

    /// <summary>Response codes 12 and 94.</summary>
    DeclinedQrNoLongerValid,

    /// <summary>Response codes 91 and 92.</summary>
    DeclinedBankUnreachable,

    /// <summary>Every other response code.</summary>
    Declined,

    /// <summary>A device fault stops dispensing (every device fault code).</summary>
    FaultCannotDispense,

    /// <summary>Fault check: the amount is zero or negative.</summary>
    FaultAmountNotPositive,

    /// <summary>Fault check: no cash unit holds the currency. Placeholder: <c>{currency}</c>.</summary>
    FaultCurrencyNotHeld,

    /// <summary>Fault check: the denominations cannot make the amount.</summary>
    FaultNoSuchDenomination,

    /// <summary>Fault check: not enough notes.</summary>
    FaultNotEnoughNotes,

    /// <summary>Fault check: more notes than one dispense may present.</summary>
    FaultOverNoteLimit,
}
