namespace CardlessAtm.Terminal.Texts;

/// <summary>The English texts (<c>en</c>), the default and the reference every translation is checked against.</summary>
internal static class EnglishCustomerTexts
{
    public static readonly IReadOnlyDictionary<CustomerTextId, string> Templates = new Dictionary<CustomerTextId, string>
    {
        [CustomerTextId.Title] = "Cardless withdrawal",
        [CustomerTextId.WelcomePrompt] = "Press ENTER to withdraw cash",
        [CustomerTextId.WelcomeNoCard] = "with your phone — no card needed.",
        [CustomerTextId.OutOfService] = "Temporarily out of service.",
        [CustomerTextId.UseAnotherAtm] = "Please use another ATM.",
        [CustomerTextId.AmountEntry] = "Amount ({currency}): {typed}",
        [CustomerTextId.AmountEntryLimit] = "Up to {max} {currency}.",
        [CustomerTextId.AmountEntryKeys] = "ENTER confirm · CLEAR · CANCEL",
        [CustomerTextId.ScanQr] = "Scan with your banking app: {amount}",
        [CustomerTextId.CancelToStop] = "CANCEL to stop",
        [CustomerTextId.Authorising] = "Authorising {amount}…",
        [CustomerTextId.PleaseWait] = "Please wait.",
        [CustomerTextId.Dispensing] = "Dispensing {amount}…",
        [CustomerTextId.TakeCashAmount] = "Please take your cash: {amount}",
        [CustomerTextId.ThankYou] = "Thank you.",
        [CustomerTextId.PartialPaid] = "Only {presented} of {requested} could be paid.",
        [CustomerTextId.PartialNotCharged] = "The rest will not be charged to your account.",
        [CustomerTextId.TakeCash] = "Please take your cash.",
        [CustomerTextId.Terminated] = "Transaction terminated.",
        [CustomerTextId.NotesRetracted] = "The cash was not taken in time and has been taken back. Nothing will be charged for it.",
        [CustomerTextId.UnknownOutcome] = "The withdrawal could not be completed. Any amount taken from your account will be refunded.",
        [CustomerTextId.AnswerNotVerified] = "The bank's answer could not be verified.",
        [CustomerTextId.Cancelled] = "Cancelled. Nothing will be charged.",
        [CustomerTextId.CouldNotPayOut] = "The ATM could not pay out. Nothing will be charged.",
        [CustomerTextId.CouldNotComplete] = "The ATM could not complete the request.",
        [CustomerTextId.DeclinedInsufficientFunds] = "Insufficient funds.",
        [CustomerTextId.DeclinedIncorrectPin] = "Incorrect PIN.",
        [CustomerTextId.DeclinedPinTriesExceeded] = "Too many wrong PINs: your cardless withdrawals are blocked. Please contact your bank.",
        [CustomerTextId.DeclinedAmountLimit] = "This exceeds your daily withdrawal limit.",
        [CustomerTextId.DeclinedFrequencyLimit] = "You have reached today's number of withdrawals.",
        [CustomerTextId.DeclinedAmountMismatch] = "The amount does not match the QR code.",
        [CustomerTextId.DeclinedQrNoLongerValid] = "This QR code is no longer valid.",
        [CustomerTextId.DeclinedBankUnreachable] = "Your bank cannot be reached. Please try again later.",
        [CustomerTextId.Declined] = "Your bank declined the withdrawal.",
        [CustomerTextId.FaultCannotDispense] = "This ATM cannot dispense cash right now. Your transaction has been terminated.",
        [CustomerTextId.FaultAmountNotPositive] = "Please enter an amount greater than zero.",
        [CustomerTextId.FaultCurrencyNotHeld] = "This ATM does not dispense {currency}.",
        [CustomerTextId.FaultNoSuchDenomination] = "This amount cannot be paid with the notes this ATM holds. Please choose another amount.",
        [CustomerTextId.FaultNotEnoughNotes] = "This ATM does not have enough notes for this amount. Please choose a smaller amount.",
        [CustomerTextId.FaultOverNoteLimit] = "This amount is above what this ATM can pay at once. Please choose a smaller amount.",
    };
}
