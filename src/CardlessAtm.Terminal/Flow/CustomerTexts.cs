using CardlessAtm.Devices.Display;
using CardlessAtm.Devices.FaultCheck;
using CardlessAtm.Iso8583;
using CardlessAtm.Terminal.Texts;

namespace CardlessAtm.Terminal.Flow;

/// <summary>
/// The screens and messages the customer sees, built from one language's <see cref="CustomerTextCatalogue"/>
/// (chosen by <c>Terminal:Language</c>). Layout lives here, wording in the catalogue.
/// </summary>
public sealed class CustomerTexts
{
    private readonly CustomerTextCatalogue _catalogue;

    /// <summary>Builds the screens of <paramref name="catalogue"/>'s language.</summary>
    public CustomerTexts(CustomerTextCatalogue catalogue)
    {
        ArgumentNullException.ThrowIfNull(catalogue);
        _catalogue = catalogue;
    }

    /// <summary>The default language's screens.</summary>
    public static CustomerTexts English { get; } = new(CustomerTextCatalogue.English);

    /// <summary>The screens of <paramref name="language"/>.</summary>
    /// <exception cref="ArgumentException">There are no texts for that language.</exception>
    public static CustomerTexts For(string language) =>
        language == CustomerTextCatalogue.DefaultLanguage ? English : new(CustomerTextCatalogue.For(language));

    /// <summary>The language code.</summary>
    public string Language => _catalogue.Language;

    /// <summary>The heading of every screen.</summary>
    public string Title => Text(CustomerTextId.Title);

    /// <summary>The customer did not take the notes within Terminal:PresentTimeout; the ATM retracted them and reverses their value.</summary>
    public string NotesRetracted => Text(CustomerTextId.NotesRetracted);

    /// <summary>
    /// The host's answer does not say whether the withdrawal was declined (e.g. 94 duplicate, 96): no cash, and a
    /// full reversal undoes any debit.
    /// </summary>
    public string UnknownOutcome => Text(CustomerTextId.UnknownOutcome);

    /// <summary>The host's answer failed its MAC check.</summary>
    public string AnswerNotVerified => Text(CustomerTextId.AnswerNotVerified);

    /// <summary>The customer cancelled before any request (amount entry, QR on screen).</summary>
    public string CancelledByCustomer => Text(CustomerTextId.CancelledByCustomer);

    /// <summary>The QR code expired unused.</summary>
    public string QrExpired => Text(CustomerTextId.QrExpired);

    /// <summary>The customer cancelled while the request was out.</summary>
    public string Cancelled => Text(CustomerTextId.Cancelled);

    /// <summary>The approved withdrawal's message.</summary>
    public string TakeYourCash => Text(CustomerTextId.TakeCash);

    /// <summary>The dispenser failed and nothing came out.</summary>
    public string CouldNotPayOut => Text(CustomerTextId.CouldNotPayOut);

    /// <summary>The request could not be completed before any dispense.</summary>
    public string CouldNotComplete => Text(CustomerTextId.CouldNotComplete);

    /// <summary>The idle screen.</summary>
    public Screen Welcome() => Screen.Text(Title, Text(CustomerTextId.WelcomePrompt), Text(CustomerTextId.WelcomeNoCard));

    /// <summary>While the host cannot be reached.</summary>
    public Screen OutOfService() => new(Title, [Text(CustomerTextId.OutOfService), Text(CustomerTextId.UseAnotherAtm)], Tone: ScreenTone.Error);

    /// <summary>The amount-entry screen.</summary>
    public Screen AmountEntry(string typed, string currency, int maxMajor) => Screen.Text(
        Title,
        _catalogue.Format(CustomerTextId.AmountEntry, ("currency", currency), ("typed", typed.Length == 0 ? "_" : typed)),
        _catalogue.Format(CustomerTextId.AmountEntryLimit, ("max", maxMajor), ("currency", currency)),
        Text(CustomerTextId.AmountEntryKeys));

    /// <summary>The QR screen with its countdown.</summary>
    public Screen ScanQr(string amount, ModuleMatrix qr, string qrText, int secondsLeft) =>
        new(Title, [_catalogue.Format(CustomerTextId.ScanQr, ("amount", amount)), Text(CustomerTextId.CancelToStop)], qr, secondsLeft, QrText: qrText);

    /// <summary>While the host decides.</summary>
    public Screen Authorising(string amount) => Screen.Text(Title, _catalogue.Format(CustomerTextId.Authorising, ("amount", amount)), Text(CustomerTextId.PleaseWait));

    /// <summary>While notes are counted.</summary>
    public Screen Dispensing(string amount) => Screen.Text(Title, _catalogue.Format(CustomerTextId.Dispensing, ("amount", amount)));

    /// <summary>The notes are out.</summary>
    public Screen TakeCash(string amount) =>
        new(Title, [_catalogue.Format(CustomerTextId.TakeCashAmount, ("amount", amount)), Text(CustomerTextId.ThankYou)], Tone: ScreenTone.Success);

    /// <summary>Only part of the amount came out.</summary>
    public Screen Partial(string presented, string requested) => new(
        Title,
        [_catalogue.Format(CustomerTextId.PartialPaid, ("presented", presented), ("requested", requested)), Text(CustomerTextId.PartialNotCharged), Text(CustomerTextId.TakeCash)],
        Tone: ScreenTone.Error);

    /// <summary>The transaction ended without cash.</summary>
    public Screen Terminated(string reason) => new(Title, [Text(CustomerTextId.Terminated), reason], Tone: ScreenTone.Error);

    /// <summary>Customer words for a response code (never the technical reason).</summary>
    public string ForResponseCode(string? code) => Text(code switch
    {
        ResponseCodes.InsufficientFunds => CustomerTextId.DeclinedInsufficientFunds,
        ResponseCodes.IncorrectPin => CustomerTextId.DeclinedIncorrectPin,
        ResponseCodes.PinTriesExceeded => CustomerTextId.DeclinedPinTriesExceeded,
        ResponseCodes.ExceedsAmountLimit => CustomerTextId.DeclinedAmountLimit,
        ResponseCodes.ExceedsFrequencyLimit => CustomerTextId.DeclinedFrequencyLimit,
        ResponseCodes.InvalidAmount => CustomerTextId.DeclinedAmountMismatch,
        ResponseCodes.InvalidTransaction or ResponseCodes.DuplicateTransmission => CustomerTextId.DeclinedQrNoLongerValid,
        ResponseCodes.IssuerUnavailable or ResponseCodes.RoutingError => CustomerTextId.DeclinedBankUnreachable,
        _ => CustomerTextId.Declined,
    });

    /// <summary>Customer words for why the fault check refused: its first reason.</summary>
    /// <exception cref="ArgumentException">The verdict is ready (it has no reason).</exception>
    public string ForFault(FaultVerdict verdict)
    {
        ArgumentNullException.ThrowIfNull(verdict);
        return verdict.Reasons.Count == 0
            ? throw new ArgumentException("A ready verdict has no reason to show.", nameof(verdict))
            : ForFault(verdict.Reasons[0].Code, verdict.Amount.Currency);
    }

    /// <summary>Customer words for one fault code; <paramref name="currency"/> is the amount's, named by <see cref="FaultCode.CurrencyNotHeld"/>.</summary>
    public string ForFault(FaultCode code, Currency currency) => code switch
    {
        FaultCode.AmountNotPositive => Text(CustomerTextId.FaultAmountNotPositive),
        FaultCode.CurrencyNotHeld => _catalogue.Format(CustomerTextId.FaultCurrencyNotHeld, ("currency", currency.Code)),
        FaultCode.NoSuchDenomination => Text(CustomerTextId.FaultNoSuchDenomination),
        FaultCode.NotEnoughNotes => Text(CustomerTextId.FaultNotEnoughNotes),
        FaultCode.OverNoteLimit => Text(CustomerTextId.FaultOverNoteLimit),
        _ => Text(CustomerTextId.FaultCannotDispense),
    };

    private string Text(CustomerTextId id) => _catalogue.Format(id);
}
