using CardlessAtm.Qr.Payload;
using CardlessAtm.Qr.Sessions;
using Microsoft.Extensions.Time.Testing;

namespace CardlessAtm.Qr.Tests;

public class VerifierTests
{
    private readonly FakeTimeProvider _clock = Fixtures.Clock();
    private readonly HmacSha256TruncatedMac _mac = new(Fixtures.TestKey);
    private readonly CountingRegistry _registry;
    private readonly QrSessionIssuer _issuer;
    private readonly QrSessionVerifier _verifier;

    public VerifierTests()
    {
        _registry = new CountingRegistry(new InMemorySessionNonceRegistry(_clock));
        _issuer = new QrSessionIssuer(Fixtures.Atm, _mac, _clock, Fixtures.Options());
        _verifier = new QrSessionVerifier(_mac, _registry, _clock, Fixtures.Options());
    }

    private ValueTask<QrPayloadResult> Verify(string text) => _verifier.VerifyAndConsumeAsync(text, Fixtures.Atm, CancellationToken.None);

    [Fact]
    public async Task An_issued_session_is_accepted_once_with_its_fields()
    {
        var issued = _issuer.Issue(Money.Of(5000, "EUR"));
        var result = await Verify(issued.Text);

        Assert.True(result.IsAccepted);
        Assert.Equal(Fixtures.Atm, result.Payload.AtmId);
        Assert.Equal(Money.Of(5000, "EUR"), result.Payload.Amount);
        Assert.Equal(issued.Nonce, result.Payload.Nonce);
        Assert.Equal(Fixtures.Start.AddMinutes(2), result.Payload.ExpiresAt);
    }

    [Fact]
    public async Task A_reused_session_is_refused_as_replayed()
    {
        var issued = _issuer.Issue(Money.Of(5000, "EUR"));
        Assert.True((await Verify(issued.Text)).IsAccepted);
        var again = await Verify(issued.Text);
        Assert.Equal(QrPayloadRejectionReason.Replayed, again.Rejection!.Reason);
    }

    [Fact]
    public async Task A_payload_from_another_atm_is_refused_before_its_MAC_is_looked_at()
    {
        var other = Fixtures.Payload(atm: AtmId.Parse("ATM00002"));
        var result = await Verify(other.Text);
        Assert.Equal(QrPayloadRejectionReason.OtherAtm, result.Rejection!.Reason);
        Assert.Contains("ATM00002", result.Rejection.Message);
        Assert.Equal(0, _mac.VerifyCalls);
        Assert.Equal(0, _registry.Calls);
    }

    [Fact]
    public async Task A_payload_MACed_under_another_key_is_refused_as_bad_MAC()
    {
        var forged = Fixtures.Payload(key: [1, 2, 3, 4]);
        var result = await Verify(forged.Text);
        Assert.Equal(QrPayloadRejectionReason.BadMac, result.Rejection!.Reason);
        Assert.Equal(0, _registry.Calls);
    }

    [Fact]
    public async Task An_expired_payload_is_refused_after_expiry_plus_skew_and_not_before()
    {
        var issued = _issuer.Issue(Money.Of(5000, "EUR"));
        _clock.Advance(TimeSpan.FromMinutes(2) + TimeSpan.FromSeconds(29));
        Assert.True(_verifier.Verify(issued.Text, Fixtures.Atm).IsAccepted);
        _clock.Advance(TimeSpan.FromSeconds(1));
        var result = await Verify(issued.Text);
        Assert.Equal(QrPayloadRejectionReason.Expired, result.Rejection!.Reason);
        Assert.Equal(0, _registry.Calls);
    }

    [Fact]
    public async Task A_payload_expiring_beyond_the_longest_lifetime_is_refused_as_from_the_future()
    {
        var tooLate = Fixtures.Payload(expires: Fixtures.Start + TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(31));
        var result = await Verify(tooLate.Text);
        Assert.Equal(QrPayloadRejectionReason.FromTheFuture, result.Rejection!.Reason);

        var justInside = Fixtures.Payload(expires: Fixtures.Start + TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(30));
        Assert.True((await Verify(justInside.Text)).IsAccepted);
    }

    [Fact]
    public async Task Every_single_character_change_is_refused_and_leaves_the_session_usable()
    {
        var issued = _issuer.Issue(Money.Of(5000, "EUR"));
        const string qrAlphanumeric = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
        var seen = new HashSet<QrPayloadRejectionReason>();
        for (var i = 0; i < issued.Text.Length; i++)
        {
            foreach (var c in qrAlphanumeric)
            {
                if (c == issued.Text[i])
                {
                    continue;
                }

                var altered = issued.Text[..i] + c + issued.Text[(i + 1)..];
                var result = await Verify(altered);
                Assert.False(result.IsAccepted, $"'{altered}' was accepted");
                seen.Add(result.Rejection.Reason);
            }
        }

        Assert.Contains(QrPayloadRejectionReason.BadMac, seen);
        Assert.Contains(QrPayloadRejectionReason.Malformed, seen);
        Assert.Contains(QrPayloadRejectionReason.OtherAtm, seen);
        Assert.Equal(0, _registry.Calls);
        Assert.True((await Verify(issued.Text)).IsAccepted);
    }

    [Fact]
    public async Task A_refused_copy_does_not_burn_the_good_session()
    {
        var issued = _issuer.Issue(Money.Of(5000, "EUR"));
        Assert.Equal(QrPayloadRejectionReason.Padded, (await Verify(issued.Text + " ")).Rejection!.Reason);
        Assert.Equal(QrPayloadRejectionReason.Truncated, (await Verify(issued.Text[..70])).Rejection!.Reason);
        Assert.True((await Verify(issued.Text)).IsAccepted);
    }

    [Fact]
    public void Issued_nonces_are_distinct_and_the_expiry_is_whole_seconds()
    {
        _clock.Advance(TimeSpan.FromMilliseconds(700));
        var nonces = Enumerable.Range(0, 1000).Select(_ => _issuer.Issue(Money.Of(100, "USD"))).ToList();
        Assert.Equal(1000, nonces.Select(p => p.Nonce).Distinct().Count());
        Assert.All(nonces, p => Assert.Equal(Fixtures.Start.AddMinutes(2), p.ExpiresAt));
    }

    [Fact]
    public void Options_out_of_range_are_refused_at_construction_naming_the_setting()
    {
        var bad = new QrSessionOptions { Lifetime = TimeSpan.FromMinutes(20), MaxLifetime = TimeSpan.FromMinutes(10) };
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new QrSessionIssuer(Fixtures.Atm, _mac, _clock, bad));
        Assert.Contains("QrSession:Lifetime", error.Message);
        var negative = new QrSessionOptions { ClockSkew = TimeSpan.FromSeconds(-1) };
        Assert.Contains("QrSession:ClockSkew", Assert.Throws<ArgumentOutOfRangeException>(() => new QrSessionVerifier(_mac, _registry, _clock, negative)).Message);
    }
}

public class InMemoryRegistryTests
{
    [Fact]
    public async Task A_session_is_consumed_once_per_atm_and_forgotten_after_its_retention()
    {
        var clock = Fixtures.Clock();
        var registry = new InMemorySessionNonceRegistry(clock);
        var nonce = SessionNonce.CreateRandom();
        var until = Fixtures.Start.AddMinutes(3);

        Assert.True(await registry.TryConsumeAsync(Fixtures.Atm, nonce, until, CancellationToken.None));
        Assert.False(await registry.TryConsumeAsync(Fixtures.Atm, nonce, until, CancellationToken.None));
        Assert.True(await registry.TryConsumeAsync(AtmId.Parse("ATM00002"), nonce, until, CancellationToken.None));
        Assert.Equal(2, registry.Count);

        clock.Advance(TimeSpan.FromMinutes(4));
        Assert.True(await registry.TryConsumeAsync(Fixtures.Atm, SessionNonce.CreateRandom(), clock.GetUtcNow().AddMinutes(3), CancellationToken.None));
        Assert.Equal(1, registry.Count);
    }

    [Fact]
    public async Task Concurrent_consumers_of_one_session_get_exactly_one_success()
    {
        var registry = new InMemorySessionNonceRegistry(Fixtures.Clock());
        var nonce = SessionNonce.CreateRandom();
        var results = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
            await registry.TryConsumeAsync(Fixtures.Atm, nonce, Fixtures.Start.AddMinutes(3), CancellationToken.None))));
        Assert.Equal(1, results.Count(r => r));
    }
}
