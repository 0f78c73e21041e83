using System.Diagnostics.Metrics;
using CardlessAtm.Host.Authorisation;
using CardlessAtm.Host.Processing;
using CardlessAtm.Host.Seeding;
using CardlessAtm.Host.Storage;
using CardlessAtm.Host.Tests.Support;
using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Mac;
using CardlessAtm.Network;
using CardlessAtm.Security;
using Microsoft.Extensions.Time.Testing;

namespace CardlessAtm.Host.Tests.InProcess;

/// <summary>
/// The authenticated link in process: sign-on (MAC under the TMK-derived key, freshness, single use, re-sign-on,
/// blocked ATM, supersede and the flapping alert), sign-off, echo under each key the host accepts, the authenticated
/// key change (not signed on, bad MAC, bad field 120, replayed nonce, pruning, grace), the throttled refusal audit, and
/// the processor's own arguments, policy and clock. Each checks the response code, whether and under which key the
/// answer is MACed, the connection's and the ATM record's sign-on, the key version, the vault and the audit line.
/// </summary>
public sealed class AuthenticatedLinkTests : IAsyncLifetime
{
    private InProcessHost _h = null!;

    public async Task InitializeAsync() => _h = await InProcessHost.StartAsync();

    public async Task DisposeAsync() => await _h.DisposeAsync();

    private static bool IsMaced(IsoMessage message) => message.Has(64) || message.Has(128);

    private static IsoMessage Maced(IsoMessage message, CardlessAtm.Iso8583.Mac.IMessageMac mac)
    {
        MessageMac.Apply(message, mac);
        return message;
    }

    /// <summary>An 0800 with <paramref name="code"/> dated <paramref name="sentAt"/>, MACed under the ATM's key-change MAC key.</summary>
    private IsoMessage Dated(string code, DateTimeOffset sentAt)
    {
        var message = SimulatedAtm.UnsignedNetworkManagement(code, DemoSeed.AtmId);
        message.SetTransmissionDateTime(sentAt);
        return Maced(message, _h.Atm.KeyChangeMac);
    }

    private Task<IsoMessage> SendAsync(IsoMessage request, HostSession connection) => _h.SendAsync(request, connection);

    private async Task<IReadOnlyList<AuditEntry>> AuditAsync(int count = 10_000) => await _h.Host.Store.ReadAsync(r => r.GetRecentAudit(count));

    private async Task<int> KeyVersionAsync() => (await _h.AtmRecordAsync())!.SessionKeyVersion;

    private async Task AssertLastAuditAsync(string eventName, string code, string detailPart)
    {
        var audit = await _h.LastAuditAsync();
        Assert.Equal((eventName, code), (audit.Event, audit.ResponseCode));
        Assert.Contains(detailPart, audit.Detail, StringComparison.Ordinal);
    }

    // ---- the processor's arguments, policy and clock ----

    [Fact]
    public async Task A_null_request_or_session_is_an_argument_error_not_a_response()
    {
        await Assert.ThrowsAsync<ArgumentNullException>("request", async () => await _h.Processor.HandleAsync(null!, new HostSession()));
        await Assert.ThrowsAsync<ArgumentNullException>("session", async () => await _h.Processor.HandleAsync(_h.Withdrawal(0, 1_000), null!));
        await Assert.ThrowsAsync<ArgumentNullException>("request", async () => await _h.Processor.HandleAsync(null!));
    }

    [Fact]
    public void The_constructor_refuses_a_missing_store_or_pin_verifier_and_an_invalid_policy()
    {
        using var pinKey = SecretKey.Generate(KeyAlgorithm.Aes256);
        var pins = new PinVerifier(pinKey);
        var (store, vault, profile) = (_h.Host.Store, _h.Host.Vault, _h.Host.Profile);

        Assert.Throws<ArgumentNullException>("store", () => new HostProcessor(null!, vault, profile, pins));
        Assert.Throws<ArgumentNullException>("pins", () => new HostProcessor(store, vault, profile, null!));
        var badPolicy = Assert.Throws<ArgumentOutOfRangeException>(() => new HostProcessor(store, vault, profile, pins, new HostPolicy { MaxPinTries = 0 }));
        Assert.Equal(nameof(HostPolicy.MaxPinTries), badPolicy.ParamName);

        // The policy allows any positive session lifetime; the QR verifier's options (built from it) at most 1 hour.
        var badSession = Assert.Throws<ArgumentOutOfRangeException>(() => new HostProcessor(store, vault, profile, pins, new HostPolicy { MaxSessionLifetime = TimeSpan.FromHours(2) }));
        Assert.Contains("MaxLifetime", badSession.ParamName, StringComparison.Ordinal);

        using var valid = new HostProcessor(store, vault, profile, pins, new HostPolicy());
        Assert.Equal(0, valid.SecurityRefusalCount);
    }

    [Fact]
    public async Task The_policys_session_lifetime_bounds_the_qr_sessions_the_host_accepts()
    {
        await using var strict = await InProcessHost.StartAsync(new HostPolicy { MaxSessionLifetime = TimeSpan.FromMinutes(3), ClockSkew = TimeSpan.Zero });
        var before = await strict.BalanceAsync(0);
        var fourMinutes = strict.Atm.IssueSession(1_000, expiresIn: TimeSpan.FromMinutes(4)); // within the default 10

        var refused = await strict.SendAsync(strict.Atm.Withdrawal(strict.Phones[0].Request(fourMinutes, strict.Customer(0).AccountId, strict.Customer(0).Pin)));

        Assert.Equal(ResponseCodes.SecurityViolation, refused.ResponseCode);
        Assert.Equal(MacCheckResult.Valid, MessageMac.Verify(refused, strict.Atm.IsoMac));
        Assert.Contains("QR session refused:", (await strict.LastAuditAsync()).Detail, StringComparison.Ordinal);
        var twoMinutes = strict.Atm.IssueSession(1_000, expiresIn: TimeSpan.FromMinutes(2));
        Assert.Equal(ResponseCodes.Approved, (await strict.SendAsync(strict.Atm.Withdrawal(strict.Phones[0].Request(twoMinutes, strict.Customer(0).AccountId, strict.Customer(0).Pin)))).ResponseCode);
        Assert.Equal(before - 1_000, await strict.BalanceAsync(0));
    }

    [Fact]
    public async Task Session_expiry_and_the_previous_keys_grace_are_judged_by_the_hosts_clock()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = await InProcessHost.StartAsync(time: time);
        var before = await h.BalanceAsync(0);

        // A request MACed under the keys a key change replaces is accepted within PreviousKeyGrace (2 min), not after.
        var inGrace = h.Atm.Withdrawal(h.Phones[0].Request(h.Atm.IssueSession(1_000, expiresIn: TimeSpan.FromMinutes(9)), h.Customer(0).AccountId, h.Customer(0).Pin));
        var afterGrace = h.Atm.Withdrawal(h.Phones[0].Request(h.Atm.IssueSession(1_000, expiresIn: TimeSpan.FromMinutes(9)), h.Customer(0).AccountId, h.Customer(0).Pin));
        await h.Atm.SignOnAndChangeKeysAsync();
        time.Advance(TimeSpan.FromSeconds(90));
        var accepted = await h.SendAsync(inGrace);
        Assert.Equal(ResponseCodes.Approved, accepted.ResponseCode);
        Assert.True(IsMaced(accepted));
        Assert.Equal(MacCheckResult.Mismatch, MessageMac.Verify(accepted, h.Atm.IsoMac)); // answered under the key it was MACed with, not the new one
        time.Advance(TimeSpan.FromSeconds(31));
        var refused = await h.SendAsync(afterGrace);
        Assert.Equal(ResponseCodes.SecurityViolation, refused.ResponseCode);
        Assert.Equal(MacCheckResult.Valid, MessageMac.Verify(refused, h.Atm.IsoMac));
        Assert.Contains("ATM message MAC Mismatch", (await h.LastAuditAsync()).Detail, StringComparison.Ordinal);

        // By the real clock this session is valid for 2 minutes; the host's clock is 3 minutes further on.
        var request = h.Withdrawal(0, 1_000);
        time.Advance(TimeSpan.FromMinutes(3));
        Assert.Equal(ResponseCodes.SessionExpired, (await h.SendAsync(request)).ResponseCode);
        Assert.Equal(before - 1_000, await h.BalanceAsync(0));
    }

    [Fact]
    public async Task With_no_previous_key_grace_a_request_under_the_replaced_key_is_refused_at_once()
    {
        await using var h = await InProcessHost.StartAsync(new HostPolicy { PreviousKeyGrace = TimeSpan.Zero });
        var before = await h.BalanceAsync(0);
        var oldKeyRequest = h.Withdrawal(0, 1_000);
        await h.Atm.SignOnAndChangeKeysAsync();

        var refused = await h.SendAsync(oldKeyRequest);

        Assert.Equal(ResponseCodes.SecurityViolation, refused.ResponseCode);
        Assert.Equal(before, await h.BalanceAsync(0));
        Assert.Contains("ATM message MAC Mismatch", (await h.LastAuditAsync()).Detail, StringComparison.Ordinal);
    }

    // ---- sign-on ----

    [Fact]
    public async Task A_sign_on_is_answered_under_the_key_change_mac_key_and_signs_the_connection_on_once()
    {
        var connection = new HostSession("10.1.0.1");
        var signedOn = 0;
        connection.SignedOn += () => signedOn++;

        var first = await SendAsync(_h.Atm.NetworkManagement(NetworkManagementCodes.SignOn), connection);

        Assert.Equal((Mti.NetworkManagementResponse, ResponseCodes.Approved), (first.Mti, first.ResponseCode));
        Assert.Equal(MacCheckResult.Valid, MessageMac.Verify(first, _h.Atm.KeyChangeMac));
        Assert.True(connection.IsSignedOnAs(DemoSeed.AtmId));
        Assert.Equal(1, signedOn);
        await AssertLastAuditAsync("atm.sign-on", ResponseCodes.Approved, "signed on");

        // Signed on again over the same connection: 00 under the same key, nothing changes, no new SignedOn.
        var again = await SendAsync(_h.Atm.NetworkManagement(NetworkManagementCodes.SignOn), connection);

        Assert.Equal(ResponseCodes.Approved, again.ResponseCode);
        Assert.Equal(MacCheckResult.Valid, MessageMac.Verify(again, _h.Atm.KeyChangeMac));
        Assert.True(connection.IsSignedOnAs(DemoSeed.AtmId));
        Assert.Equal(1, signedOn);
        var audit = await _h.LastAuditAsync();
        Assert.Equal(("atm.sign-on", ResponseCodes.Approved, DemoSeed.AtmId), (audit.Event, audit.ResponseCode, audit.AtmId));
        Assert.EndsWith("from 10.1.0.1: signed on again over the same connection", audit.Detail, StringComparison.Ordinal);
        Assert.Equal(0, _h.Processor.SecurityRefusalCount);
    }

    [Fact]
    public async Task A_sign_on_without_a_mac_or_with_a_bad_one_is_refused_63_unmaced_and_counted()
    {
        var connection = new HostSession("10.1.0.2");
        var unsigned = SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.SignOn, DemoSeed.AtmId);

        var response = await SendAsync(unsigned, connection);

        Assert.Equal(ResponseCodes.SecurityViolation, response.ResponseCode);
        Assert.False(IsMaced(response));
        Assert.False(connection.IsSignedOnAs(DemoSeed.AtmId));
        var audit = await _h.LastAuditAsync();
        Assert.Equal(("security.sign-on-refused", ResponseCodes.SecurityViolation, DemoSeed.AtmId), (audit.Event, audit.ResponseCode, audit.AtmId));
        Assert.Equal($"0800 stan {unsigned.GetString(11)} from 10.1.0.2: sign-on MAC Missing: the connection is not signed on", audit.Detail);
        Assert.Equal(1, _h.Processor.SecurityRefusalCount);

        var forged = _h.Atm.NetworkManagement(NetworkManagementCodes.SignOn);
        forged.Stan = 123_456; // after the MAC
        Assert.Equal(ResponseCodes.SecurityViolation, (await SendAsync(forged, new HostSession("10.1.0.3"))).ResponseCode);
        Assert.Contains("sign-on MAC Mismatch", (await _h.LastAuditAsync()).Detail, StringComparison.Ordinal);
        Assert.Equal(2, _h.Processor.SecurityRefusalCount);
        Assert.True(_h.AtmConnection.IsSignedOnAs(DemoSeed.AtmId)); // the ATM's own connection is untouched
    }

    [Theory]
    [InlineData(-3)]
    [InlineData(3)]
    public async Task A_stale_sign_on_is_refused_63_and_one_just_within_the_freshness_is_accepted(int minutes)
    {
        var connection = new HostSession("10.1.0.4");

        var stale = await SendAsync(Dated(NetworkManagementCodes.SignOn, DateTimeOffset.UtcNow.AddMinutes(minutes)), connection);

        Assert.Equal(ResponseCodes.SecurityViolation, stale.ResponseCode);
        Assert.False(IsMaced(stale));
        Assert.False(connection.IsSignedOnAs(DemoSeed.AtmId));
        await AssertLastAuditAsync("security.sign-on-refused", ResponseCodes.SecurityViolation, "sign-on stale: field 7 is ");
        Assert.Equal(1, _h.Processor.SecurityRefusalCount);

        var fresh = await SendAsync(Dated(NetworkManagementCodes.SignOn, DateTimeOffset.UtcNow.AddMinutes(Math.Sign(minutes) * 1.5)), connection);
        Assert.Equal(ResponseCodes.Approved, fresh.ResponseCode);
        Assert.True(connection.IsSignedOnAs(DemoSeed.AtmId));
    }

    [Fact]
    public async Task A_sign_on_without_field_7_or_with_a_malformed_one_is_refused_30()
    {
        var connection = new HostSession("10.1.0.5");
        var undated = SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.SignOn, DemoSeed.AtmId);
        undated.Remove(7);

        var response = await SendAsync(Maced(undated, _h.Atm.KeyChangeMac), connection);

        Assert.Equal(ResponseCodes.FormatError, response.ResponseCode);
        Assert.False(IsMaced(response));
        Assert.False(connection.IsSignedOnAs(DemoSeed.AtmId));
        await AssertLastAuditAsync("security.sign-on-refused", ResponseCodes.FormatError, "sign-on without field 7 (transmission date and time): the connection is not signed on");

        var malformed = SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.SignOn, DemoSeed.AtmId);
        malformed.Set(7, "1399999999"); // month 13
        var other = new HostSession("10.1.0.15"); // the same refusal kind from the same address would be throttled
        Assert.Equal(ResponseCodes.FormatError, (await SendAsync(Maced(malformed, _h.Atm.KeyChangeMac), other)).ResponseCode);
        await AssertLastAuditAsync("security.sign-on-refused", ResponseCodes.FormatError, "sign-on field 7 (transmission date and time) malformed");
        Assert.False(other.IsSignedOnAs(DemoSeed.AtmId));
    }

    [Fact]
    public async Task A_replayed_sign_on_is_refused_63_whether_the_store_or_only_the_registry_remembers_it()
    {
        var captured = _h.Atm.LastSignOn!;
        var attacker = new HostSession("10.1.0.6");

        var replay = await SendAsync(captured, attacker);

        Assert.Equal(ResponseCodes.SecurityViolation, replay.ResponseCode);
        Assert.False(IsMaced(replay));
        Assert.False(attacker.IsSignedOnAs(DemoSeed.AtmId));
        Assert.True(_h.AtmConnection.IsSignedOnAs(DemoSeed.AtmId)); // not superseded by the replay
        await AssertLastAuditAsync("security.sign-on-refused", ResponseCodes.SecurityViolation, "accepted before the host restarted");

        // A sign-on whose write failed was admitted (so remembered by the registry) but never stored.
        var signOn = _h.Atm.NetworkManagement(NetworkManagementCodes.SignOn);
        _h.Processor.BeforeSignOnRecorded = _ => throw new StoreUnavailableException("simulated");
        Assert.Equal(ResponseCodes.IssuerUnavailable, (await SendAsync(signOn, new HostSession("10.1.0.7"))).ResponseCode);
        _h.Processor.BeforeSignOnRecorded = null;

        var second = new HostSession("10.1.0.16"); // the first replay's address would throttle this row
        var again = await SendAsync(signOn, second);

        Assert.Equal(ResponseCodes.SecurityViolation, again.ResponseCode);
        Assert.False(second.IsSignedOnAs(DemoSeed.AtmId));
        var audit = await _h.LastAuditAsync();
        Assert.Equal("security.sign-on-refused", audit.Event);
        Assert.EndsWith("sign-on already accepted once (replayed 0800/001): the connection is not signed on", audit.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_sign_on_whose_handling_fails_unexpectedly_is_answered_96_under_the_session_key_and_not_signed_on()
    {
        _h.Processor.BeforeSignOnRecorded = _ => throw new InvalidOperationException("boom");
        var connection = new HostSession("10.1.0.8");

        var response = await SendAsync(_h.Atm.NetworkManagement(NetworkManagementCodes.SignOn), connection);

        Assert.Equal(ResponseCodes.SystemMalfunction, response.ResponseCode);
        Assert.Equal(MacCheckResult.Valid, MessageMac.Verify(response, _h.Atm.IsoMac));
        Assert.False(connection.IsSignedOnAs(DemoSeed.AtmId));
        var audit = await _h.LastAuditAsync();
        Assert.Equal(("request.failed", ResponseCodes.SystemMalfunction, "0800: unexpected error: InvalidOperationException", DemoSeed.AtmId), (audit.Event, audit.ResponseCode, audit.Detail, audit.AtmId));
    }

    [Fact]
    public async Task More_sign_ons_than_the_registry_keeps_within_the_freshness_are_refused_63()
    {
        var connection = new HostSession("10.1.0.9");
        IsoMessage response;
        var sent = 0;
        do
        {
            response = await SendAsync(_h.Atm.NetworkManagement(NetworkManagementCodes.SignOn), connection);
            sent++;
        }
        while (response.ResponseCode == ResponseCodes.Approved && sent <= SignOnRegistry.MaxRecentPerAtm + 1);

        Assert.Equal(ResponseCodes.SecurityViolation, response.ResponseCode);
        Assert.Equal(SignOnRegistry.MaxRecentPerAtm, sent); // the harness's own sign-on is the first of 256
        Assert.False(IsMaced(response));
        await AssertLastAuditAsync("security.sign-on-refused", ResponseCodes.SecurityViolation, $"more than {SignOnRegistry.MaxRecentPerAtm} sign-ons of this ATM within Host:Policy:SignOnFreshness");
        Assert.True(connection.IsSignedOnAs(DemoSeed.AtmId)); // the connection's earlier sign-on stands
    }

    [Fact]
    public async Task A_blocked_atms_sign_on_is_declined_12_under_the_key_change_mac_key_and_not_signed_on()
    {
        await _h.Host.Administration.SetAtmStatusAsync(DemoSeed.AtmId, AtmStatus.Blocked);
        var connection = new HostSession("10.1.0.10");

        var response = await SendAsync(_h.Atm.NetworkManagement(NetworkManagementCodes.SignOn), connection);

        Assert.Equal(ResponseCodes.InvalidTransaction, response.ResponseCode);
        Assert.Equal(MacCheckResult.Valid, MessageMac.Verify(response, _h.Atm.KeyChangeMac));
        Assert.False(connection.IsSignedOnAs(DemoSeed.AtmId));
        var audit = await _h.LastAuditAsync();
        Assert.Equal(("request.declined", ResponseCodes.InvalidTransaction, DemoSeed.AtmId), (audit.Event, audit.ResponseCode, audit.AtmId));
        Assert.EndsWith("from 10.1.0.10: sign-on of a blocked ATM", audit.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_sign_on_over_a_new_connection_supersedes_the_old_one_and_counts_it()
    {
        long measured = 0;
        string? tagged = null;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter == _h.Processor.Meter && instrument.Name == "cardless_atm.host.sign-on.superseded")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            Interlocked.Add(ref measured, value);
            tagged = $"{tags[0].Key}={tags[0].Value}";
        });
        listener.Start();
        var superseded = 0;
        _h.AtmConnection.Superseded += () => superseded++;
        var newer = new HostSession("10.1.0.11");

        Assert.Equal(ResponseCodes.Approved, (await SendAsync(_h.Atm.NetworkManagement(NetworkManagementCodes.SignOn), newer)).ResponseCode);

        Assert.Equal(1, superseded);
        Assert.Equal((1L, "atm=" + DemoSeed.AtmId), (Interlocked.Read(ref measured), tagged));
        Assert.False(_h.AtmConnection.IsSignedOnAs(DemoSeed.AtmId));
        Assert.True(newer.IsSignedOnAs(DemoSeed.AtmId));
        Assert.DoesNotContain(await AuditAsync(), a => a.Event == "security.sign-on-flapping"); // one supersede is below the threshold (5)
        var before = await _h.BalanceAsync(0);
        Assert.Equal(ResponseCodes.SecurityViolation, (await _h.SendAsync(_h.Withdrawal(0, 1_000))).ResponseCode); // the old connection
        Assert.Equal(ResponseCodes.Approved, (await _h.SendAsync(_h.Withdrawal(0, 1_000), newer)).ResponseCode);
        Assert.Equal(before - 1_000, await _h.BalanceAsync(0));
    }

    [Fact]
    public async Task Supersedes_reaching_the_threshold_raise_one_flapping_alert_not_counted_as_a_refusal()
    {
        await using var h = await InProcessHost.StartAsync(new HostPolicy { SupersedeAlertThreshold = 3 });
        Assert.Equal(ResponseCodes.Approved, (await h.SendAsync(h.Atm.NetworkManagement(NetworkManagementCodes.SignOn), new HostSession("10.2.0.1"))).ResponseCode);
        Assert.Equal(ResponseCodes.Approved, (await h.SendAsync(h.Atm.NetworkManagement(NetworkManagementCodes.SignOn), new HostSession("10.2.0.2"))).ResponseCode);
        var rows = await h.Host.Store.ReadAsync(r => r.GetRecentAudit(10_000));
        Assert.DoesNotContain(rows, a => a.Event == "security.sign-on-flapping"); // 2 supersedes, threshold 3

        Assert.Equal(ResponseCodes.Approved, (await h.SendAsync(h.Atm.NetworkManagement(NetworkManagementCodes.SignOn), new HostSession("10.2.0.3"))).ResponseCode);

        var alert = Assert.Single(await h.Host.Store.ReadAsync(r => r.GetRecentAudit(10_000)), a => a.Event == "security.sign-on-flapping");
        Assert.Equal((DemoSeed.AtmId, ResponseCodes.Approved), (alert.AtmId, alert.ResponseCode));
        Assert.EndsWith($"from 10.2.0.3: ATM {DemoSeed.AtmId} superseded 3 times in 00:01:00 (Host:Policy:SupersedeAlertThreshold): two devices hold its master key, or it keeps reconnecting", alert.Detail, StringComparison.Ordinal);
        Assert.Equal(0, h.Processor.SecurityRefusalCount);
        Assert.Equal(("atm.sign-on", "signed on"), ((await h.LastAuditAsync()).Event, (await h.LastAuditAsync()).Detail));
    }

    // ---- sign-off ----

    [Fact]
    public async Task A_sign_off_signs_the_connection_off_once_and_its_replay_is_refused_63()
    {
        var signedOff = 0;
        _h.AtmConnection.SignedOff += () => signedOff++;
        var signOff = _h.Atm.NetworkManagement(NetworkManagementCodes.SignOff);

        var off = await _h.SendAsync(signOff);

        Assert.Equal(ResponseCodes.Approved, off.ResponseCode);
        Assert.Equal(MacCheckResult.Valid, MessageMac.Verify(off, _h.Atm.IsoMac));
        Assert.Equal(1, signedOff);
        Assert.False(_h.AtmConnection.IsSignedOnAs(DemoSeed.AtmId));
        Assert.False((await _h.AtmRecordAsync())!.SignedOn);
        Assert.Equal(ResponseCodes.SecurityViolation, (await _h.SendAsync(_h.Withdrawal(0, 1_000))).ResponseCode);
        await AssertLastAuditAsync("security.not-signed-on", ResponseCodes.SecurityViolation, "financial message on a connection not signed on as this ATM");

        // Signed on again, the recorded sign-off cannot sign the connection off.
        Assert.Equal(ResponseCodes.Approved, (await _h.SendAsync(_h.Atm.NetworkManagement(NetworkManagementCodes.SignOn))).ResponseCode);
        var replay = await _h.SendAsync(signOff);

        Assert.Equal(ResponseCodes.SecurityViolation, replay.ResponseCode);
        Assert.False(IsMaced(replay));
        Assert.Equal(1, signedOff);
        Assert.True(_h.AtmConnection.IsSignedOnAs(DemoSeed.AtmId));
        Assert.True((await _h.AtmRecordAsync())!.SignedOn);
        await AssertLastAuditAsync("security.sign-off-refused", ResponseCodes.SecurityViolation, "sign-off already accepted once (replayed 0800/002): the connection stays signed on");
    }

    [Fact]
    public async Task A_sign_off_macd_under_the_session_key_is_accepted()
    {
        var signOff = SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.SignOff, DemoSeed.AtmId);

        var off = await _h.SendAsync(Maced(signOff, _h.Atm.IsoMac));

        Assert.Equal(ResponseCodes.Approved, off.ResponseCode);
        Assert.False(_h.AtmConnection.IsSignedOnAs(DemoSeed.AtmId));
        await AssertLastAuditAsync("atm.sign-off", ResponseCodes.Approved, "signed off");
    }

    [Fact]
    public async Task A_sign_off_on_a_connection_not_signed_on_as_the_atm_is_refused_63_and_signs_nothing_off()
    {
        var stranger = new HostSession("10.3.0.1");

        var response = await SendAsync(_h.Atm.NetworkManagement(NetworkManagementCodes.SignOff), stranger);

        Assert.Equal(ResponseCodes.SecurityViolation, response.ResponseCode);
        Assert.False(IsMaced(response));
        Assert.True(_h.AtmConnection.IsSignedOnAs(DemoSeed.AtmId));
        Assert.True((await _h.AtmRecordAsync())!.SignedOn);
        await AssertLastAuditAsync("security.not-signed-on", ResponseCodes.SecurityViolation, "from 10.3.0.1: sign-off on a connection not signed on as this ATM");
        Assert.Equal(1, _h.Processor.SecurityRefusalCount);
    }

    [Fact]
    public async Task A_stale_or_undated_sign_off_is_refused_and_the_connection_stays_signed_on()
    {
        var stale = await _h.SendAsync(Dated(NetworkManagementCodes.SignOff, DateTimeOffset.UtcNow.AddMinutes(-3)));

        Assert.Equal(ResponseCodes.SecurityViolation, stale.ResponseCode);
        Assert.True(_h.AtmConnection.IsSignedOnAs(DemoSeed.AtmId));
        await AssertLastAuditAsync("security.sign-off-refused", ResponseCodes.SecurityViolation, "sign-off stale: field 7 is 18");

        var undated = SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.SignOff, DemoSeed.AtmId);
        undated.Remove(7);
        var response = await _h.SendAsync(Maced(undated, _h.Atm.KeyChangeMac));

        Assert.Equal(ResponseCodes.FormatError, response.ResponseCode);
        Assert.True(_h.AtmConnection.IsSignedOnAs(DemoSeed.AtmId));
        Assert.True((await _h.AtmRecordAsync())!.SignedOn);
        await AssertLastAuditAsync("security.sign-off-refused", ResponseCodes.FormatError, "sign-off without field 7 (transmission date and time): the connection stays signed on");
    }

    // ---- echo ----

    [Fact]
    public async Task An_echo_is_accepted_under_the_key_change_mac_key_or_a_replaced_key_in_its_grace_and_refused_under_another()
    {
        var underOldKey = Maced(SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.EchoTest, DemoSeed.AtmId), _h.Atm.IsoMac);
        await _h.Atm.SignOnAndChangeKeysAsync();

        var old = await _h.SendAsync(underOldKey);
        Assert.Equal(ResponseCodes.Approved, old.ResponseCode);
        Assert.Equal(MacCheckResult.Valid, MessageMac.Verify(old, _h.Atm.IsoMac)); // answered under the current key

        var underKeyChangeKey = await _h.SendAsync(Maced(SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.EchoTest, DemoSeed.AtmId), _h.Atm.KeyChangeMac));
        Assert.Equal(ResponseCodes.Approved, underKeyChangeKey.ResponseCode);

        var other = await _h.Host.Administration.AddAtmAsync("ATM00002", "other", 978);
        using var otherMaster = other.MasterKey;
        var otherAtm = _h.NewAtm("ATM00002", otherMaster);
        var forged = SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.EchoTest, DemoSeed.AtmId);
        var refused = await _h.SendAsync(Maced(forged, otherAtm.KeyChangeMac));
        Assert.Equal(ResponseCodes.SecurityViolation, refused.ResponseCode);
        Assert.False(IsMaced(refused));
        await AssertLastAuditAsync("security.bad-mac", ResponseCodes.SecurityViolation, "network management MAC does not verify");
    }

    [Fact]
    public async Task An_atm_without_session_keys_may_mac_its_echo_under_the_key_change_mac_key()
    {
        var other = await _h.Host.Administration.AddAtmAsync("ATM00002", "other", 978);
        using var master = other.MasterKey;
        var fresh = _h.NewAtm("ATM00002", master);

        var echo = await _h.SendAsync(Maced(SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.EchoTest, "ATM00002"), fresh.KeyChangeMac), new HostSession());

        Assert.Equal(ResponseCodes.Approved, echo.ResponseCode);
        Assert.False(IsMaced(echo)); // no session key to answer under
    }

    [Fact]
    public async Task A_blocked_atms_echo_is_declined_12_under_its_session_key_and_audited_through_the_throttle()
    {
        await _h.Host.Administration.SetAtmStatusAsync(DemoSeed.AtmId, AtmStatus.Blocked);
        var before = (await AuditAsync()).Count;

        for (var i = 0; i < 5; i++)
        {
            var response = await SendAsync(_h.Atm.NetworkManagement(NetworkManagementCodes.EchoTest), new HostSession("10.4.0.1"));
            Assert.Equal(ResponseCodes.InvalidTransaction, response.ResponseCode);
            Assert.Equal(MacCheckResult.Valid, MessageMac.Verify(response, _h.Atm.IsoMac));
        }

        Assert.Equal(before + 1, (await AuditAsync()).Count);
        var audit = await _h.LastAuditAsync();
        Assert.Equal(("request.declined", ResponseCodes.InvalidTransaction, DemoSeed.AtmId), (audit.Event, audit.ResponseCode, audit.AtmId));
        Assert.EndsWith("from 10.4.0.1: ATM is blocked", audit.Detail, StringComparison.Ordinal);
        Assert.Equal(5, _h.Processor.SecurityRefusalCount);
    }

    // ---- key change ----

    [Fact]
    public async Task A_key_change_is_answered_under_the_key_change_mac_key_and_saves_the_new_mac_and_pin_keys()
    {
        var before = await KeyVersionAsync();

        var change = await _h.Atm.SignOnAndChangeKeysAsync();

        var version = await KeyVersionAsync();
        Assert.Equal((before + 1, version), (version, _h.Atm.KeyVersion));
        Assert.Equal(MacCheckResult.Valid, MessageMac.Verify(change, _h.Atm.KeyChangeMac));
        Assert.True(change.Has(120));
        Assert.True(_h.Host.Vault.Contains($"mac-{DemoSeed.AtmId}-v{version}"));
        Assert.True(_h.Host.Vault.Contains($"tpk-{DemoSeed.AtmId}-v{version}"));
        Assert.True(_h.Host.Vault.Contains($"mac-{DemoSeed.AtmId}-v{before}")); // still in its grace
        var record = (await _h.AtmRecordAsync())!;
        Assert.Equal(($"mac-{DemoSeed.AtmId}-v{version}", $"mac-{DemoSeed.AtmId}-v{before}"), (record.SessionKeyRef, record.PreviousSessionKeyRef));
        Assert.NotNull(record.PreviousKeyValidUntil);
        Assert.InRange(record.PreviousKeyValidUntil!.Value, DateTimeOffset.UtcNow.AddMinutes(1), DateTimeOffset.UtcNow.AddMinutes(3));
    }

    [Fact]
    public async Task Key_files_beyond_the_kept_previous_versions_are_pruned_from_the_vault()
    {
        var first = await KeyVersionAsync();
        for (var i = 0; i < HostProcessor.MaxPreviousKeyVersions + 1; i++)
        {
            await _h.Atm.SignOnAndChangeKeysAsync();
        }

        var current = await KeyVersionAsync();
        Assert.Equal(first + HostProcessor.MaxPreviousKeyVersions + 1, current);
        var names = _h.Host.Vault.List();
        foreach (var prefix in new[] { "mac", "tpk" })
        {
            var kept = names.Where(n => n.StartsWith($"{prefix}-{DemoSeed.AtmId}-v", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
            Assert.Equal(HostProcessor.MaxPreviousKeyVersions + 1, kept.Count); // the current version and 8 replaced ones
            Assert.DoesNotContain($"{prefix}-{DemoSeed.AtmId}-v{first}", kept);
            Assert.Contains($"{prefix}-{DemoSeed.AtmId}-v{first + 1}", kept);
            Assert.Contains($"{prefix}-{DemoSeed.AtmId}-v{current}", kept);
        }

        Assert.Equal(ResponseCodes.Approved, (await _h.SendAsync(_h.Withdrawal(0, 1_000))).ResponseCode);
    }

    [Fact]
    public async Task A_key_change_on_a_connection_not_signed_on_or_without_its_mac_is_refused_63_and_changes_no_key()
    {
        var before = await KeyVersionAsync();
        var stranger = new HostSession("10.5.0.1");

        var notSignedOn = await SendAsync(_h.Atm.NetworkManagement(NetworkManagementCodes.KeyChange), stranger);

        Assert.Equal(ResponseCodes.SecurityViolation, notSignedOn.ResponseCode);
        Assert.False(IsMaced(notSignedOn));
        await AssertLastAuditAsync("security.key-change-refused", ResponseCodes.SecurityViolation, "from 10.5.0.1: key change on a connection not signed on as this ATM: no key changed");

        var underSessionKey = _h.Atm.NetworkManagement(NetworkManagementCodes.KeyChange);
        var badMac = await _h.SendAsync(Maced(underSessionKey, _h.Atm.IsoMac));

        Assert.Equal(ResponseCodes.SecurityViolation, badMac.ResponseCode);
        Assert.False(IsMaced(badMac));
        await AssertLastAuditAsync("security.key-change-refused", ResponseCodes.SecurityViolation, "key-change MAC Mismatch: no key changed");
        Assert.Equal(before, await KeyVersionAsync());
        Assert.Equal(2, _h.Processor.SecurityRefusalCount);
    }

    [Fact]
    public async Task A_blocked_atms_key_change_is_declined_12_under_the_key_change_mac_key()
    {
        var before = await KeyVersionAsync();
        await _h.Host.Administration.SetAtmStatusAsync(DemoSeed.AtmId, AtmStatus.Blocked);

        var response = await _h.SendAsync(_h.Atm.NetworkManagement(NetworkManagementCodes.KeyChange));

        Assert.Equal(ResponseCodes.InvalidTransaction, response.ResponseCode);
        Assert.Equal(MacCheckResult.Valid, MessageMac.Verify(response, _h.Atm.KeyChangeMac));
        Assert.False(response.Has(120));
        Assert.Equal(before, await KeyVersionAsync());
        await AssertLastAuditAsync("request.declined", ResponseCodes.InvalidTransaction, "ATM is blocked");
    }

    [Fact]
    public async Task A_key_change_with_a_bad_or_missing_field_120_is_declined_30_under_the_key_change_mac_key()
    {
        var before = await KeyVersionAsync();
        var garbage = SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.KeyChange, DemoSeed.AtmId);
        garbage.KeyChangeData = [1, 2, 3];

        var response = await _h.SendAsync(Maced(garbage, _h.Atm.KeyChangeMac));

        Assert.Equal(ResponseCodes.FormatError, response.ResponseCode);
        Assert.Equal(MacCheckResult.Valid, MessageMac.Verify(response, _h.Atm.KeyChangeMac));
        Assert.False(response.Has(120));
        await AssertLastAuditAsync("request.declined", ResponseCodes.FormatError, "key-change request field 120 refused:");

        var missing = SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.KeyChange, DemoSeed.AtmId);
        var noData = await _h.SendAsync(Maced(missing, _h.Atm.KeyChangeMac));

        Assert.Equal(ResponseCodes.FormatError, noData.ResponseCode);
        Assert.Equal(MacCheckResult.Valid, MessageMac.Verify(noData, _h.Atm.KeyChangeMac));
        Assert.Equal(before, await KeyVersionAsync());
    }

    [Fact]
    public async Task An_atms_first_key_change_keeps_no_previous_key()
    {
        using var master = (await _h.Host.Administration.AddAtmAsync("ATM00002", "other", 978)).MasterKey;
        var fresh = _h.NewAtm("ATM00002", master);

        var change = await fresh.SignOnAndChangeKeysAsync();

        Assert.Equal(ResponseCodes.Approved, change.ResponseCode);
        var record = (await _h.AtmRecordAsync("ATM00002"))!;
        Assert.Equal((1, "mac-ATM00002-v1", (string?)null, (DateTimeOffset?)null), (record.SessionKeyVersion, record.SessionKeyRef, record.PreviousSessionKeyRef, record.PreviousKeyValidUntil));
        Assert.Empty(await _h.Host.Store.ReadAsync(r => r.GetPreviousSessionKeys("ATM00002")));
        Assert.Equal(ResponseCodes.Approved, (await fresh.SendAsync(fresh.NetworkManagement(NetworkManagementCodes.EchoTest))).ResponseCode);
        Assert.True(_h.Host.Vault.Contains($"mac-{DemoSeed.AtmId}-v{await KeyVersionAsync()}")); // another ATM's key change prunes none of this one's
    }

    [Fact]
    public async Task A_replayed_key_change_is_refused_63_and_changes_no_key()
    {
        var request = _h.Atm.NetworkManagement(NetworkManagementCodes.KeyChange);
        Assert.Equal(ResponseCodes.Approved, (await _h.SendAsync(request)).ResponseCode);
        var version = await KeyVersionAsync();
        var kcv = (await _h.AtmRecordAsync())!.SessionKeyCheckValue;

        var replay = await _h.SendAsync(request);

        Assert.Equal(ResponseCodes.SecurityViolation, replay.ResponseCode);
        Assert.False(IsMaced(replay));
        Assert.False(replay.Has(120));
        Assert.Equal((version, kcv), (await KeyVersionAsync(), (await _h.AtmRecordAsync())!.SessionKeyCheckValue));
        await AssertLastAuditAsync("security.key-change-refused", ResponseCodes.SecurityViolation, "key-change nonce already used (replayed 0800/101): no key changed");
    }

    // ---- the throttled refusal audit ----

    [Fact]
    public async Task Refusals_suppressed_in_an_interval_are_carried_into_the_next_row_of_their_key()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = await InProcessHost.StartAsync(time: time);
        var attacker = new HostSession("10.6.0.1");
        var before = (await h.Host.Store.ReadAsync(r => r.GetRecentAudit(10_000))).Count;

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(ResponseCodes.SecurityViolation, (await h.SendAsync(SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.SignOn, DemoSeed.AtmId), attacker)).ResponseCode);
        }

        Assert.Equal(before + 1, (await h.Host.Store.ReadAsync(r => r.GetRecentAudit(10_000))).Count);
        Assert.Equal(3, h.Processor.SecurityRefusalCount);
        var firstAt = time.GetUtcNow();
        time.Advance(TimeSpan.FromSeconds(61));

        await h.SendAsync(SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.SignOn, DemoSeed.AtmId), attacker);

        var row = await h.LastAuditAsync();
        Assert.Equal("security.sign-on-refused", row.Event);
        Assert.EndsWith($"the connection is not signed on [+2 more from 10.6.0.1 since {firstAt:u} not audited]", row.Detail, StringComparison.Ordinal);
        Assert.Equal(before + 2, (await h.Host.Store.ReadAsync(r => r.GetRecentAudit(10_000))).Count);
    }

    [Fact]
    public async Task Refusals_past_the_row_budget_are_reported_in_one_summary_row_in_the_next_interval()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = await InProcessHost.StartAsync(new HostPolicy { RefusalAuditMaxRows = 1 }, time);

        // Three addresses, one kind: the first gets the interval's one row, the other two are dropped.
        for (var i = 1; i <= 3; i++)
        {
            await h.SendAsync(SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.SignOn, DemoSeed.AtmId), new HostSession("10.7.0." + i));
        }

        var rows = await h.Host.Store.ReadAsync(r => r.GetRecentAudit(10_000));
        Assert.Single(rows, a => a.Event == "security.sign-on-refused");
        Assert.DoesNotContain(rows, a => a.Event == "security.refusals-suppressed");
        time.Advance(TimeSpan.FromSeconds(61));

        await h.SendAsync(SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.SignOn, DemoSeed.AtmId), new HostSession("10.7.0.9"));

        var summary = Assert.Single(await h.Host.Store.ReadAsync(r => r.GetRecentAudit(10_000)), a => a.Event == "security.refusals-suppressed");
        Assert.Equal(((string?)null, (string?)null), (summary.AtmId, summary.ResponseCode));
        Assert.Equal("2 refusals were not audited in the previous 00:01:00: its budget of 1 rows (Host:Policy:RefusalAuditMaxRows) was spent", summary.Detail);
        Assert.Equal("security.sign-on-refused", (await h.LastAuditAsync()).Event);
        Assert.Equal(4, h.Processor.SecurityRefusalCount);
    }

    [Fact]
    public async Task Refusals_suppressed_under_a_key_that_went_quiet_are_reported_when_it_expires()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = await InProcessHost.StartAsync(time: time);
        var quiet = new HostSession("10.8.0.1");
        for (var i = 0; i < 4; i++)
        {
            await h.SendAsync(SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.SignOn, DemoSeed.AtmId), quiet);
        }

        time.Advance(TimeSpan.FromMinutes(3));

        await h.SendAsync(SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.SignOn, DemoSeed.AtmId), new HostSession("10.8.0.2"));

        var summary = Assert.Single(await h.Host.Store.ReadAsync(r => r.GetRecentAudit(10_000)), a => a.Event == "security.refusals-suppressed");
        Assert.Equal("3 refusals under 1 throttle keys (address, event, ATM) were not audited; their keys expired after 00:01:00 without another row", summary.Detail);
        Assert.Contains("from 10.8.0.2:", (await h.LastAuditAsync()).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Refusals_of_different_kinds_or_for_different_known_atms_are_throttled_apart()
    {
        var attacker = new HostSession("10.9.0.1");
        using var otherMaster = (await _h.Host.Administration.AddAtmAsync("ATM00002", "other", 978)).MasterKey;
        var before = (await AuditAsync()).Count;

        await SendAsync(SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.SignOn, DemoSeed.AtmId), attacker); // bad-mac, ATM00001
        await SendAsync(SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.SignOn, "ATM00002"), attacker); // bad-mac, ATM00002
        await SendAsync(_h.Atm.LastSignOn!, attacker); // replayed, ATM00001
        await SendAsync(Dated(NetworkManagementCodes.SignOn, DateTimeOffset.UtcNow.AddMinutes(-5)), attacker); // stale, ATM00001
        await SendAsync(SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.SignOn, DemoSeed.AtmId), attacker); // repeat of the first key

        var all = await AuditAsync();
        var added = all.Take(all.Count - before).ToList();
        Assert.Equal(4, added.Count);
        Assert.All(added, a => Assert.Equal("security.sign-on-refused", a.Event));
        Assert.Single(added, a => a.AtmId == "ATM00002");
        Assert.Single(added, a => a.Detail.Contains("replayed 0800/001", StringComparison.Ordinal));
        Assert.Single(added, a => a.Detail.Contains("sign-on stale", StringComparison.Ordinal));
        Assert.Equal(5, _h.Processor.SecurityRefusalCount);
    }

    [Fact]
    public async Task Refusals_naming_atms_the_host_does_not_know_share_one_throttle_key_per_address()
    {
        var attacker = new HostSession("10.9.0.2");
        var before = (await AuditAsync()).Count;

        for (var i = 0; i < 5; i++)
        {
            var unknown = SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.SignOn, $"ZZZ9999{i}");
            Assert.Equal(ResponseCodes.InvalidTransaction, (await SendAsync(unknown, attacker)).ResponseCode);
        }

        Assert.Equal(before + 1, (await AuditAsync()).Count);
        var audit = await _h.LastAuditAsync();
        Assert.Equal(("request.declined", ResponseCodes.InvalidTransaction, "ZZZ99990"), (audit.Event, audit.ResponseCode, audit.AtmId));
        Assert.EndsWith("from 10.9.0.2: network management from an unknown ATM", audit.Detail, StringComparison.Ordinal);
        Assert.Equal(5, _h.Processor.SecurityRefusalCount);
    }

    [Fact]
    public async Task Refusals_are_counted_by_the_refusals_meter_with_their_event()
    {
        var events = new List<string>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter == _h.Processor.Meter && instrument.Name == "cardless_atm.host.security.refusals")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            for (var i = 0; i < value; i++)
            {
                events.Add($"{tags[0].Key}={tags[0].Value}");
            }
        });
        listener.Start();

        await SendAsync(SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.SignOn, DemoSeed.AtmId), new HostSession("10.10.0.1"));
        await SendAsync(_h.Withdrawal(0, 1_000), new HostSession("10.10.0.1"));
        await _h.SendAsync(_h.Atm.NetworkManagement(NetworkManagementCodes.SignOn)); // re-sign-on: audited through the throttle, not a refusal

        Assert.Equal(["event=security.sign-on-refused", "event=security.not-signed-on"], events);
        Assert.Equal(2, _h.Processor.SecurityRefusalCount);
    }
}
