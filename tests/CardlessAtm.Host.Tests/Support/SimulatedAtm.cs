using System.Globalization;
using System.Net;
using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Channels;
using CardlessAtm.Iso8583.Mac;
using CardlessAtm.Network;
using CardlessAtm.Qr.Payload;
using CardlessAtm.Security;
using CardlessAtm.Terminal.Links;
using Microsoft.Extensions.Logging.Abstractions;
using IsoMac = CardlessAtm.Iso8583.Mac.IMessageMac;

namespace CardlessAtm.Host.Tests.Support;

/// <summary>
/// The ATM side of the host link for tests: a real ISO 8583 client over loopback, its terminal master
/// key, the session MAC key it receives in the key change, QR sessions MACed with that key, and 0200 /
/// 0420 messages built with the codec. Sign-on and key change run the terminal's own code
/// (<see cref="HostSignOn"/>, the path <c>HostLink</c> takes); <see cref="NetworkManagement"/> and
/// <see cref="UnsignedNetworkManagement"/> build raw 0800s for the tests that send them on purpose.
/// </summary>
public sealed class SimulatedAtm : IAsyncDisposable
{
    private static int _stanCounter;
    private readonly Iso8583Client? _client;
    private readonly Func<IsoMessage, Task<IsoMessage>>? _send;
    private readonly HostSignOn _signOn;
    private SessionMacKey? _mac;
    private SimulatedAtm? _sharedMac;

    public SimulatedAtm(ISecurityProfile profile, string atmId, SecretKey masterKey, IPEndPoint host, int currency = 978)
    {
        AtmId = atmId;
        Currency = currency;
        _signOn = new HostSignOn(profile, masterKey, atmId, NullLogger.Instance);

        _client = new Iso8583Client(new Iso8583ClientOptions
        {
            Spec = NetworkSpec.Messages,
            Host = host.Address.ToString(),
            Port = host.Port,
            TerminalId = atmId,
            RequestTimeout = TimeSpan.FromSeconds(30),
            ReconnectInitialDelay = TimeSpan.FromMilliseconds(50),
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(200),
        });
    }

    /// <summary>An ATM with no socket: each request goes straight to <paramref name="send"/> (the host's processor, in process).</summary>
    public SimulatedAtm(ISecurityProfile profile, string atmId, SecretKey masterKey, Func<IsoMessage, Task<IsoMessage>> send, int currency = 978)
    {
        AtmId = atmId;
        Currency = currency;
        _send = send;
        _signOn = new HostSignOn(profile, masterKey, atmId, NullLogger.Instance);
    }

    public string AtmId { get; }

    public int Currency { get; }

    public IsoMac IsoMac => _sharedMac?.IsoMac ?? (_mac ?? throw new InvalidOperationException("No key change yet.")).Iso;

    public IQrPayloadMac QrMac => _sharedMac?.QrMac ?? (_mac ?? throw new InvalidOperationException("No key change yet.")).Qr;

    /// <summary>The MAC of sign-on and key change (under the key derived from the TMK).</summary>
    public IsoMac KeyChangeMac => _signOn.KeyChangeMac;

    /// <summary>The host's version of the keys this ATM received last (0 before any).</summary>
    public int KeyVersion { get; private set; }

    /// <summary>The nonce of the last key-change request built by <see cref="NetworkManagement"/>.</summary>
    public byte[]? LastKeyChangeNonce { get; private set; }

    /// <summary>The last authentic sign-on this ATM sent (what an on-path tap would have recorded).</summary>
    public IsoMessage? LastSignOn { get; private set; }

    public static int NextStan() => (Interlocked.Increment(ref _stanCounter) % 999_999) + 1;

    public async Task ConnectAsync()
    {
        if (_client is null)
        {
            return;
        }

        await _client.StartAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await _client.WaitUntilConnectedAsync(timeout.Token);
    }

    /// <summary>Signs on and fetches session keys with the terminal's own code (<see cref="HostSignOn"/>, as <c>HostLink</c> runs it); returns the 0810 of the key change.</summary>
    public async Task<IsoMessage> SignOnAndChangeKeysAsync()
    {
        var signedOn = await _signOn.RunAsync(NewRequest, (request, _) => SendAsync(request), KeyVersion, CancellationToken.None);
        LastSignOn = signedOn.SignOn;
        LastKeyChangeNonce = signedOn.Nonce;
        Assert.Equal(ResponseCodes.Approved, signedOn.KeyChangeAnswer.ResponseCode);
        Assert.Equal(MacCheckResult.Valid, MessageMac.Verify(signedOn.KeyChangeAnswer, KeyChangeMac));
        _mac?.Dispose();
        _mac = signedOn.SessionKey;
        KeyVersion = signedOn.KeyVersion;
        return signedOn.KeyChangeAnswer;
    }

    /// <summary>Uses the session key another connection of the same ATM received (no key change of its own).</summary>
    public async Task ShareKeysWithAsync(SimulatedAtm other)
    {
        var signOn = await SendAsync(NetworkManagement(NetworkManagementCodes.SignOn));
        Assert.Equal(ResponseCodes.Approved, signOn.ResponseCode);
        _sharedMac = other;
    }

    /// <summary>An authentic 0800 as the terminal sends it: sign-on, sign-off and key change MACed under the key-change MAC key, the key change with a fresh nonce.</summary>
    public IsoMessage NetworkManagement(string code)
    {
        var message = UnsignedNetworkManagement(code, AtmId);
        if (code == NetworkManagementCodes.KeyChange)
        {
            LastKeyChangeNonce = KeyChangeRequestData.CreateNonce();
            message.KeyChangeData = KeyChangeRequestData.Encode(LastKeyChangeNonce);
        }

        if (code is NetworkManagementCodes.SignOn or NetworkManagementCodes.KeyChange or NetworkManagementCodes.SignOff)
        {
            MessageMac.Apply(message, KeyChangeMac);
        }

        return message;
    }

    /// <summary>An 0800 without any MAC, as any TCP client can send it.</summary>
    public static IsoMessage UnsignedNetworkManagement(string code, string atmId)
    {
        var message = NewRequest(Mti.NetworkManagementRequest, atmId);
        message.NetworkManagementCode = code;
        return message;
    }

    private static IsoMessage NewRequest(string mti, string atmId)
    {
        var message = new IsoMessage(NetworkSpec.Messages, mti);
        message.SetTransmissionDateTime(DateTimeOffset.UtcNow);
        message.Stan = NextStan();
        message.TerminalId = atmId;
        return message;
    }

    private IsoMessage NewRequest(string mti) => NewRequest(mti, AtmId);

    /// <summary>A QR session as the terminal shows it: MACed with the session key.</summary>
    public QrSessionPayload IssueSession(long amountMinor, TimeSpan? expiresIn = null, string? atmId = null, int? currency = null)
    {
        var expiry = DateTimeOffset.FromUnixTimeSeconds((DateTimeOffset.UtcNow + (expiresIn ?? TimeSpan.FromMinutes(2))).ToUnixTimeSeconds());
        var fields = new QrSessionFields(
            CardlessAtm.AtmId.Parse(atmId ?? AtmId),
            SessionNonce.CreateRandom(),
            new Money(amountMinor, CardlessAtm.Currency.FromNumericCode(currency ?? Currency)),
            expiry);
        return QrPayloadFormat.Create(fields, QrMac);
    }

    /// <summary>The ATM's 0200 around the phone's request (fields 3, 4, 41, 48, 49 and 127 exactly as the phone sent them).</summary>
    public IsoMessage Withdrawal(PhoneRequest phone, bool mac = true)
    {
        var now = DateTimeOffset.UtcNow;
        var stan = NextStan();
        var message = new IsoMessage(NetworkSpec.Messages, Mti.FinancialRequest);
        message.Set(3, phone.ProcessingCode);
        message.Set(4, phone.Amount);
        message.SetTransmissionDateTime(now);
        message.Stan = stan;
        message.SetLocalDateTime(now.UtcDateTime);
        message.RetrievalReferenceNumber = "R" + stan.ToString("D11", CultureInfo.InvariantCulture);
        message.Set(41, phone.TerminalId);
        message.Set(48, phone.SessionPayload);
        message.Set(49, phone.Currency);
        message.ProtectedData = phone.ProtectedData;
        if (mac)
        {
            MessageMac.Apply(message, IsoMac);
        }

        return message;
    }

    /// <summary>0420 (or 0421) for an earlier 0200; <paramref name="dispensedMinor"/> makes it partial.</summary>
    public IsoMessage Reversal(IsoMessage original, long? dispensedMinor = null, bool repeat = false, string? reasonCode = null)
    {
        var message = new IsoMessage(NetworkSpec.Messages, repeat ? Mti.ReversalAdviceRepeat : Mti.ReversalAdvice);
        message.Set(3, original.ProcessingCode!);
        message.AmountMinor = original.AmountMinor;
        message.SetTransmissionDateTime(DateTimeOffset.UtcNow);
        message.Stan = NextStan();
        message.TerminalId = AtmId;
        message.CurrencyCode = original.CurrencyCode;
        message.OriginalData = OriginalDataElements.From(original);
        if (dispensedMinor is { } dispensed)
        {
            message.ReplacementAmountMinor = dispensed;
        }

        if (reasonCode is not null)
        {
            message.ResponseCode = reasonCode;
        }

        MessageMac.Apply(message, IsoMac);
        return message;
    }

    public Task<IsoMessage> SendAsync(IsoMessage request) => _client?.SendRequestAsync(request) ?? _send!(request);

    /// <summary>Sends and checks that the response carries a valid host MAC.</summary>
    public async Task<IsoMessage> SendCheckedAsync(IsoMessage request)
    {
        var response = await SendAsync(request);
        Assert.Equal(MacCheckResult.Valid, MessageMac.Verify(response, IsoMac));
        return response;
    }

    public async ValueTask DisposeAsync()
    {
        if (_client is not null)
        {
            await _client.DisposeAsync();
        }

        _mac?.Dispose();
        _signOn.Dispose();
    }
}

/// <summary>What the phone sends: the clear fields its MAC binds and field 127.</summary>
public sealed record PhoneRequest(string ProcessingCode, string Amount, string TerminalId, string SessionPayload, string Currency, byte[] ProtectedData);

/// <summary>A phone: its DUKPT device and the security profile's field 127 protector.</summary>
public sealed class SimulatedPhone(ISecurityProfile profile, SecretKey initialKey, KeySerialNumber initialKsn) : IDisposable
{
    private readonly DukptDevice _device = profile.LoadPhoneDevice(initialKey, initialKsn);

    /// <summary>The phone's request for a scanned session; the overrides let a test send what a hostile phone would.</summary>
    public PhoneRequest Request(
        QrSessionPayload qr,
        string accountId,
        string pin,
        long? amountMinor = null,
        string processingCode = "010000",
        string? terminalId = null,
        string? sessionPayload = null,
        int? currencyNumeric = null)
    {
        var amount = (amountMinor ?? qr.Amount.MinorUnits).ToString("D12", CultureInfo.InvariantCulture);
        var currency = (currencyNumeric ?? qr.Amount.Currency.NumericCode).ToString("D3", CultureInfo.InvariantCulture);
        var atm = terminalId ?? qr.AtmId.Value;
        var text = sessionPayload ?? qr.Text;
        var binding = new PhoneRequestBinding(processingCode, amount, atm, text, currency);
        var protectedData = profile.CreatePhoneProtector(_device).Protect(accountId, pin, binding);
        return new PhoneRequest(processingCode, amount, atm, text, currency, protectedData);
    }

    public void Dispose() => _device.Dispose();
}
