using CardlessAtm.Phone.Credentials;

namespace CardlessAtm.Phone.Withdrawal;

/// <summary>What the phone shows before asking for the PIN: the ATM and the amount read from the QR code.</summary>
/// <param name="AtmId">The ATM id.</param>
/// <param name="Amount">The amount.</param>
/// <param name="ExpiresAt">When the session expires (UTC).</param>
/// <param name="MaskedAccount">The account, all but the last 4 characters masked.</param>
public sealed record WithdrawalConfirmation(AtmId AtmId, Money Amount, DateTimeOffset ExpiresAt, string MaskedAccount)
{
    /// <summary>A one-line question for the customer.</summary>
    public string Prompt => $"Withdraw {Amount} at ATM {AtmId} from account {MaskedAccount}?";
}

/// <summary>The customer's side of a withdrawal: confirm the ATM and amount, then type the PIN.</summary>
public interface IWithdrawalInteraction
{
    /// <summary>Shows the ATM id and amount; returns true when the customer confirms.</summary>
    ValueTask<bool> ConfirmAsync(WithdrawalConfirmation confirmation, CancellationToken cancellationToken);

    /// <summary>Takes the PIN (without echo). The client validates and disposes the returned entry.</summary>
    ValueTask<PinEntry> ReadPinAsync(CancellationToken cancellationToken);
}

/// <summary>Ready-made interactions.</summary>
public static class WithdrawalInteraction
{
    /// <summary>From two callbacks (a mobile app's dialogs, a console).</summary>
    public static IWithdrawalInteraction FromCallbacks(
        Func<WithdrawalConfirmation, CancellationToken, ValueTask<bool>> confirm,
        Func<CancellationToken, ValueTask<PinEntry>> readPin)
    {
        ArgumentNullException.ThrowIfNull(confirm);
        ArgumentNullException.ThrowIfNull(readPin);
        return new CallbackInteraction(confirm, readPin);
    }

    /// <summary>
    /// Confirms at once and supplies <paramref name="pin"/>: for the demo, scripts and tests. Each PIN request gets
    /// a fresh copy; <paramref name="pin"/> is copied here and never shown.
    /// </summary>
    public static IWithdrawalInteraction Automatic(ReadOnlySpan<char> pin) => new AutomaticInteraction(pin.ToArray());

    private sealed class CallbackInteraction(
        Func<WithdrawalConfirmation, CancellationToken, ValueTask<bool>> confirm,
        Func<CancellationToken, ValueTask<PinEntry>> readPin) : IWithdrawalInteraction
    {
        public ValueTask<bool> ConfirmAsync(WithdrawalConfirmation confirmation, CancellationToken cancellationToken) => confirm(confirmation, cancellationToken);

        public ValueTask<PinEntry> ReadPinAsync(CancellationToken cancellationToken) => readPin(cancellationToken);
    }

    private sealed class AutomaticInteraction(char[] pin) : IWithdrawalInteraction
    {
        public ValueTask<bool> ConfirmAsync(WithdrawalConfirmation confirmation, CancellationToken cancellationToken) => ValueTask.FromResult(true);

        public ValueTask<PinEntry> ReadPinAsync(CancellationToken cancellationToken) => ValueTask.FromResult(PinEntry.FromChars(pin));

        public override string ToString() => "Automatic confirmation with a fixed PIN (hidden)";
    }
}
