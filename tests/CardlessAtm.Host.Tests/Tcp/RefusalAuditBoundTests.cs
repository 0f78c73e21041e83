using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text.RegularExpressions;
using CardlessAtm.Host.Processing;
using CardlessAtm.Host.Seeding;
using CardlessAtm.Host.Server;
using CardlessAtm.Host.Tests.Support;
using CardlessAtm.Iso8583;
using CardlessAtm.Network;
using Microsoft.Extensions.Time.Testing;

namespace CardlessAtm.Host.Tests.Tcp;

/// <summary>
/// Refusals of unauthenticated traffic (bad-MAC sign-on, forged 0800/101, unknown ATM in field 41) wrote one audit row
/// each on main: a stranger could grow the database without limit. Now at most one row per remote address, event and
/// code per <c>Host:Policy:RefusalAuditInterval</c>, carrying the count suppressed since the previous row, and every
/// refusal is counted by <c>cardless_atm.host.security.refusals</c>. The clock is a <see cref="FakeTimeProvider"/>.
/// </summary>
public sealed partial class RefusalAuditBoundTests
{
    private const string Attacker = "203.0.113.7";
    private const string Other = "198.51.100.9";

    [Fact]
    public async Task A_flood_of_refusals_writes_at_most_one_row_per_address_event_and_minute_with_the_suppressed_count()
    {
        using var dir = new TempDirectory();
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 2, 6, 0, 0, TimeSpan.Zero));
        await using var host = await HostServer.OpenAsync(HostHarness.Options(dir), time: time);
        using var seed = await DemoSeed.SeedAsync(host);
        var versionBefore = (await host.Store.ReadAsync(r => r.GetAtm(DemoSeed.AtmId)!)).SessionKeyVersion;
        long measured = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter == host.Processor.Meter && instrument.Name == "cardless_atm.host.security.refusals")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref measured, value));
        listener.Start();

        var attacker = new HostSession(Attacker);
        const int PerKindPerMinute = 100;
        const int Minutes = 3;
        for (var minute = 0; minute < Minutes; minute++)
        {
            for (var i = 0; i < PerKindPerMinute; i++)
            {
                var forged = SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.KeyChange, DemoSeed.AtmId);
                var badSignOn = SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.SignOn, DemoSeed.AtmId);
                var unknownAtm = SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.SignOn, string.Create(CultureInfo.InvariantCulture, $"ATM9{i:D4}"));
                Assert.Equal(ResponseCodes.SecurityViolation, (await host.Processor.HandleAsync(forged, attacker))!.ResponseCode);
                Assert.Equal(ResponseCodes.SecurityViolation, (await host.Processor.HandleAsync(badSignOn, attacker))!.ResponseCode);
                Assert.Equal(ResponseCodes.InvalidTransaction, (await host.Processor.HandleAsync(unknownAtm, attacker))!.ResponseCode);
                time.Advance(TimeSpan.FromMilliseconds(500)); // 50 s of flooding per minute
            }

            if (minute == 0)
            {
                for (var i = 0; i < 10; i++)
                {
                    await host.Processor.HandleAsync(SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.KeyChange, DemoSeed.AtmId), new HostSession(Other));
                }
            }

            time.Advance(TimeSpan.FromSeconds(10)); // the next minute's window
        }

        const int Total = (3 * PerKindPerMinute * Minutes) + 10;
        Assert.Equal(Total, host.Processor.SecurityRefusalCount);
        Assert.Equal(Total, Interlocked.Read(ref measured));

        var rows = (await host.Store.ReadAsync(r => r.GetRecentAudit(10_000)))
            .Where(a => a.Detail.Contains(" from " + Attacker + ":", StringComparison.Ordinal) || a.Detail.Contains(" from " + Other + ":", StringComparison.Ordinal))
            .ToList();
        Assert.Equal((3 * Minutes) + 1, rows.Count); // 910 refusals, 10 rows
        Assert.Equal(Minutes, rows.Count(a => a.Event == "security.key-change-refused" && a.Detail.Contains(Attacker, StringComparison.Ordinal)));
        Assert.Equal(Minutes, rows.Count(a => a.Event == "security.sign-on-refused"));
        Assert.Equal(Minutes, rows.Count(a => a.Event == "request.declined" && a.ResponseCode == ResponseCodes.InvalidTransaction));
        Assert.Single(rows, a => a.Detail.Contains(Other, StringComparison.Ordinal));

        // Each row after the first of its key carries the 99 suppressed since; the last window's 99 (and the other
        // address's 9) are still only counted, to be carried by that key's next row.
        var carried = rows.Select(a => Suppressed().Match(a.Detail)).Where(m => m.Success).Select(m => long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(3 * (Minutes - 1), carried.Count);
        Assert.All(carried, c => Assert.Equal(PerKindPerMinute - 1, c));
        Assert.Equal(Total - (3 * (PerKindPerMinute - 1)) - 9, rows.Count + carried.Sum());
        Assert.All(rows, a => Assert.DoesNotMatch("[^ -~…]", a.Detail));

        // The next refusal of a key after its window carries the remainder.
        await host.Processor.HandleAsync(SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.KeyChange, DemoSeed.AtmId), new HostSession(Other));
        var latest = (await host.Store.ReadAsync(r => r.GetRecentAudit(1)))[0];
        Assert.Contains("[+9 more from " + Other, latest.Detail, StringComparison.Ordinal);
        Assert.Equal(versionBefore, (await host.Store.ReadAsync(r => r.GetAtm(DemoSeed.AtmId)!)).SessionKeyVersion);
    }

    [Fact]
    public async Task A_thousand_odd_messages_on_one_connection_write_a_bounded_number_of_audit_rows()
    {
        // Adversary review of issue 12, finding 2: an unhandled MTI, an 0800 with an unknown code and repeated sign-ons
        // each wrote an audit row with no throttle. The clock starts at the real time (the sign-ons' field 7 is real).
        using var dir = new TempDirectory();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await HostServer.OpenAsync(HostHarness.Options(dir), time: time);
        using var seed = await DemoSeed.SeedAsync(host);
        var connection = new HostSession(Attacker);
        await using var atm = new SimulatedAtm(host.Profile, DemoSeed.AtmId, seed.Atm.MasterKey, async r => (await host.Processor.HandleAsync(r, connection))!);
        await atm.SignOnAndChangeKeysAsync();
        var replayed = atm.LastSignOn!;
        var rowsBefore = (await host.Store.ReadAsync(r => r.GetRecentAudit(100_000))).Count;

        const int Rounds = 200; // 5 kinds: 1,000 messages
        for (var i = 0; i < Rounds; i++)
        {
            var unhandled = SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.EchoTest, DemoSeed.AtmId);
            unhandled.Mti = "0100";
            Assert.Equal(ResponseCodes.InvalidTransaction, (await host.Processor.HandleAsync(unhandled, connection))!.ResponseCode);

            var stray = SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.EchoTest, DemoSeed.AtmId);
            stray.Mti = Mti.NetworkManagementResponse;
            Assert.Null(await host.Processor.HandleAsync(stray, connection));

            var unknownCode = SimulatedAtm.UnsignedNetworkManagement("999", DemoSeed.AtmId);
            Assert.Equal(ResponseCodes.InvalidTransaction, (await host.Processor.HandleAsync(unknownCode, connection))!.ResponseCode);

            Assert.Equal(ResponseCodes.SecurityViolation, (await host.Processor.HandleAsync(replayed, connection))!.ResponseCode);

            Assert.Equal(ResponseCodes.Approved, (await host.Processor.HandleAsync(atm.NetworkManagement(NetworkManagementCodes.SignOn), connection))!.ResponseCode);
        }

        var added = (await host.Store.ReadAsync(r => r.GetRecentAudit(100_000))).Count - rowsBefore;
        // One per throttle key (address, event and code, known ATM): 0100 declined 12 (field 41 not vouched for), 0810
        // ignored, 0800/999 declined 12 for the known ATM, replayed sign-on refused 63, sign-on repeated.
        Assert.Equal(5, added);
        Assert.True(connection.IsSignedOnAs(DemoSeed.AtmId));
        Assert.True((await host.Store.ReadAsync(r => r.GetAtm(DemoSeed.AtmId)!)).SignedOn);
    }

    [Fact]
    public async Task A_decoy_refusal_for_one_ATM_does_not_hide_a_real_alert_for_another_from_the_same_address()
    {
        // Adversary review of issue 12, finding 5: the throttle key lacked field 41.
        using var dir = new TempDirectory();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await HostServer.OpenAsync(HostHarness.Options(dir), time: time);
        using var seed = await DemoSeed.SeedAsync(host);
        (await host.Administration.AddAtmAsync("ATM00002", "test", 978)).MasterKey.Dispose();

        var attacker = new HostSession(Attacker);
        for (var i = 0; i < 5; i++)
        {
            var decoy = SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.SignOn, DemoSeed.AtmId);
            Assert.Equal(ResponseCodes.SecurityViolation, (await host.Processor.HandleAsync(decoy, attacker))!.ResponseCode);
        }

        var real = SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.SignOn, "ATM00002");
        Assert.Equal(ResponseCodes.SecurityViolation, (await host.Processor.HandleAsync(real, attacker))!.ResponseCode);

        var rows = await host.Store.ReadAsync(r => r.GetRecentAudit(1_000));
        Assert.Single(rows, a => a.Event == "security.sign-on-refused" && a.AtmId == DemoSeed.AtmId);
        Assert.Single(rows, a => a.Event == "security.sign-on-refused" && a.AtmId == "ATM00002");
    }

    [Fact]
    public void A_throttle_whose_table_filled_up_recovers_after_its_interval_and_reports_what_it_suppressed()
    {
        // Adversary review of issue 12, finding 4: keys with suppressed refusals were never pruned, so once 4,096 were
        // tracked every new address shared the overflow key for ever and those suppressed counts were never reported.
        var interval = TimeSpan.FromMinutes(1);
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 2, 6, 0, 0, TimeSpan.Zero));
        var throttle = new RefusalAuditThrottle(interval);
        for (var i = 0; i < RefusalAuditThrottle.MaxKeys; i++)
        {
            var address = string.Create(CultureInfo.InvariantCulture, $"2001:db8::{i:x}");
            Assert.True(throttle.Admit(address, "security.sign-on-refused 63", time.GetUtcNow()).Write);
            Assert.False(throttle.Admit(address, "security.sign-on-refused 63", time.GetUtcNow()).Write); // one suppressed each
        }

        Assert.Equal(RefusalAuditThrottle.OverflowAddress, throttle.Admit("198.51.100.1", "security.sign-on-refused 63", time.GetUtcNow()).Address);

        time.Advance((2 * interval) + TimeSpan.FromSeconds(1));
        var later = throttle.Admit("198.51.100.2", "security.sign-on-refused 63", time.GetUtcNow());

        Assert.True(later.Write);
        Assert.Equal("198.51.100.2", later.Address); // its own key again: the table recovered
        Assert.Equal(RefusalAuditThrottle.MaxKeys, later.ExpiredSuppressed); // the 4,096 suppressed refusals, reported once
        Assert.True(throttle.TrackedKeys <= 2);
        Assert.Equal(0, throttle.Admit("198.51.100.3", "security.sign-on-refused 63", time.GetUtcNow()).ExpiredSuppressed);
    }

    [Fact]
    public void The_throttle_keeps_a_bounded_table_when_every_refusal_comes_from_a_new_address()
    {
        var throttle = new RefusalAuditThrottle(TimeSpan.FromMinutes(1));
        var now = new DateTimeOffset(2026, 12, 2, 6, 0, 0, TimeSpan.Zero);
        var written = 0;
        for (var i = 0; i < RefusalAuditThrottle.MaxKeys * 3; i++)
        {
            written += throttle.Admit(string.Create(CultureInfo.InvariantCulture, $"2001:db8::{i:x}"), "security.sign-on-refused 63", now).Write ? 1 : 0;
        }

        Assert.Equal(RefusalAuditThrottle.MaxKeys + 1, throttle.TrackedKeys); // plus the shared overflow key
        Assert.Equal(RefusalAuditThrottle.MaxKeys + 1, written);
    }

    [Fact]
    public async Task A_flood_of_mixed_sign_on_refusals_from_many_addresses_writes_a_bounded_number_of_rows_every_kind_represented()
    {
        // Issue 12, finding M3: replayed, stale and bad-MAC sign-ons shared one throttle key (a flood of one kind hid the
        // others), and with one key per address a flood from many addresses wrote a row per address. Now each kind has
        // its own key and Host:Policy:RefusalAuditMaxRows bounds the rows per interval over all addresses.
        const int MaxRows = 10;
        const int Addresses = 50;
        using var dir = new TempDirectory();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow); // the authentic sign-ons' field 7 is real time
        var options = HostHarness.Options(dir);
        options.Policy = new Authorisation.HostPolicy { RefusalAuditMaxRows = MaxRows };
        await using var host = await HostServer.OpenAsync(options, time: time);
        using var seed = await DemoSeed.SeedAsync(host);
        var atmConnection = new HostSession("192.0.2.1");
        await using var atm = new SimulatedAtm(host.Profile, DemoSeed.AtmId, seed.Atm.MasterKey, async r => (await host.Processor.HandleAsync(r, atmConnection))!);
        await atm.SignOnAndChangeKeysAsync();
        var recorded = atm.LastSignOn!;
        var rowsBefore = (await host.Store.ReadAsync(r => r.GetRecentAudit(100_000))).Count;

        static string From(int i) => string.Create(CultureInfo.InvariantCulture, $"2001:db8::{i + 1:x}");
        for (var i = 0; i < Addresses; i++)
        {
            var badMac = SimulatedAtm.UnsignedNetworkManagement(NetworkManagementCodes.SignOn, DemoSeed.AtmId);
            Assert.Equal(ResponseCodes.SecurityViolation, (await host.Processor.HandleAsync(badMac, new HostSession(From(i))))!.ResponseCode);
        }

        for (var i = 0; i < Addresses; i++)
        {
            var stale = atm.NetworkManagement(NetworkManagementCodes.SignOn);
            stale.SetTransmissionDateTime(time.GetUtcNow() - TimeSpan.FromMinutes(10));
            CardlessAtm.Iso8583.Mac.MessageMac.Apply(stale, atm.KeyChangeMac);
            Assert.Equal(ResponseCodes.SecurityViolation, (await host.Processor.HandleAsync(stale, new HostSession(From(i))))!.ResponseCode);
        }

        for (var i = 0; i < Addresses; i++)
        {
            Assert.Equal(ResponseCodes.SecurityViolation, (await host.Processor.HandleAsync(recorded, new HostSession(From(i))))!.ResponseCode);
        }

        var rows = (await host.Store.ReadAsync(r => r.GetRecentAudit(100_000))).SkipLast(rowsBefore).ToList();
        Assert.Equal(MaxRows + 2, rows.Count); // the budget, plus the first row of each kind the budget had left unaudited
        Assert.Contains(rows, a => a.Detail.Contains("sign-on MAC", StringComparison.Ordinal));
        Assert.Single(rows, a => a.Detail.Contains("stale", StringComparison.Ordinal));
        Assert.Single(rows, a => a.Detail.Contains("already accepted once", StringComparison.Ordinal));

        // The next interval: the first refusal brings the summary of what the budget dropped, exactly.
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(ResponseCodes.SecurityViolation, (await host.Processor.HandleAsync(recorded, new HostSession(From(0))))!.ResponseCode);
        var summary = Assert.Single(await host.Store.ReadAsync(r => r.GetRecentAudit(5)), a => a.Event == "security.refusals-suppressed");
        Assert.StartsWith(string.Create(CultureInfo.InvariantCulture, $"{(3 * Addresses) - (MaxRows + 2)} refusals "), summary.Detail, StringComparison.Ordinal);
        Assert.Equal((3 * Addresses) + 1, host.Processor.SecurityRefusalCount);
    }

    [Fact]
    public void A_refusal_audit_row_budget_out_of_range_is_refused_naming_the_setting()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new Authorisation.HostPolicy { RefusalAuditMaxRows = 0 }.Validate());
        Assert.Contains("Host:Policy:RefusalAuditMaxRows", error.Message, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"\[\+(\d+) more from ")]
    private static partial Regex Suppressed();
}
