using CardlessAtm.Host.Credentials;

namespace CardlessAtm.Host.Tests.Storage;

public sealed class PinVerifierTests
{
    private static readonly byte[] Pepper = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();

    [Fact]
    public void The_record_verifies_its_pin_only_and_never_contains_it()
    {
        using var verifier = new PinVerifier(Pepper, iterations: 100);
        var record = verifier.Create("ACC1", "4321");
        Assert.True(verifier.Verify(record, "4321"));
        Assert.False(verifier.Verify(record, "4322"));
        Assert.False(verifier.Verify(record, "43210"));
        Assert.DoesNotContain("4321", Convert.ToHexString(record.Hash) + Convert.ToHexString(record.Salt), StringComparison.Ordinal);
        Assert.DoesNotContain("4321", record.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void The_same_pin_gets_a_different_salt_and_hash_per_record_and_per_account()
    {
        using var verifier = new PinVerifier(Pepper, iterations: 100);
        var a = verifier.Create("ACC1", "1234");
        var b = verifier.Create("ACC1", "1234");
        Assert.NotEqual(a.Hash, b.Hash);
        var other = a with { AccountId = "ACC2" };
        Assert.False(verifier.Verify(other, "1234"));
    }

    [Fact]
    public void Another_pepper_key_cannot_verify()
    {
        using var verifier = new PinVerifier(Pepper, iterations: 100);
        using var thief = new PinVerifier(new byte[32], iterations: 100);
        var record = verifier.Create("ACC1", "1234");
        Assert.False(thief.Verify(record, "1234"));
    }

    [Theory]
    [InlineData("123")]
    [InlineData("1234567890123")]
    [InlineData("12a4")]
    public void Bad_pins_are_refused_without_echoing_them(string pin)
    {
        using var verifier = new PinVerifier(Pepper, iterations: 100);
        var ex = Assert.Throws<ArgumentException>(() => verifier.Create("ACC1", pin));
        Assert.DoesNotContain(pin, ex.Message, StringComparison.Ordinal);
    }
}
