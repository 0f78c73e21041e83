namespace CardlessAtm.Terminal.Texts;

/// <summary>The German texts (<c>de</c>).</summary>
internal static class GermanCustomerTexts
{
    public static readonly IReadOnlyDictionary<CustomerTextId, string> Templates = new Dictionary<CustomerTextId, string>
    {
        [CustomerTextId.Title] = "Bargeld ohne Karte",
        [CustomerTextId.WelcomePrompt] = "ENTER drücken, um Bargeld abzuheben",
        [CustomerTextId.WelcomeNoCard] = "mit Ihrem Telefon — ohne Karte.",
        [CustomerTextId.OutOfService] = "Vorübergehend außer Betrieb.",
        [CustomerTextId.UseAnotherAtm] = "Bitte nutzen Sie einen anderen Geldautomaten.",
        [CustomerTextId.AmountEntry] = "Betrag ({currency}): {typed}",
        [CustomerTextId.AmountEntryLimit] = "Bis zu {max} {currency}.",
        [CustomerTextId.AmountEntryKeys] = "ENTER bestätigen · CLEAR löschen · CANCEL abbrechen",
        [CustomerTextId.ScanQr] = "Mit Ihrer Banking-App scannen: {amount}",
        [CustomerTextId.CancelToStop] = "CANCEL zum Abbrechen",
        [CustomerTextId.Authorising] = "{amount} wird autorisiert…",
        [CustomerTextId.PleaseWait] = "Bitte warten.",
        [CustomerTextId.Dispensing] = "{amount} wird ausgezahlt…",
        [CustomerTextId.TakeCashAmount] = "Bitte entnehmen Sie Ihr Geld: {amount}",
        [CustomerTextId.ThankYou] = "Vielen Dank.",
        [CustomerTextId.PartialPaid] = "Nur {presented} von {requested} konnten ausgezahlt werden.",
        [CustomerTextId.PartialNotCharged] = "Der Rest wird Ihrem Konto nicht belastet.",
        [CustomerTextId.TakeCash] = "Bitte entnehmen Sie Ihr Geld.",
        [CustomerTextId.Terminated] = "Vorgang abgebrochen.",
        [CustomerTextId.NotesRetracted] = "Das Geld wurde nicht rechtzeitig entnommen und wieder eingezogen. Dafür wird nichts belastet.",
        [CustomerTextId.UnknownOutcome] = "Die Abhebung konnte nicht abgeschlossen werden. Ein von Ihrem Konto abgebuchter Betrag wird erstattet.",
        [CustomerTextId.AnswerNotVerified] = "Die Antwort Ihrer Bank konnte nicht geprüft werden.",
        [CustomerTextId.Cancelled] = "Abgebrochen. Es wird nichts belastet.",
        [CustomerTextId.CouldNotPayOut] = "Der Geldautomat konnte nicht auszahlen. Es wird nichts belastet.",
        [CustomerTextId.CouldNotComplete] = "Der Geldautomat konnte den Auftrag nicht ausführen.",
        [CustomerTextId.DeclinedInsufficientFunds] = "Ihr Guthaben reicht nicht aus.",
        [CustomerTextId.DeclinedIncorrectPin] = "Falsche PIN.",
        [CustomerTextId.DeclinedPinTriesExceeded] = "Zu viele falsche PINs: Ihre Abhebungen ohne Karte sind gesperrt. Bitte wenden Sie sich an Ihre Bank.",
        [CustomerTextId.DeclinedAmountLimit] = "Das übersteigt Ihr tägliches Abhebungslimit.",
        [CustomerTextId.DeclinedFrequencyLimit] = "Sie haben die Zahl der Abhebungen für heute erreicht.",
        [CustomerTextId.DeclinedAmountMismatch] = "Der Betrag stimmt nicht mit dem QR-Code überein.",
        [CustomerTextId.DeclinedQrNoLongerValid] = "Dieser QR-Code ist nicht mehr gültig.",
        [CustomerTextId.DeclinedBankUnreachable] = "Ihre Bank ist nicht erreichbar. Bitte versuchen Sie es später noch einmal.",
        [CustomerTextId.Declined] = "Ihre Bank hat die Abhebung abgelehnt.",
        [CustomerTextId.FaultCannotDispense] = "Dieser Geldautomat kann gerade kein Bargeld auszahlen. Ihr Vorgang wurde abgebrochen.",
        [CustomerTextId.FaultAmountNotPositive] = "Bitte geben Sie einen Betrag über null ein.",
        [CustomerTextId.FaultCurrencyNotHeld] = "Dieser Geldautomat zahlt keine {currency} aus.",
        [CustomerTextId.FaultNoSuchDenomination] = "Dieser Betrag lässt sich mit den Scheinen dieses Geldautomaten nicht auszahlen. Bitte wählen Sie einen anderen Betrag.",
        [CustomerTextId.FaultNotEnoughNotes] = "Dieser Geldautomat hat nicht genug Scheine für diesen Betrag. Bitte wählen Sie einen kleineren Betrag.",
        [CustomerTextId.FaultOverNoteLimit] = "Dieser Betrag ist höher, als dieser Geldautomat auf einmal auszahlen kann. Bitte wählen Sie einen kleineren Betrag.",
    };
}
