using System.Globalization;
using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Channels;
using CardlessAtm.Network;
using CardlessAtm.Phone.Credentials;
using CardlessAtm.Phone.Enrolment;
using CardlessAtm.Phone.Scanning;
using CardlessAtm.Security;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Phone.Withdrawal;

/// <summary>
/// The phone's side of a cardless withdrawal (the patent's steps B to D, and G as the phone sees it): check the
/// scanned session, show the ATM and amount for confirmation, take the PIN, protect account id and PIN in field 127
/// under the phone's next DUKPT key, send the 0200 through the proxy and turn the 0210 into a
/// <see cref="WithdrawalOutcome"/>. A mobile app calls exactly this; the command line is a thin shell around it.
/// <para>
/// Bad input is refused with a <see cref="PhoneInputException"/> before anything is sent. Once the request may have
/// left the phone, failures are outcomes (<see cref="WithdrawalStatus.OutcomeUnknown"/>), never exceptions.
/// Logs carry the STAN, ATM id and session id; never the PIN, keys or the full account id.
/// </para>
/// </summary>
public sealed class CardlessWithdrawalClient
{
    private readonly PhoneClientOptions _options;
    private readonly PhoneEnrolment _enrolment;
    private readonly ISecurityProfile _profile;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly ILogger _channelLog;

    /// <summary>Creates the client.</summary>
    /// <param name="options">How to reach the proxy.</param>
    /// <param name="enrolment">The phone's DUKPT enrolment (see <see cref="PhoneEnrolment.Open"/> / <see cref="PhoneEnrolment.Create"/>).</param>
    /// <param name="profile">The network's security profile (<c>Security:Profile</c>).</param>
    /// <param name="time">The clock for expiry checks, field 7 and timeouts (default: system).</param>
    /// <param name="loggerFactory">Logging (default: none).</param>
    /// <exception cref="PhoneInputException">A timeout in <paramref name="options"/> is invalid, or it has no TLS and is not <see cref="PhoneClientOptions.Insecure"/>.</exception>
    public CardlessWithdrawalClient(PhoneClientOptions options, PhoneEnrolment enrolment, ISecurityProfile profile, TimeProvider? time = null, ILoggerFactory? loggerFactory = null)
    {
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _enrolment = enrolment ?? throw new ArgumentNullException(nameof(enrolment));
        _profile = profile ?? throw new ArgumentNullException(nameof(profile));
        options.Validate();
        _time = time ?? TimeProvider.System;
        loggerFactory ??= NullLoggerFactory.Instance;
        _log = loggerFactory.CreateLogger<CardlessWithdrawalClient>();
        _channelLog = loggerFactory.CreateLogger("CardlessAtm.Phone.Channel");
    }

    /// <summary>How the last connection to the proxy was secured, from its negotiated session (e.g. <c>TLS 1.3, server pinned spki-sha256:…</c>); null before the first.</summary>
    public string? LinkSecurity { get; private set; }

    /// <summary>The STAN a request under <paramref name="ksn"/> carries: derived from the DUKPT counter, so it advances and persists with it.</summary>
    public static int StanFor(KeySerialNumber ksn)
    {
        ArgumentNullException.ThrowIfNull(ksn);
        return (int)(((ksn.TransactionCounter - 1) % 999_999) + 1);
    }

    /// <summary>Performs one withdrawal.</summary>
    /// <param name="session">The scanned QR session.</param>
    /// <param name="accountId">The customer's account id, 1-19 digits (encrypted into field 127; only its last 4 digits are ever shown).</param>
    /// <param name="interaction">Confirmation and PIN entry.</param>
    /// <param name="progress">Optional: told, in plain words, when the phone connects and when the request has been sent.</param>
    /// <param name="cancellationToken">Stops the withdrawal; after the request has been sent this yields an unknown outcome.</param>
    /// <returns>The outcome, with a customer message.</returns>
    /// <exception cref="PhoneInputException">Bad account id, PIN, expired session or enrolment problem; nothing was sent.</exception>
    public async Task<WithdrawalOutcome> WithdrawAsync(ScannedSession session, string accountId, IWithdrawalInteraction interaction, IProgress<string>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(interaction);
        AccountIds.Validate(accountId, "account id");
        var atm = session.AtmId;
        var amount = session.Amount;
        using var scope = _log.BeginScope(new Dictionary<string, object> { ["AtmId"] = atm.Value, ["SessionId"] = session.SessionId });

        session.EnsureNotExpired(_time.GetUtcNow());
        var device = _enrolment.Inspect(_profile);
        _log.LogInformation("ATM {AtmId} session {SessionId}: scanned, {Amount}; phone device {DeviceId}, account {Account}.", atm, session.SessionId, amount, device.DeviceId, AccountIds.Mask(accountId));

        var confirmation = new WithdrawalConfirmation(atm, amount, session.ExpiresAt, AccountIds.Mask(accountId));
        if (!await interaction.ConfirmAsync(confirmation, cancellationToken))
        {
            _log.LogInformation("ATM {AtmId} session {SessionId}: customer did not confirm; nothing sent.", atm, session.SessionId);
            return WithdrawalOutcome.Cancelled(atm, amount);
        }

        using var pin = await interaction.ReadPinAsync(cancellationToken)
            ?? throw new PhoneInputException(PhoneInputError.InvalidPin, "PIN", "no PIN was entered.");
        pin.Validate();

        // The customer may have taken a while over the PIN: check again, so a stale session is never sent.
        session.EnsureNotExpired(_time.GetUtcNow());

        var clientOptions = new Iso8583ClientOptions
        {
            Spec = NetworkSpec.Messages,
            Host = _options.Proxy.Host,
            Port = _options.Proxy.Port,
            Tls = _options.Tls,
            ConnectTimeout = _options.ConnectTimeout,
            RequestTimeout = _options.RequestTimeout,
            ReconnectInitialDelay = TimeSpan.FromMilliseconds(250),
            ReconnectMaxDelay = TimeSpan.FromSeconds(2),
            TimeProvider = _time,
            Logger = _channelLog,
            TerminalId = atm.Value,
        };
        progress?.Report($"Connecting to the proxy at {_options.Proxy}{(_options.Tls is null ? string.Empty : " (TLS, pinned certificate)")}...");
        var client = new Iso8583Client(clientOptions);
        try
        {
            await client.StartAsync(cancellationToken);
            try
            {
                using var deadline = new CancellationTokenSource(_options.ConnectTimeout, _time);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, cancellationToken);
                var connection = await client.WaitUntilConnectedAsync(linked.Token);
                LinkSecurity = TlsSetup.DescribeSession(connection.TlsProtocol, connection.RemoteCertificate, _options.ServerPin);
                if (_options.Tls is null)
                {
                    _log.LogWarning("INSECURE: the link to the proxy {Proxy} runs plain TCP (Phone:Insecure = true). Set Phone:TlsServerPin outside a lab.", _options.Proxy);
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                var why = string.Create(CultureInfo.InvariantCulture, $"no connection to the proxy at {_options.Proxy} within {_options.ConnectTimeout.TotalSeconds:0.#} s ({client.ConsecutiveFailures} attempts failed)");
                _log.LogWarning("ATM {AtmId} session {SessionId}: not sent: {Reason}.", atm, session.SessionId, why);
                return WithdrawalOutcome.NotSent(atm, amount, why);
            }

            var (request, stan, ksnCounter) = _enrolment.TakeNextTransaction(_profile, (dukpt, ksn) =>
            {
                var (message, number) = BuildRequest(session, accountId, pin, dukpt, ksn);
                return (message, number, ksn.TransactionCounter);
            });
            using var stanScope = _log.BeginScope(new Dictionary<string, object> { ["Stan"] = stan });
            _log.LogInformation("ATM {AtmId} session {SessionId} STAN {Stan}: sending 0200 for {Amount} through {Proxy} (KSN counter {KsnCounter}).", atm, session.SessionId, stan, amount, _options.Proxy, ksnCounter);
            progress?.Report(string.Create(CultureInfo.InvariantCulture, $"Request sent to {atm} (STAN {stan}); waiting for the ATM..."));

            IsoMessage response;
            try
            {
                response = await client.SendRequestAsync(request, cancellationToken);
            }
            catch (Iso8583ChannelException ex) when (ex.Reason == ChannelErrorReason.NotConnected)
            {
                _log.LogWarning("ATM {AtmId} session {SessionId} STAN {Stan}: not sent: the connection to the proxy dropped before the request left ({Error}).", atm, session.SessionId, stan, ex.Message);
                return WithdrawalOutcome.NotSent(atm, amount, $"the connection to the proxy at {_options.Proxy} dropped before the request left");
            }
            catch (Iso8583ChannelException ex)
            {
                var why = ex.Reason switch
                {
                    ChannelErrorReason.Timeout => string.Create(CultureInfo.InvariantCulture, $"no answer came within {_options.RequestTimeout.TotalSeconds:0.#} s"),
                    ChannelErrorReason.ConnectionClosed => "the connection closed before the answer came",
                    ChannelErrorReason.MalformedResponse => "the answer could not be read",
                    _ => $"the request failed ({ex.Reason})",
                };
                _log.LogWarning("ATM {AtmId} session {SessionId} STAN {Stan}: outcome unknown: {Reason} ({Error}).", atm, session.SessionId, stan, why, ex.Message);
                return WithdrawalOutcome.Unknown(atm, amount, stan, why);
            }
            catch (OperationCanceledException)
            {
                _log.LogWarning("ATM {AtmId} session {SessionId} STAN {Stan}: outcome unknown: stopped waiting for the answer.", atm, session.SessionId, stan);
                return WithdrawalOutcome.Unknown(atm, amount, stan, "the phone stopped waiting for the answer");
            }
            catch (IOException ex)
            {
                _log.LogWarning("ATM {AtmId} session {SessionId} STAN {Stan}: outcome unknown: {Error}.", atm, session.SessionId, stan, ex.Message);
                return WithdrawalOutcome.Unknown(atm, amount, stan, "the connection failed while waiting for the answer");
            }

            var outcome = Interpret(request, response, session, stan);
            _log.LogInformation("ATM {AtmId} session {SessionId} STAN {Stan}: outcome {Status}, response code {ResponseCode}, authorisation {AuthCode}, dispensed {Dispensed}.", atm, session.SessionId, stan, outcome.Status, outcome.ResponseCode ?? "-", outcome.AuthorisationCode ?? "-", outcome.Dispensed?.ToString() ?? "unknown");
            return outcome;
        }
        finally
        {
            await client.DisposeAsync();
        }
    }

    /// <summary>Turns the 0210 into an outcome; anything that does not fit the request makes the outcome unknown.</summary>
    internal static WithdrawalOutcome Interpret(IsoMessage request, IsoMessage response, ScannedSession session, int stan)
    {
        var atm = session.AtmId;
        var requested = session.Amount;
        if (response.Mti != "0210")
        {
            return WithdrawalOutcome.Unknown(atm, requested, stan, $"the answer was a {response.Mti}, not a 0210");
        }

        if (response.TerminalId != request.TerminalId || (response.Has(NetworkFields.Amount) && response.AmountMinor != request.AmountMinor) || (response.Has(NetworkFields.Currency) && response.CurrencyCode != request.CurrencyCode))
        {
            return WithdrawalOutcome.Unknown(atm, requested, stan, "the answer names another ATM, amount or currency than the request");
        }

        var code = response.ResponseCode;
        if (code is null || code.Length != 2)
        {
            return WithdrawalOutcome.Unknown(atm, requested, stan, "the answer has no response code");
        }

        long? dispensedMinor;
        try
        {
            dispensedMinor = response.ReplacementAmountMinor;
        }
        catch (Iso8583FieldException)
        {
            return WithdrawalOutcome.Unknown(atm, requested, stan, "the answer's dispensed amount (field 95) could not be read");
        }

        if (dispensedMinor > requested.MinorUnits)
        {
            return WithdrawalOutcome.Unknown(atm, requested, stan, "the ATM reports more dispensed than requested");
        }

        var authCode = response.AuthorizationCode?.Trim();
        if (dispensedMinor is { } partial && partial > 0 && partial < requested.MinorUnits)
        {
            return WithdrawalOutcome.Partial(atm, requested, new CardlessAtm.Money(partial, requested.Currency), code, authCode, stan);
        }

        if (code == ResponseCodes.Approved)
        {
            return dispensedMinor == 0
                ? WithdrawalOutcome.Declined(atm, requested, code, stan, ", but the ATM dispensed nothing; the withdrawal is reversed")
                : WithdrawalOutcome.Approved(atm, requested, authCode, stan);
        }

        return WithdrawalOutcome.Declined(atm, requested, code, stan);
    }

    private (IsoMessage Request, int Stan) BuildRequest(ScannedSession session, string accountId, PinEntry pin, DukptDevice device, KeySerialNumber ksn)
    {
        var stan = StanFor(ksn);
        var amount = session.Amount;
        var unsealed = new PhoneWithdrawalRequest(
            new MessageHeader(new Stan(stan), session.AtmId, NetworkFields.TransmissionText(_time.GetUtcNow())),
            amount.MinorUnits,
            amount.Currency.NumericCode,
            session.Text);

        // The MAC binds the field values exactly as they go on the wire (PhoneWithdrawalRequest.Binding).
        var sealedData = _profile.CreatePhoneProtector(device).Protect(accountId, pin.Chars, unsealed.Binding);
        return ((unsealed with { ProtectedData = sealedData }).ToIso(), stan);
    }
}
