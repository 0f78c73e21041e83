using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace CardlessAtm.Security.Tests;

public sealed class PropertyTests
{
    private static readonly SecretKey TdesKey = SecretKey.Generate(KeyAlgorithm.Tdes2Key);
    private static readonly SecretKey AesKey = SecretKey.Generate(KeyAlgorithm.Aes128);

    private static Gen<string> Digits(int min, int max) =>
        from length in Gen.Choose(min, max)
        from digits in Gen.ArrayOf(Gen.Choose(0, 9), length)
        select string.Concat(digits);

    [Property(MaxTest = 300)]
    public Property Any_valid_pin_and_account_id_round_trip_through_both_pin_block_formats() =>
        Prop.ForAll(Digits(4, 12).ToArbitrary(), Digits(1, 19).ToArbitrary(), (pin, pan) =>
        {
            using var pin0 = PinBlocks.DecipherFormat0(TdesKey, PinBlocks.EncipherFormat0(TdesKey, pin, pan), pan);
            using var pin4 = PinBlocks.DecipherFormat4(AesKey, PinBlocks.EncipherFormat4(AesKey, pin, pan), pan);
            return pin0.Matches(pin) && pin4.Matches(pin) && pin0.Length == pin.Length;
        });

    // The standard's device rule (X9.24-1 A.2 / X9.24-3 6.5): with fewer than the maximum one-bits add one,
    // otherwise add the lowest one-bit. NextValidCounter must agree with it everywhere.
    [Property(MaxTest = 2000)]
    public Property Next_counter_follows_the_standard_increment_rule() =>
        Prop.ForAll(Gen.Choose(1, 0x1FFFFF).Select(c => (uint)c).Where(c => BitOperations.PopCount(c) <= 10).ToArbitrary(), counter =>
        {
            ulong expected = BitOperations.PopCount(counter) < 10 ? counter + 1UL : counter + (counter & (~counter + 1));
            var actual = KeySerialNumber.NextValidCounter(counter, 10, KeySerialNumber.TdesMaxCounter);
            return expected > KeySerialNumber.TdesMaxCounter ? actual is null : actual == (uint)expected;
        });

    [Property(MaxTest = 100)]
    public Property Host_derivation_equals_the_device_at_any_counter() =>
        Prop.ForAll(Gen.Choose(1, 0x1FFFFF).Select(c => (uint)c).Where(c => BitOperations.PopCount(c) <= 10).ToArbitrary(), counter =>
        {
            var initialKsn = KeySerialNumber.Parse(Vectors.PublishedVectors.TdesInitialKsn);
            using var ik = SecretKey.FromHex(KeyAlgorithm.Tdes2Key, Vectors.PublishedVectors.TdesInitialKey);
            using var device = DukptDevice.CreateAtCounter(ik, initialKsn, counter);
            using var first = device.NextTransaction();
            var ok = first.Ksn.TransactionCounter == counter
                && first.TransactionKey.Equals(TdesDukpt.DeriveTransactionKey(ik, first.Ksn));
            if (!device.IsExhausted)
            {
                using var second = device.NextTransaction();
                ok &= second.TransactionKey.Equals(TdesDukpt.DeriveTransactionKey(ik, second.Ksn));
            }

            return ok;
        });
}

public sealed class RemainingTransactionsTests
{
    [Fact]
    public void A_fresh_device_has_the_whole_counter_space()
    {
        var tdesKsn = KeySerialNumber.Parse(Vectors.PublishedVectors.TdesInitialKsn);
        using var tdesIk = SecretKey.FromHex(KeyAlgorithm.Tdes2Key, Vectors.PublishedVectors.TdesInitialKey);
        using var tdes = DukptDevice.LoadInitialKey(tdesIk, tdesKsn);
        Assert.Equal(1_048_575, tdes.RemainingTransactions); // sum of C(21, k) for k = 1..10 = 2^20 - 1
        tdes.NextTransaction().Dispose();
        Assert.Equal(1_048_574, tdes.RemainingTransactions);

        var aesKsn = KeySerialNumber.AesInitial(Vectors.PublishedVectors.AesInitialKeyId);
        using var aesIk = SecretKey.FromHex(KeyAlgorithm.Aes128, Vectors.PublishedVectors.AesInitialKey128);
        using var aes = DukptDevice.LoadInitialKey(aesIk, aesKsn);
        Assert.Equal(2_448_023_842, aes.RemainingTransactions); // (2^32 + C(32, 16)) / 2 - 1

        using var late = DukptDevice.CreateAtCounter(aesIk, aesKsn, 0xFFFE2000);
        Assert.Equal(4, late.RemainingTransactions);
        for (var i = 4; i > 0; i--)
        {
            Assert.Equal(i, late.RemainingTransactions);
            late.NextTransaction().Dispose();
        }

        Assert.Equal(0, late.RemainingTransactions);
    }

    [Fact]
    public void Counting_agrees_with_brute_force_on_small_ranges()
    {
        for (uint limit = 0; limit < 5000; limit += 7)
        {
            for (var maxOneBits = 1; maxOneBits <= 6; maxOneBits++)
            {
                long expected = 0;
                for (uint x = 1; x <= limit; x++)
                {
                    if (System.Numerics.BitOperations.PopCount(x) <= maxOneBits)
                    {
                        expected++;
                    }
                }

                Assert.Equal(expected, DukptDevice.CountValidUpTo(limit, maxOneBits));
            }
        }
    }
}
