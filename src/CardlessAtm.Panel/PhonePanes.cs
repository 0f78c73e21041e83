using CardlessAtm.Phone;
using CardlessAtm.Phone.Credentials;
using CardlessAtm.Phone.Scanning;
using CardlessAtm.Phone.Withdrawal;

namespace CardlessAtm.Panel;

/// <summary>
/// The phone panes: each scans the QR from the screen image with the phone library and withdraws through the proxy,
/// exactly as a phone does; the terminal's flow is never called. Several panes can race for one QR.
/// </summary>
internal sealed class PhonePanes(PanelAtm atm, Func<CancellationToken, Task<byte[]>> photograph, TimeProvider time)
{
    public const int Count = 4;

    private readonly Pane[] _panes = [.. Enumerable.Range(1, Count).Select(i => new Pane(i))];

    public IReadOnlyList<Pane> All => _panes;

    public Pane this[int number] => _panes[number - 1];

    /// <summary>Photographs the screen and reads its QR code; the pane keeps the session.</summary>
    /// <exception cref="PhoneInputException">No readable session QR on the screen.</exception>
    public async Task<ScannedSession> ScanAsync(int number, CancellationToken cancellationToken)
    {
        var pane = this[number];
        var session = ScannedSession.FromImage(await photograph(cancellationToken), "the ATM screen");
        lock (pane)
        {
            pane.Session = session;
            pane.Spent = false;
            pane.Status = "scanned";
            pane.Message = $"Scanned: withdraw {session.Amount} at {session.AtmId}";
            pane.Outcome = null;
        }

        return session;
    }

    /// <summary>Starts a withdrawal of the scanned session in the background; the pane reports its progress and outcome.</summary>
    public void Withdraw(int number, int phone, string account, string pin)
    {
        var pane = this[number];
        ScannedSession session;
        lock (pane)
        {
            session = pane.Session ?? throw new InvalidOperationException("scan the QR code first");
            if (pane.Spent)
            {
                throw new InvalidOperationException("this QR code was used; scan the screen again");
            }

            if (pane.Status == "sending")
            {
                throw new InvalidOperationException("this pane is already sending a withdrawal");
            }

            pane.Status = "sending";
            pane.Message = $"Sending the withdrawal of {session.Amount} from {AccountIds.Mask(account)} with {atm.Phones[phone].Name}…";
            pane.Outcome = null;
        }

        _ = Task.Run(async () =>
        {
            string status;
            string message;
            object? outcome = null;
            try
            {
                var client = atm.Phones[phone].Connect();
                var progress = new Progress<string>(step =>
                {
                    lock (pane)
                    {
                        if (pane.Status == "sending")
                        {
                            pane.Message = step;
                        }
                    }
                });
                session.EnsureNotExpired(time.GetUtcNow());
                var result = await client.WithdrawAsync(session, account, WithdrawalInteraction.Automatic(pin), progress, CancellationToken.None);
                status = result.Status switch
                {
                    WithdrawalStatus.Approved => "approved",
                    WithdrawalStatus.PartiallyDispensed => "partial",
                    WithdrawalStatus.OutcomeUnknown => "unknown",
                    _ => "refused",
                };
                message = result.Message;
                outcome = new
                {
                    status = result.Status.ToString(),
                    responseCode = result.ResponseCode,
                    responseText = result.ResponseText,
                    requested = result.Requested.ToString(),
                    dispensed = result.Dispensed?.ToString(),
                    authorisationCode = result.AuthorisationCode,
                };
            }
            catch (PhoneInputException e)
            {
                status = "refused";
                message = e.Message;
            }
#pragma warning disable CA1031 // the pane shows any failure; the panel keeps serving
            catch (Exception e)
#pragma warning restore CA1031
            {
                status = "failed";
                message = $"{e.GetType().Name}: {e.Message}";
            }

            lock (pane)
            {
                pane.Status = status;
                pane.Message = message;
                pane.Outcome = outcome;
                pane.Spent = true; // one scan, one withdrawal: scan again for the next (the pane still shows what it scanned)
            }
        });
    }

    internal sealed class Pane(int number)
    {
        public int Number { get; } = number;

        public ScannedSession? Session { get; set; }

        public bool Spent { get; set; }

        public string Status { get; set; } = "idle";

        public string Message { get; set; } = "Point the phone at the ATM screen and press Scan.";

        public object? Outcome { get; set; }

        public object Snapshot()
        {
            lock (this)
            {
                return new
                {
                    number = Number,
                    status = Status,
                    message = Message,
                    atmId = Session?.AtmId.ToString(),
                    amount = Session?.Amount.ToString(),
                    expiresAt = Session?.ExpiresAt,
                    outcome = Outcome,
                };
            }
        }
    }
}
