using CardlessAtm.Devices.Display;
using CardlessAtm.Iso8583;

namespace CardlessAtm.Terminal.Flow;

/// <summary>Every text the customer sees, in one place (so wording and translation live together).</summary>
public static class CustomerTexts
{
    /// <summary>The heading of every screen.</summary>
    public const string Title = "Cardless withdrawal";

    /// <summary>The idle screen.</summary>
    public static Screen Welcome() => Screen.Text(Title, "Press ENTER to withdraw cash", "with your phone — no card needed.");

    /// <summary>While the host cannot be reached.</summary>
    public static Screen OutOfService() => new(Title, ["Temporarily out of service.", "Please use another ATM."], Tone: ScreenTone.Error);

    /// <summary>The amount-entry screen.</summary>
    public static Screen AmountEntry(string typed, string currency, int maxMajor) =>
        Screen.Text(Title, $"Amount ({currency}): {(typed.Length == 0 ? "_" : typed)}", $"Up to {maxMajor} {currency}.", "ENTER confirm · CLEAR · CANCEL");

    /// <summary>The QR screen with its countdown.</summary>
    public static Screen ScanQr(string amount, ModuleMatrix qr, string qrText, int secondsLeft) =>
        new(Title, [$"Scan with your banking app: {amount}", "CANCEL to stop"], qr, secondsLeft, QrText: qrText);

    /// <summary>While the host decides.</summary>
    public static Screen Authorising(string amount) => Screen.Text(Title, $"Authorising {amount}…", "Please wait.");

    /// <summary>While notes are counted.</summary>
    public static Screen Dispensing(string amount) => Screen.Text(Title, $"Dispensing {amount}…");

    /// <summary>The notes are out.</summary>
    public static Screen TakeCash(string amount) => new(Title, [$"Please take your cash: {amount}", "Thank you."], Tone: ScreenTone.Success);

    /// <summary>Only part of the amount came out.</summary>
    public static Screen Partial(string presented, string requested) => new(
        Title,
        [$"Only {presented} of {requested} could be paid.", "The rest will not be charged to your account.", "Please take your cash."],
        Tone: ScreenTone.Error);

    /// <summary>The transaction ended without cash.</summary>
    public static Screen Terminated(string reason) => new(Title, ["Transaction terminated.", reason], Tone: ScreenTone.Error);

    /// <summary>The customer did not take the notes within Terminal:PresentTimeout; the ATM retracted them and reverses their value.</summary>
    public const string NotesRetracted = "The cash was not taken in time and has been taken back. Nothing will be charged for it.";

    /// <summary>
    /// The host's answer does not say whether the withdrawal was declined (e.g. 94 duplicate, 96): no cash, and a
    /// full reversal undoes any debit.
    /// </summary>
    public const string UnknownOutcome = "The withdrawal could not be completed. Any amount taken from your account will be refunded.";

    /// <summary>Customer words for a response code (never the technical reason).</summary>
    public static string ForResponseCode(string? code) => code switch
    {
        ResponseCodes.InsufficientFunds => "Insufficient funds.",
        ResponseCodes.IncorrectPin => "Incorrect PIN.",
        ResponseCodes.PinTriesExceeded => "Too many wrong PINs: your cardless withdrawals are blocked. Please contact your bank.",
        ResponseCodes.ExceedsAmountLimit => "This exceeds your daily withdrawal limit.",
        ResponseCodes.ExceedsFrequencyLimit => "You have reached today's number of withdrawals.",
        ResponseCodes.InvalidAmount => "The amount does not match the QR code.",
        ResponseCodes.InvalidTransaction or ResponseCodes.DuplicateTransmission => "This QR code is no longer valid.",
        ResponseCodes.IssuerUnavailable or ResponseCodes.RoutingError => "Your bank cannot be reached. Please try again later.",
        _ => "Your bank declined the withdrawal.",
    };
}
