using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using CardlessAtm.Host.Tests.Support;
using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Mac;
using CardlessAtm.Network;
using CardlessAtm.Security;

namespace CardlessAtm.Host.Tests.Tcp;

/// <summary>
/// Hostile and malformed messages: each is declined with its code, audited without secrets, changes
/// no balance, and the host goes on serving.
/// </summary>
public sealed class BadInputTests : IAsyncLifetime
{
    private HostHarness _h = null!;
    private long _totalBefore;

    public async Task InitializeAsync()
    {
        _h = await HostHarness.StartAsync();
        _totalBefore = (await _h.TotalsAsync()).SumOfBalancesMinor;
    }

    public async Task DisposeAsync()
    {
        // After every hostile input: no money moved, the books balance, no secret in the audit trail,
        // and the host still approves a good request.
        var totals = await _h.TotalsAsync();
        Assert.True(totals.Balances);
        Assert.Equal(_totalBefore, totals.SumOfBalancesMinor);
        foreach (var entry in await _h.AuditAsync(200))
        {
            foreach (var customer in _h.Seed.Customers)
            {
                Assert.DoesNotContain(customer.AccountId, entry.Detail, StringComparison.Ordinal);
            }
        }

        Assert.Equal(ResponseCodes.Approved, (await _h.Atm.SendCheckedAsync(_h.Withdrawal(0, 100))).ResponseCode);
        await _h.DisposeAsync();
    }

    private async Task<IsoMessage> Declined(IsoMessage request, string expectedCode, bool macExpected = true)
    {
        var response = macExpected ? await _h.Atm.SendCheckedAsync(request) : await _h.Atm.SendAsync(request);
        Assert.Equal(expectedCode, response.ResponseCode);
        Assert.Null(response.AuthorizationCode);
        var audit = await _h.AuditAsync(5);
        Assert.Contains(audit, a => a.ResponseCode == expectedCode && a.Event is "request.declined" or "withdrawal.declined");
        return response;
    }

    private IsoMessage Remac(IsoMessage message)
    {
        MessageMac.Apply(message, _h.Atm.IsoMac);
        return message;
    }

    [Fact]
    public async Task A_bad_atm_mac_is_63_and_a_missing_one_too()
    {
        var request = _h.Withdrawal(0, 100);
        var mac = request.GetBytes(128)!;
        mac[7] ^= 1;
        request.SetBytes(128, mac);
        await Declined(request, ResponseCodes.SecurityViolation);

        var unsigned = _h.Withdrawal(0, 100);
        unsigned.Remove(128);
        await Declined(unsigned, ResponseCodes.SecurityViolation);
    }

    [Fact]
    public async Task An_unknown_atm_is_12_without_a_mac()
    {
        var request = _h.Withdrawal(0, 100);
        request.TerminalId = "ATM99999";
        var response = await Declined(Remac(request), ResponseCodes.InvalidTransaction, macExpected: false);
        Assert.False(response.Has(64) || response.Has(128));
    }

    [Fact]
    public async Task An_unknown_phone_is_63()
    {
        using var bdk = SecretKey.Generate(_h.Host.Profile.BaseDerivationKeyAlgorithm);
        var ksn = KeySerialNumber.AesInitial("0000B001DEADBEEF");
        using var initial = _h.Host.Profile.DeriveInitialKey(bdk, ksn);
        using var stranger = new SimulatedPhone(_h.Host.Profile, initial, ksn);
        var qr = _h.Atm.IssueSession(100);
        await Declined(_h.Atm.Withdrawal(stranger.Request(qr, _h.Customer(0).AccountId, _h.Customer(0).Pin)), ResponseCodes.SecurityViolation);
    }

    [Fact]
    public async Task A_revoked_phone_is_63()
    {
        await _h.Host.Administration.SetPhoneStatusAsync(_h.Seed.Phones[0].Phone.DeviceId, Host.Storage.PhoneStatus.Revoked);
        await Declined(_h.Withdrawal(0, 100), ResponseCodes.SecurityViolation);
        await _h.Host.Administration.SetPhoneStatusAsync(_h.Seed.Phones[0].Phone.DeviceId, Host.Storage.PhoneStatus.Active);
    }

    [Fact]
    public async Task A_stale_key_serial_number_is_63()
    {
        var customer = _h.Customer(0);
        var older = _h.Phones[0].Request(_h.Atm.IssueSession(100), customer.AccountId, customer.Pin);
        var newer = _h.Phones[0].Request(_h.Atm.IssueSession(100), customer.AccountId, customer.Pin);
        Assert.Equal(ResponseCodes.Approved, (await _h.Atm.SendCheckedAsync(_h.Atm.Withdrawal(newer))).ResponseCode);
        _totalBefore -= 100;
        await Declined(_h.Atm.Withdrawal(older), ResponseCodes.SecurityViolation);
    }

    [Fact]
    public async Task A_phone_request_whose_amount_the_atm_changed_fails_the_phone_mac_63()
    {
        var request = _h.Withdrawal(0, 100);
        request.AmountMinor = 90_000;
        await Declined(Remac(request), ResponseCodes.SecurityViolation);
    }

    [Fact]
    public async Task An_amount_that_differs_from_the_qr_session_is_13()
    {
        var qr = _h.Atm.IssueSession(100);
        var phone = _h.Phones[0].Request(qr, _h.Customer(0).AccountId, _h.Customer(0).Pin, amountMinor: 10_000);
        await Declined(_h.Atm.Withdrawal(phone), ResponseCodes.InvalidAmount);
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(999_999_999_999L)]
    public async Task A_zero_or_absurd_amount_is_13(long amount)
    {
        var qr = _h.Atm.IssueSession(100);
        var phone = _h.Phones[0].Request(qr, _h.Customer(0).AccountId, _h.Customer(0).Pin, amountMinor: amount);
        await Declined(_h.Atm.Withdrawal(phone), ResponseCodes.InvalidAmount);
    }

    [Fact]
    public async Task A_wrong_currency_is_13()
    {
        var qr = _h.Atm.IssueSession(100, currency: 840);
        await Declined(_h.Atm.Withdrawal(_h.Phones[0].Request(qr, _h.Customer(0).AccountId, _h.Customer(0).Pin)), ResponseCodes.InvalidAmount);
    }

    [Fact]
    public async Task An_expired_session_is_54_and_a_session_of_another_atm_is_12()
    {
        var expired = _h.Atm.IssueSession(100, expiresIn: TimeSpan.FromMinutes(-5));
        await Declined(_h.Atm.Withdrawal(_h.Phones[0].Request(expired, _h.Customer(0).AccountId, _h.Customer(0).Pin)), ResponseCodes.SessionExpired);

        var otherAtm = _h.Atm.IssueSession(100, atmId: "ATM00002");
        var phone = _h.Phones[0].Request(otherAtm, _h.Customer(0).AccountId, _h.Customer(0).Pin, terminalId: _h.Atm.AtmId);
        await Declined(_h.Atm.Withdrawal(phone), ResponseCodes.InvalidTransaction);
    }

    [Fact]
    public async Task A_session_whose_mac_is_not_the_atms_is_63()
    {
        var genuine = _h.Atm.IssueSession(100);
        var forged = genuine.Text[..^4] + (genuine.Text[^4] == 'A' ? "B" : "A") + genuine.Text[^3..];
        var phone = _h.Phones[0].Request(genuine, _h.Customer(0).AccountId, _h.Customer(0).Pin, sessionPayload: forged);
        await Declined(_h.Atm.Withdrawal(phone), ResponseCodes.SecurityViolation);
    }

    [Fact]
    public async Task A_wrong_processing_code_is_12()
    {
        var qr = _h.Atm.IssueSession(100);
        var phone = _h.Phones[0].Request(qr, _h.Customer(0).AccountId, _h.Customer(0).Pin, processingCode: "310000");
        await Declined(_h.Atm.Withdrawal(phone), ResponseCodes.InvalidTransaction);
    }

    [Fact]
    public async Task A_missing_field_is_30()
    {
        var request = _h.Withdrawal(0, 100);
        request.Remove(127);
        await Declined(Remac(request), ResponseCodes.FormatError);
    }

    [Fact]
    public async Task Sql_looking_text_in_any_text_field_is_declined_and_stored_as_data()
    {
        const string hostile = "x'); DROP TABLE accounts; --";
        var customer = _h.Customer(0);

        var inQr = _h.Phones[0].Request(_h.Atm.IssueSession(100), customer.AccountId, customer.Pin, sessionPayload: hostile);
        await Declined(_h.Atm.Withdrawal(inQr), ResponseCodes.FormatError);

        var inTerminal = _h.Withdrawal(0, 100);
        inTerminal.TerminalId = "';--DROP";
        await Declined(Remac(inTerminal), ResponseCodes.FormatError, macExpected: false);
        Assert.NotNull(await _h.Host.Store.ReadAsync(r => r.GetAccount(customer.AccountId)));
    }

    [Fact]
    public async Task A_negative_amount_in_the_raw_bytes_cannot_be_answered_so_the_link_is_closed_and_the_host_stays_up()
    {
        // Field 4 comes before the STAN, so a frame broken there cannot be answered: the channel
        // drops that link (and logs why); nothing reaches the ledger.
        var request = _h.Withdrawal(0, 100);
        var packed = Corrupt(request, request.GetString(4)!, '-');
        using var raw = await SendRawAsync(packed);
        var header = new byte[2];
        Assert.Equal(0, await raw.GetStream().ReadAtLeastAsync(header, 2, throwOnEndOfStream: false));
    }

    [Fact]
    public async Task A_malformed_currency_after_the_stan_is_answered_30()
    {
        var request = _h.Withdrawal(0, 100);
        // Field 49 ("978") directly followed by field 127's LLL length prefix.
        var marker = request.GetString(49)! + request.ProtectedData!.Length.ToString("D3", System.Globalization.CultureInfo.InvariantCulture);
        var packed = Corrupt(request, marker, 'X');
        using var raw = await SendRawAsync(packed);
        var stream = raw.GetStream();
        var header = new byte[2];
        await stream.ReadExactlyAsync(header);
        var body = new byte[BinaryPrimitives.ReadUInt16BigEndian(header)];
        await stream.ReadExactlyAsync(body);
        var response = NetworkSpec.Unpack(body);
        Assert.Equal((Mti.FinancialResponse, ResponseCodes.FormatError), (response.Mti, response.ResponseCode));
    }

    private static byte[] Corrupt(IsoMessage request, string marker, char replacement)
    {
        var packed = request.Pack();
        var at = Encoding.Latin1.GetString(packed).IndexOf(marker, StringComparison.Ordinal);
        Assert.True(at > 0);
        packed[at] = (byte)replacement;
        return packed;
    }

    private async Task<TcpClient> SendRawAsync(byte[] packed)
    {
        var raw = new TcpClient();
        await raw.ConnectAsync(_h.Host.LocalEndPoint);
        var frame = new byte[2 + packed.Length];
        BinaryPrimitives.WriteUInt16BigEndian(frame, (ushort)packed.Length);
        packed.CopyTo(frame, 2);
        await raw.GetStream().WriteAsync(frame);
        return raw;
    }

    [Fact]
    public async Task Garbage_bytes_do_not_take_the_host_down()
    {
        using (var raw = new TcpClient())
        {
            await raw.ConnectAsync(_h.Host.LocalEndPoint);
            var junk = Encoding.ASCII.GetBytes("\u0000\u0010GET / HTTP/1.1\r\n\r\n' OR 1=1 --");
            await raw.GetStream().WriteAsync(junk);
            await Task.Yield();
        }

        Assert.Equal(ResponseCodes.Approved, (await _h.Atm.SendAsync(_h.Atm.NetworkManagement(NetworkManagementCodes.EchoTest))).ResponseCode);
    }

    [Fact]
    public async Task Declines_are_audited_without_the_pin_or_protected_data()
    {
        var request = _h.Withdrawal(0, 100, pin: "9876");
        var protectedHex = Convert.ToHexString(request.ProtectedData!);
        await Declined(request, ResponseCodes.IncorrectPin);
        foreach (var entry in await _h.AuditAsync(50))
        {
            Assert.DoesNotContain("9876", entry.Detail, StringComparison.Ordinal);
            Assert.DoesNotContain(_h.Customer(0).Pin, entry.Detail, StringComparison.Ordinal);
            Assert.DoesNotContain(protectedHex[..16], entry.Detail, StringComparison.Ordinal);
        }
    }
}
