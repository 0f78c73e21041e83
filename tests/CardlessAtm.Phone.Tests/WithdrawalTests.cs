using System.Net;
using System.Net.Sockets;
using CardlessAtm.Iso8583;
using CardlessAtm.Network;
using CardlessAtm.Phone.Credentials;
using CardlessAtm.Phone.Scanning;
using CardlessAtm.Phone.Withdrawal;
using CardlessAtm.Security;

namespace CardlessAtm.Phone.Tests;

public sealed class WithdrawalTests
{
    private static IWithdrawalInteraction Pin(string pin = TestKeys.Pin) => WithdrawalInteraction.Automatic(pin);

    [Theory]
    [InlineData(SecurityProfileKind.Aes)]
    [InlineData(SecurityProfileKind.Legacy3Des)]
    public async Task The_0200_carries_the_contract_fields_and_field_127_opens_on_the_host_side(SecurityProfileKind kind)
    {
        using var phone = new PhoneFixture(kind);
        await using var atm = new FakeAtm(phone.Profile, phone.Bdk);
        var payload = Fixtures.Payload(7_500);
        var session = ScannedSession.FromImage(Fixtures.Png(payload.Text));

        var outcome = await phone.Client(atm.Endpoint).WithdrawAsync(session, TestKeys.AccountId, Pin());

        Assert.Empty(atm.OpenFailures);
        var received = Assert.Single(atm.Received);
        var m = received.Message;
        Assert.Equal("0200", m.Mti);
        Assert.Equal("010000", m.GetString(3));
        Assert.Equal("000000007500", m.GetString(4));
        Assert.Equal(Fixtures.Start, m.GetTransmissionDateTime(Fixtures.Start));
        Assert.Equal(CardlessWithdrawalClient.StanFor(received.Ksn), m.Stan);
        Assert.Equal("ATM00042", m.GetString(41));
        Assert.Equal(payload.Text, m.GetString(48));
        Assert.Equal("978", m.GetString(49));
        Assert.False(m.Has(2)); // no PAN anywhere in clear
        Assert.Equal(TestKeys.AccountId, received.AccountId);
        Assert.True(received.PinMatches);
        Assert.Equal(phone.InitialKsn.InitialKeyId, received.Ksn.InitialKeyId);

        Assert.Equal(WithdrawalStatus.Approved, outcome.Status);
        Assert.Equal(7_500, outcome.Dispensed!.Value.MinorUnits);
        Assert.Equal("A1B2C3", outcome.AuthorisationCode);
        Assert.Equal(m.Stan, outcome.Stan);
        Assert.Contains("75.00 EUR dispensed", outcome.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Progress_says_when_the_phone_connects_and_when_the_request_has_left()
    {
        using var phone = new PhoneFixture();
        await using var atm = new FakeAtm(phone.Profile, phone.Bdk);
        var steps = new List<string>();

        await phone.Client(atm.Endpoint).WithdrawAsync(ScannedSession.FromText(Fixtures.Payload().Text), TestKeys.AccountId, Pin(), new ListProgress(steps));

        Assert.Equal(2, steps.Count);
        Assert.StartsWith($"Connecting to the proxy at {atm.Endpoint}", steps[0], StringComparison.Ordinal);
        Assert.StartsWith("Request sent to ATM00042 (STAN 1)", steps[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_changed_amount_fails_the_phone_mac_on_the_host_side()
    {
        using var phone = new PhoneFixture();
        await using var atm = new FakeAtm(phone.Profile, phone.Bdk);
        var opener = phone.Profile.CreatePhoneOpener(atm);

        await phone.Client(atm.Endpoint).WithdrawAsync(ScannedSession.FromText(Fixtures.Payload(5_000).Text), TestKeys.AccountId, Pin());

        var m = Assert.Single(atm.Received).Message;
        var tampered = (PhoneWithdrawalRequest.FromIso(m) with { AmountMinor = 9_000 }).Binding;
        Assert.Throws<MacMismatchException>(() => opener.Open(m.ProtectedData!, tampered));
    }

    [Fact]
    public async Task The_ksn_advances_and_persists_across_client_instances()
    {
        using var phone = new PhoneFixture();
        await using var atm = new FakeAtm(phone.Profile, phone.Bdk);

        await phone.Client(atm.Endpoint).WithdrawAsync(ScannedSession.FromText(Fixtures.Payload().Text), TestKeys.AccountId, Pin());
        await phone.Client(atm.Endpoint).WithdrawAsync(ScannedSession.FromText(Fixtures.Payload().Text), TestKeys.AccountId, Pin());

        var requests = atm.Received.ToArray();
        Assert.Equal(2, requests.Length);
        Assert.Equal(1u, requests[0].Ksn.TransactionCounter);
        Assert.Equal(2u, requests[1].Ksn.TransactionCounter);
        Assert.NotEqual(requests[0].Message.Stan, requests[1].Message.Stan);
        Assert.All(requests, r => Assert.True(r.PinMatches));
        Assert.Equal(3u, phone.Enrolment.Inspect(phone.Profile).NextKsn.TransactionCounter);
    }

    [Theory]
    [InlineData("51", "insufficient funds")]
    [InlineData("55", "incorrect PIN")]
    [InlineData("92", "not known to the network")]
    [InlineData("94", "already used")]
    [InlineData("05", "do not honour")]
    public async Task A_decline_is_reported_with_its_code_in_plain_words(string code, string words)
    {
        using var phone = new PhoneFixture();
        await using var atm = new FakeAtm(phone.Profile, phone.Bdk, (r, _) => ValueTask.FromResult<IsoMessage?>(r.CreateResponse(code)));

        var outcome = await phone.Client(atm.Endpoint).WithdrawAsync(ScannedSession.FromText(Fixtures.Payload().Text), TestKeys.AccountId, Pin());

        Assert.Equal(WithdrawalStatus.Declined, outcome.Status);
        Assert.Equal(code, outcome.ResponseCode);
        Assert.Equal(0, outcome.Dispensed!.Value.MinorUnits);
        Assert.Contains(words, outcome.Message, StringComparison.Ordinal);
        Assert.Contains($"response code {code}", outcome.Message, StringComparison.Ordinal);
        Assert.Contains("Nothing was dispensed", outcome.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("91", "cannot be reached")]
    [InlineData("96", "system malfunction")]
    public async Task A_91_or_96_is_declined_without_claiming_nothing_was_dispensed(string code, string words)
    {
        // The proxy also answers 91/96 when the ATM went silent after the request was forwarded (docs/proxy.md).
        using var phone = new PhoneFixture();
        await using var atm = new FakeAtm(phone.Profile, phone.Bdk, (r, _) => ValueTask.FromResult<IsoMessage?>(r.CreateResponse(code)));

        var outcome = await phone.Client(atm.Endpoint).WithdrawAsync(ScannedSession.FromText(Fixtures.Payload().Text), TestKeys.AccountId, Pin());

        Assert.Equal(WithdrawalStatus.Declined, outcome.Status);
        Assert.Equal(code, outcome.ResponseCode);
        Assert.Null(outcome.Dispensed);
        Assert.Contains(words, outcome.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Nothing was dispensed", outcome.Message, StringComparison.Ordinal);
        Assert.Contains("check your account", outcome.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_partial_dispense_reports_exactly_the_field_95_amount()
    {
        using var phone = new PhoneFixture();
        await using var atm = new FakeAtm(phone.Profile, phone.Bdk, (r, _) =>
        {
            var response = FakeAtm.Approve(r);
            response.ReplacementAmountMinor = 3_000;
            return ValueTask.FromResult<IsoMessage?>(response);
        });

        var outcome = await phone.Client(atm.Endpoint).WithdrawAsync(ScannedSession.FromText(Fixtures.Payload(5_000).Text), TestKeys.AccountId, Pin());

        Assert.Equal(WithdrawalStatus.PartiallyDispensed, outcome.Status);
        Assert.Equal(3_000, outcome.Dispensed!.Value.MinorUnits);
        Assert.Contains("30.00 EUR of 50.00 EUR", outcome.Message, StringComparison.Ordinal);
        Assert.Contains("20.00 EUR not dispensed is reversed", outcome.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task No_answer_within_the_timeout_is_an_unknown_outcome_not_a_decline()
    {
        using var phone = new PhoneFixture();
        await using var atm = new FakeAtm(phone.Profile, phone.Bdk, async (_, ct) =>
        {
            await Task.Delay(Timeout.Infinite, ct);
            return null;
        });
        var client = phone.Client(atm.Endpoint, o => { o.RequestTimeout = TimeSpan.FromSeconds(20); o.FakeTimers = true; });

        var withdrawal = client.WithdrawAsync(ScannedSession.FromText(Fixtures.Payload().Text), TestKeys.AccountId, Pin());
        await atm.RequestArrived.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var outcome = await TimeSteps.AdvanceUntilDone(withdrawal, phone.Time, TimeSpan.FromSeconds(1));

        Assert.Equal(WithdrawalStatus.OutcomeUnknown, outcome.Status);
        Assert.Null(outcome.Dispensed);
        Assert.StartsWith("Outcome unknown — check your account.", outcome.Message, StringComparison.Ordinal);
        Assert.Contains("within 20 s", outcome.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unreachable_proxy_means_nothing_was_sent()
    {
        using var phone = new PhoneFixture();
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var client = phone.Client(new ProxyEndpoint("127.0.0.1", port), o => { o.ConnectTimeout = TimeSpan.FromSeconds(3); o.FakeTimers = true; });

        var outcome = await TimeSteps.AdvanceUntilDone(
            client.WithdrawAsync(ScannedSession.FromText(Fixtures.Payload().Text), TestKeys.AccountId, Pin()),
            phone.Time,
            TimeSpan.FromMilliseconds(250));

        Assert.Equal(WithdrawalStatus.NotSent, outcome.Status);
        Assert.Contains("Nothing was sent; no money moved", outcome.Message, StringComparison.Ordinal);
        Assert.Equal(1u, phone.Enrolment.Inspect(phone.Profile).NextKsn.TransactionCounter); // no key spent
    }

    [Fact]
    public async Task An_expired_qr_is_refused_before_anything_is_sent()
    {
        using var phone = new PhoneFixture();
        await using var atm = new FakeAtm(phone.Profile, phone.Bdk);
        var session = ScannedSession.FromText(Fixtures.Payload(validFor: TimeSpan.FromSeconds(60)).Text);
        phone.Time.Advance(TimeSpan.FromSeconds(61));

        var ex = await Assert.ThrowsAsync<PhoneInputException>(() => phone.Client(atm.Endpoint).WithdrawAsync(session, TestKeys.AccountId, Pin()));

        Assert.Equal(PhoneInputError.QrExpired, ex.Error);
        Assert.Empty(atm.Received);
        Assert.Equal(1u, phone.Enrolment.Inspect(phone.Profile).NextKsn.TransactionCounter);
    }

    [Fact]
    public async Task A_qr_that_expires_while_the_pin_is_typed_is_refused_before_sending()
    {
        using var phone = new PhoneFixture();
        await using var atm = new FakeAtm(phone.Profile, phone.Bdk);
        var session = ScannedSession.FromText(Fixtures.Payload(validFor: TimeSpan.FromSeconds(30)).Text);
        var slowTyping = WithdrawalInteraction.FromCallbacks(
            (_, _) => ValueTask.FromResult(true),
            _ =>
            {
                phone.Time.Advance(TimeSpan.FromSeconds(45));
                return ValueTask.FromResult(PinEntry.FromChars(TestKeys.Pin));
            });

        var ex = await Assert.ThrowsAsync<PhoneInputException>(() => phone.Client(atm.Endpoint).WithdrawAsync(session, TestKeys.AccountId, slowTyping));

        Assert.Equal(PhoneInputError.QrExpired, ex.Error);
        Assert.Empty(atm.Received);
    }

    [Theory]
    [InlineData("123")]
    [InlineData("1234567890123")]
    [InlineData("12x4")]
    public async Task A_bad_pin_is_refused_before_anything_is_sent_and_no_key_is_spent(string pin)
    {
        using var phone = new PhoneFixture();
        await using var atm = new FakeAtm(phone.Profile, phone.Bdk);

        var ex = await Assert.ThrowsAsync<PhoneInputException>(() =>
            phone.Client(atm.Endpoint).WithdrawAsync(ScannedSession.FromText(Fixtures.Payload().Text), TestKeys.AccountId, Pin(pin)));

        Assert.Equal(PhoneInputError.InvalidPin, ex.Error);
        Assert.Empty(atm.Received);
        Assert.Equal(1u, phone.Enrolment.Inspect(phone.Profile).NextKsn.TransactionCounter);
    }

    [Fact]
    public async Task Not_confirming_cancels_without_sending()
    {
        using var phone = new PhoneFixture();
        await using var atm = new FakeAtm(phone.Profile, phone.Bdk);
        WithdrawalConfirmation? shown = null;
        var pinAsked = false;
        var refuse = WithdrawalInteraction.FromCallbacks(
            (c, _) =>
            {
                shown = c;
                return ValueTask.FromResult(false);
            },
            _ =>
            {
                pinAsked = true;
                return ValueTask.FromResult(PinEntry.FromChars(TestKeys.Pin));
            });

        var outcome = await phone.Client(atm.Endpoint).WithdrawAsync(ScannedSession.FromText(Fixtures.Payload(4_000).Text), TestKeys.AccountId, refuse);

        Assert.Equal(WithdrawalStatus.Cancelled, outcome.Status);
        Assert.False(pinAsked);
        Assert.Empty(atm.Received);
        Assert.Equal("Withdraw 40.00 EUR at ATM ATM00042 from account ************9010?", shown!.Prompt);
    }

    [Fact]
    public async Task Logs_outcomes_and_errors_never_hold_the_pin_or_the_full_account_id()
    {
        using var phone = new PhoneFixture();
        await using var atm = new FakeAtm(phone.Profile, phone.Bdk, (r, _) => ValueTask.FromResult<IsoMessage?>(r.CreateResponse("55")));
        var client = phone.Client(atm.Endpoint);

        var outcome = await client.WithdrawAsync(ScannedSession.FromText(Fixtures.Payload().Text), TestKeys.AccountId, Pin());
        var error = await Assert.ThrowsAsync<PhoneInputException>(() =>
            client.WithdrawAsync(ScannedSession.FromText(Fixtures.Payload().Text), TestKeys.AccountId, Pin("98765432109876")));

        var lines = phone.Logs.Lines.ToArray();
        Assert.NotEmpty(lines);
        var everything = string.Join("\n", lines) + outcome + outcome.Message + error.Message + error;
        Assert.DoesNotContain(TestKeys.AccountId, everything, StringComparison.Ordinal);
        Assert.DoesNotContain(TestKeys.Pin, everything, StringComparison.Ordinal);
        Assert.DoesNotContain("98765432109876", everything, StringComparison.Ordinal);
        Assert.Contains("************9010", string.Join("\n", lines), StringComparison.Ordinal);
        var stan = Assert.Single(atm.Received).Message.Stan!.Value;
        Assert.Contains(lines, l => l.Contains($"Stan={stan}", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("AtmId=ATM00042", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Tls_with_the_pinned_certificate_works_and_a_wrong_pin_is_never_sent_to()
    {
        using var phone = new PhoneFixture();
        using var certificate = LabCertificates.CreateSelfSigned("proxy.lab", TimeProvider.System, TimeSpan.FromDays(1));
        using var reloaded = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12(
            certificate.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pkcs12), null);
        using var other = LabCertificates.CreateSelfSigned("impostor", TimeProvider.System, TimeSpan.FromDays(1));
        await using var atm = new FakeAtm(phone.Profile, phone.Bdk, tls: TlsSetup.ServerOptions(reloaded));

        var settings = new PhoneSettings { Proxy = atm.Endpoint.ToString(), TlsServerPin = CertificatePin.ForPublicKey(certificate).ToString(), TlsTargetHost = "proxy.lab" };
        var good = settings.ToClientOptions();
        var approved = await phone.Client(atm.Endpoint, o => o.Tls = good.Tls).WithdrawAsync(ScannedSession.FromText(Fixtures.Payload().Text), TestKeys.AccountId, Pin());

        settings.TlsServerPin = CertificatePin.ForPublicKey(other).ToString();
        var bad = settings.ToClientOptions();
        var refused = await TimeSteps.AdvanceUntilDone(
            phone.Client(atm.Endpoint, o => { o.Tls = bad.Tls; o.ConnectTimeout = TimeSpan.FromSeconds(2); o.FakeTimers = true; })
                .WithdrawAsync(ScannedSession.FromText(Fixtures.Payload().Text), TestKeys.AccountId, Pin()),
            phone.Time,
            TimeSpan.FromMilliseconds(250));

        Assert.Equal(WithdrawalStatus.Approved, approved.Status);
        Assert.Equal(WithdrawalStatus.NotSent, refused.Status);
        Assert.Single(atm.Received);
    }

    [Theory]
    [InlineData("sha1:abc", null, "Phone:TlsServerPin")]
    [InlineData(null, false, "Phone:TlsServerPin")]
    public void A_bad_TLS_setting_is_the_phones_own_error_naming_its_key(string? pin, bool? insecure, string setting)
    {
        var settings = new PhoneSettings { Proxy = "127.0.0.1:8585", TlsServerPin = pin, Insecure = insecure ?? false };

        var error = Assert.Throws<PhoneInputException>(settings.ToClientOptions);

        Assert.Equal(PhoneInputError.InvalidSetting, error.Error);
        Assert.Equal(setting, error.Where);
        Assert.StartsWith(setting + ": ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_TLS_settings_give_the_pin_and_the_server_name_to_send()
    {
        using var certificate = LabCertificates.CreateSelfSigned("proxy.lab", TimeProvider.System, TimeSpan.FromDays(1));
        var pin = CertificatePin.ForPublicKey(certificate);

        var named = new PhoneSettings { Proxy = "10.0.0.5:8585", TlsServerPin = pin.ToString(), TlsTargetHost = "proxy.lab" }.ToClientOptions();
        var unnamed = new PhoneSettings { Proxy = "10.0.0.5:8585", TlsServerPin = pin.ToString() }.ToClientOptions();

        Assert.Equal(("proxy.lab", pin.ToString()), (named.Tls!.TargetHost, named.ServerPin!.ToString()));
        Assert.Equal("10.0.0.5", unnamed.Tls!.TargetHost);
    }

    private sealed class ListProgress(List<string> steps) : IProgress<string>
    {
        public void Report(string value) => steps.Add(value);
    }
}
