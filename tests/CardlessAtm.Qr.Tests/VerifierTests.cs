using CardlessAtm.Qr.Payload;
using CardlessAtm.Qr.Sessions;
using Microsoft.Extensions.Time.Testing;

namespace CardlessAtm.Qr.Tests;

public class VerifierTests
{
    private readonly FakeTimeProvider _clock = Fixtures.Clock();
    private readonly HmacSha256TruncatedMac _mac = new(Fixtures.TestKey);
    private readonly QrSessionIssuer _issuer;
    private readonly QrSessionVerifier _verifier;

    public VerifierTests()
    {
        _issuer = new QrSessionIssuer(Fixtures.Atm, _mac, _clock, Fixtures.Options());
        _verifier = new QrSessionVerifier(_mac, _clock, Fixtures.Options());
    }

    private QrPayloadResult Verify(string text) => _verifier.Verify(text, Fixtures.Atm);

    [Fact]
    public void An_issued_session_is_accepted_with_its_fields()
    {
        var issued = _issuer.Issue(Money.Of(5000, "EUR"));
        var result = Verify(issued.Text);

        Assert.True(result.IsAccepted);
        Assert.Equal(Fixtures.Atm, result.Payload.AtmId);
        Assert.Equal(Money.Of(5000, "EUR"), result.Payload.Amount);
        Assert.Equal(issued.Nonce, result.Payload.Nonce);
        Assert.Equal(Fixtures.Start.AddMinutes(2), result.Payload.ExpiresAt);
    }

    [Fact]
    public void A_payload_from_another_atm_is_refused_before_its_MAC_is_looked_at()
    {
        var other = Fixtures.Payload(atm: AtmId.Parse("ATM00002"));
        var result = Verify(other.Text);
        Assert.Equal(QrPayloadRejectionReason.OtherAtm, result.Rejection!.Reason);
        Assert.Contains("ATM00002", result.Rejection.Message);
        Assert.Equal(0, _mac.VerifyCalls);
    }

    [Fact]
    public void A_payload_MACed_under_another_key_is_refused_as_bad_MAC()
    {
        var forged = Fixtures.Payload(key: [1, 2, 3, 4]);
        var result = Verify(forged.Text);
        Assert.Equal(QrPayloadRejectionReason.BadMac, result.Rejection!.Reason);
    }

    [Fact]
    public void An_expired_payload_is_refused_after_expiry_plus_skew_and_not_before()
    {
        var issued = _issuer.Issue(Money.Of(5000, "EUR"));
        _clock.Advance(TimeSpan.FromMinutes(2) + TimeSpan.FromSeconds(29));
        Assert.True(_verifier.Verify(issued.Text, Fixtures.Atm).IsAccepted);
        _clock.Advance(TimeSpan.FromSeconds(1));
        var result = Verify(issued.Text);
        Assert.Equal(QrPayloadRejectionReason.Expired, result.Rejection!.Reason);
    }

    [Fact]
    public void A_payload_expiring_beyond_the_longest_lifetime_is_refused_as_from_the_future()
    {
        var tooLate = Fixtures.Payload(expires: Fixtures.Start + TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(31));
        var result = Verify(tooLate.Text);
        Assert.Equal(QrPayloadRejectionReason.FromTheFuture, result.Rejection!.Reason);

        var justInside = Fixtures.Payload(expires: Fixtures.Start + TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(30));
        Assert.True((Verify(justInside.Text)).IsAccepted);
    }

    [Fact]
    public void Every_single_character_change_is_refused_and_the_original_still_verifies()
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
                var result = Verify(altered);
                Assert.False(result.IsAccepted, $"'{altered}' was accepted");
                seen.Add(result.Rejection.Reason);
            }
        }

        Assert.Contains(QrPayloadRejectionReason.BadMac, seen);
        Assert.Contains(QrPayloadRejectionReason.Malformed, seen);
        Assert.Contains(QrPayloadRejectionReason.OtherAtm, seen);
        Assert.True((Verify(issued.Text)).IsAccepted);
    }

    [Fact]
    public void A_padded_or_truncated_copy_is_refused_and_the_original_still_verifies()
    {
        var issued = _issuer.Issue(Money.Of(5000, "EUR"));
        Assert.Equal(QrPayloadRejectionReason.Padded, (Verify(issued.Text + " ")).Rejection!.Reason);
        Assert.Equal(QrPayloadRejectionReason.Truncated, (Verify(issued.Text[..70])).Rejection!.Reason);
        Assert.True((Verify(issued.Text)).IsAccepted);
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
        Assert.Contains("QrSession:ClockSkew", Assert.Throws<ArgumentOutOfRangeException>(() => new QrSessionVerifier(_mac, _clock, negative)).Message);
    }
}
