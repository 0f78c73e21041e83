using CardlessAtm.Host.Seeding;
using CardlessAtm.Host.Storage;
using CardlessAtm.Host.Tests.Support;
using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Mac;
using CardlessAtm.Network;
using CardlessAtm.Security;

namespace CardlessAtm.Host.Tests.Tcp;

/// <summary>
/// Issue 12 at the host, through the real listener on loopback: the key change is authenticated (MAC under the
/// TMK-derived key, fresh nonce, version written in the transaction that reads it) and sign-on is enforced per
/// connection. Each test failed on main before the change: any TCP client could rotate an ATM's keys and send
/// 0200s on a connection that never signed on.
/// </summary>
public sealed class AuthenticatedKeyChangeTests : IAsyncLifetime
{
    private HostHarness _h = null!;

    public async Task InitializeAsync() => _h = await HostHarness.StartAsync();

    public async Task DisposeAsync() => await _h.DisposeAsync();

    private Task<AtmRecord> AtmAsync() => _h.Host.Store.ReadAsync(r => r.GetAtm(DemoSeed.AtmId)!);

    /// <summary>A raw TCP client that knows the ATM id (printed in every QR) but not the ATM's master key.</summary>
    private async Task<SimulatedAtm> ImpostorAsync()
    {
        using var wrongMaster = SecretKey.Generate(_h.Host.Profile.TerminalMasterKeyAlgorithm);
        var impostor = new SimulatedAtm(_h.Host.Profile, DemoSeed.AtmId, SecretKey.Create(wrongMaster.Algorithm, wrongMaster.ExportBytes()), _h.Host.LocalEndPoint);
        await impostor.ConnectAsync();
        return impostor;
    }

    [Fact]
    public async Task A_forged_key_change_from_a_raw_client_changes_no_key_and_the_real_atm_keeps_working()
    {
        var before = await AtmAsync();
        await using var impostor = await ImpostorAsync();

        // Unsigned, as on main; and signed under a key the impostor derived from a master key of its own; and
        // after a (refused) sign-on attempt.
        var unsigned = await impostor.SendAsync(SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.KeyChange, DemoSeed.AtmId));
        var wrongKey = await impostor.SendAsync(impostor.NetworkManagement(NetworkManagementCodes.KeyChange));
        var signOn = await impostor.SendAsync(impostor.NetworkManagement(NetworkManagementCodes.SignOn));
        var afterSignOn = await impostor.SendAsync(impostor.NetworkManagement(NetworkManagementCodes.KeyChange));

        Assert.All([unsigned, wrongKey, signOn, afterSignOn], r => Assert.Equal(ResponseCodes.SecurityViolation, r.ResponseCode));
        Assert.All([unsigned, wrongKey, afterSignOn], r => Assert.Null(r.KeyChangeData));
        var after = await AtmAsync();
        Assert.Equal((before.SessionKeyRef, before.SessionKeyVersion, before.SessionKeyCheckValue), (after.SessionKeyRef, after.SessionKeyVersion, after.SessionKeyCheckValue));
        var audit = await _h.AuditAsync(10);
        Assert.Contains(audit, a => a.Event == "security.key-change-refused" && a.AtmId == DemoSeed.AtmId);
        Assert.Contains(audit, a => a.Event == "security.sign-on-refused");

        var balance = await _h.BalanceAsync(0);
        Assert.Equal(ResponseCodes.Approved, (await _h.Atm.SendCheckedAsync(_h.Withdrawal(0, 2_000))).ResponseCode);
        Assert.Equal(balance - 2_000, await _h.BalanceAsync(0));
        Assert.True((await _h.TotalsAsync()).Balances);
    }

    [Fact]
    public async Task A_replayed_key_change_request_changes_no_key()
    {
        var request = _h.Atm.NetworkManagement(NetworkManagementCodes.KeyChange);
        var first = await _h.Atm.SendAsync(request);
        Assert.Equal(ResponseCodes.Approved, first.ResponseCode);
        var before = await AtmAsync();

        // The same authentic bytes (same nonce, same MAC) sent again, as a recorder on the wire would.
        var replayed = await _h.Atm.SendAsync(request);

        Assert.Equal(ResponseCodes.SecurityViolation, replayed.ResponseCode);
        Assert.Null(replayed.KeyChangeData);
        Assert.Equal(before.SessionKeyVersion, (await AtmAsync()).SessionKeyVersion);
    }

    [Fact]
    public async Task The_0810_is_maced_and_binds_the_keys_to_the_nonce_and_a_higher_version()
    {
        var before = _h.Atm.KeyVersion;

        var change = await _h.Atm.SignOnAndChangeKeysAsync(); // verifies the MAC, the nonce and the version

        Assert.Equal(MacCheckResult.Valid, MessageMac.Verify(change, _h.Atm.KeyChangeMac));
        Assert.Equal(before + 1, _h.Atm.KeyVersion);
        Assert.Equal(_h.Atm.KeyVersion, (await AtmAsync()).SessionKeyVersion);
        Assert.Throws<StaleKeyChangeException>(() =>
            _h.Host.Profile.OpenKeyChangeData(_h.Seed.Atm.MasterKey, change.KeyChangeData, KeyChangeRequestData.CreateNonce(), before));
        Assert.Throws<StaleKeyChangeException>(() =>
            _h.Host.Profile.OpenKeyChangeData(_h.Seed.Atm.MasterKey, change.KeyChangeData, _h.Atm.LastKeyChangeNonce, _h.Atm.KeyVersion));
    }

    [Fact]
    public async Task A_withdrawal_on_a_connection_that_never_signed_on_is_refused_and_changes_no_ledger()
    {
        await using var raw = new SimulatedAtm(_h.Host.Profile, DemoSeed.AtmId, SecretKey.Create(_h.Seed.Atm.MasterKey.Algorithm, _h.Seed.Atm.MasterKey.ExportBytes()), _h.Host.LocalEndPoint);
        await raw.ConnectAsync();
        var request = _h.Withdrawal(0, 3_000); // MACed by the real ATM: a copy taken off the wire
        var totals = await _h.TotalsAsync();
        var balance = await _h.BalanceAsync(0);

        var response = await raw.SendAsync(request);
        var reversal = await raw.SendAsync(_h.Atm.Reversal(request));

        Assert.Equal(ResponseCodes.SecurityViolation, response.ResponseCode);
        Assert.Equal(ResponseCodes.SecurityViolation, reversal.ResponseCode);
        Assert.False(response.Has(64) || response.Has(128));
        Assert.Equal(balance, await _h.BalanceAsync(0));
        Assert.Equal(totals, await _h.TotalsAsync());
        Assert.Contains(await _h.AuditAsync(5), a => a.Event == "security.not-signed-on");

        // The same message on the real ATM's signed-on connection is served.
        Assert.Equal(ResponseCodes.Approved, (await _h.Atm.SendCheckedAsync(request)).ResponseCode);
    }

    [Fact]
    public async Task Racing_key_changes_get_distinct_consecutive_versions_and_the_record_names_the_last()
    {
        // All on the ATM's signed-on connection (an ATM is signed on over one connection at most), sent at once.
        const int racers = 6;
        var before = await AtmAsync();
        var requests = Enumerable.Range(0, racers)
            .Select(_ => (Link: _h.Atm, Request: _h.Atm.NetworkManagement(NetworkManagementCodes.KeyChange), Nonce: _h.Atm.LastKeyChangeNonce!))
            .ToList();

        var answers = await Task.WhenAll(requests.Select(async r => (r.Link, r.Nonce, Answer: await r.Link.SendAsync(r.Request))));

        var versions = new List<int>();
        var kcvs = new Dictionary<int, string>();
        foreach (var (link, nonce, answer) in answers)
        {
            Assert.Equal(ResponseCodes.Approved, answer.ResponseCode);
            Assert.Equal(MacCheckResult.Valid, MessageMac.Verify(answer, link.KeyChangeMac));
            using var opened = _h.Host.Profile.OpenKeyChangeData(_h.Seed.Atm.MasterKey, answer.KeyChangeData, nonce, 0);
            versions.Add(opened.KeyVersion);
            kcvs[opened.KeyVersion] = opened.Keys.MacKey.CheckValue.ToString();
        }

        Assert.Equal(Enumerable.Range(before.SessionKeyVersion + 1, racers), versions.Order());
        var after = await AtmAsync();
        Assert.Equal(before.SessionKeyVersion + racers, after.SessionKeyVersion);
        Assert.Equal(kcvs[after.SessionKeyVersion], after.SessionKeyCheckValue);
        using (var stored = _h.Host.Vault.LoadKey(after.SessionKeyRef!))
        {
            Assert.Equal(kcvs[after.SessionKeyVersion], stored.CheckValue.ToString());
        }

        // Every replaced version is still in its own grace period (issue 12, old finding 7: a quick second key change
        // used to prune the version a message in flight was MACed under), so none is pruned yet: at most
        // HostProcessor.MaxPreviousKeyVersions of them are kept.
        var macFiles = _h.Host.Vault.List().Where(n => n.StartsWith($"mac-{DemoSeed.AtmId}-v", StringComparison.Ordinal)).Order().ToList();
        var kept = Enumerable.Range(1, after.SessionKeyVersion).Where(v => v >= after.SessionKeyVersion - Processing.HostProcessor.MaxPreviousKeyVersions);
        Assert.Equal(kept.Select(v => $"mac-{DemoSeed.AtmId}-v{v}").Order(), macFiles);
        Assert.Equal($"mac-{DemoSeed.AtmId}-v{after.SessionKeyVersion - 1}", after.PreviousSessionKeyRef);
    }

    [Fact]
    public async Task A_message_maced_under_the_previous_key_is_still_accepted_after_a_key_change()
    {
        var request = _h.Withdrawal(0, 1_500); // MACed under the current key...
        var oldMac = _h.Atm.IsoMac;
        // A key change the ATM has not installed yet (its 0810 still on the way).
        Assert.Equal(ResponseCodes.Approved, (await _h.Atm.SendAsync(_h.Atm.NetworkManagement(NetworkManagementCodes.KeyChange))).ResponseCode);

        var response = await _h.Atm.SendAsync(request); // ...arrives after the key change

        Assert.Equal(ResponseCodes.Approved, response.ResponseCode);
        Assert.Equal(MacCheckResult.Valid, MessageMac.Verify(response, oldMac)); // answered under the key it was sent with
    }

    [Fact]
    public async Task An_echo_with_a_garbage_mac_is_not_answered_approved()
    {
        var echo = SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.EchoTest, DemoSeed.AtmId);
        echo.SetBytes(64, [1, 2, 3, 4, 5, 6, 7, 8]);

        var response = await _h.Atm.SendAsync(echo);

        Assert.Equal(ResponseCodes.SecurityViolation, response.ResponseCode);
        var plain = await _h.Atm.SendAsync(SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.EchoTest, DemoSeed.AtmId));
        Assert.Equal(ResponseCodes.Approved, plain.ResponseCode);
    }
}
