using CardlessAtm.Security.Tests.Vectors;
using static CardlessAtm.Security.Tests.TestHex;
using V = CardlessAtm.Security.Tests.Vectors.PublishedVectors;

namespace CardlessAtm.Security.Tests;

/// <summary>ANSI X9.24-3:2017 supplement test vectors (see <see cref="PublishedVectors"/> for the source).</summary>
public sealed class AesDukptTests
{
    private static KeySerialNumber InitialKsn => KeySerialNumber.AesInitial(V.AesInitialKeyId);

    [Theory]
    [InlineData(KeyAlgorithm.Aes128, V.AesBdk128, V.AesInitialKey128)]
    [InlineData(KeyAlgorithm.Aes256, V.AesBdk256, V.AesInitialKey256)]
    public void Initial_key_matches_the_supplement(KeyAlgorithm algorithm, string bdkHex, string expected)
    {
        using var bdk = Key(algorithm, bdkHex);
        using var ik = AesDukpt.DeriveInitialKey(bdk, InitialKsn);
        Assert.Equal(expected, HexOf(ik));
    }

    [Fact]
    public void Aes128_bdk_first_eight_transactions_match_pages_2_and_31()
    {
        using var bdk = Key(KeyAlgorithm.Aes128, V.AesBdk128);
        for (var i = 0; i < V.Aes128KsnVerify.Length; i++)
        {
            var ksn = KeySerialNumber.Parse(V.Aes128KsnVerify[i]);
            using var ik = AesDukpt.DeriveInitialKey(bdk, ksn);
            using var txn = AesDukpt.DeriveTransactionKey(ik, ksn);
            Assert.Equal(V.Aes128TxnKeyVerify[i], HexOf(txn));
            using var pinKey = AesDukpt.DeriveWorkingKey(txn, ksn, AesDukptKeyUsage.PinEncryption, KeyAlgorithm.Aes128);
            using var macKey = AesDukpt.DeriveWorkingKey(txn, ksn, AesDukptKeyUsage.MacGeneration, KeyAlgorithm.Aes128);
            using var dataKey = AesDukpt.DeriveWorkingKey(txn, ksn, AesDukptKeyUsage.DataEncrypt, KeyAlgorithm.Aes128);
            Assert.Equal(V.Aes128PinKeyAes128Verify[i], HexOf(pinKey));
            Assert.Equal(V.Aes128CmacAes128KeyVerify[i], HexOf(macKey));
            Assert.Equal(V.Aes128DataAes128KeyVerify[i], HexOf(dataKey));

            // Page 31: PIN 1234, PAN 4111111111111111, format 4 with the printed random fill.
            var fill = Bytes(V.AesPinFieldFormat4)[8..];
            Assert.Equal(V.Aes128EncryptedPinblockVerify[i], Hex(PinBlocks.EncipherFormat4(pinKey, "1234", V.AesPan, fill)));
            using var pin = PinBlocks.DecipherFormat4(pinKey, Bytes(V.Aes128EncryptedPinblockVerify[i]), V.AesPan);
            Assert.True(pin.Matches("1234"));
        }
    }

    [Fact]
    public void Aes256_bdk_first_eight_transactions_match_pages_7_and_13()
    {
        using var bdk = Key(KeyAlgorithm.Aes256, V.AesBdk256);
        using var ik = AesDukpt.DeriveInitialKey(bdk, InitialKsn);
        for (var i = 0; i < V.Aes128KsnVerify.Length; i++)
        {
            var ksn = KeySerialNumber.Parse(V.Aes128KsnVerify[i]);
            using var txn = AesDukpt.DeriveTransactionKey(ik, ksn);
            Assert.Equal(V.Aes256TxnKeyVerify[i], HexOf(txn));
            AssertWorking(txn, ksn, AesDukptKeyUsage.PinEncryption, KeyAlgorithm.Aes128, V.Aes256PinKeyAes128Verify[i]);
            AssertWorking(txn, ksn, AesDukptKeyUsage.PinEncryption, KeyAlgorithm.Aes256, V.Aes256PinKeyAes256Verify[i]);
            AssertWorking(txn, ksn, AesDukptKeyUsage.MacGeneration, KeyAlgorithm.Aes128, V.Aes256CmacAes128KeyVerify[i]);
            AssertWorking(txn, ksn, AesDukptKeyUsage.MacGeneration, KeyAlgorithm.Aes256, V.Aes256CmacAes256KeyVerify[i]);
            AssertWorking(txn, ksn, AesDukptKeyUsage.DataEncrypt, KeyAlgorithm.Aes128, V.Aes256DataAes128KeyVerify[i]);
            AssertWorking(txn, ksn, AesDukptKeyUsage.DataEncrypt, KeyAlgorithm.Aes256, V.Aes256DataAes256KeyVerify[i]);
        }
    }

    [Theory]
    [InlineData(KeyAlgorithm.Aes128, V.AesInitialKey128)]
    [InlineData(KeyAlgorithm.Aes256, V.AesInitialKey256)]
    public void Counters_around_0x20000_and_the_last_four_match_pages_5_and_6(KeyAlgorithm algorithm, string ikHex)
    {
        using var ik = Key(algorithm, ikHex);
        var (ksns2, keys2, ksns3, keys3) = algorithm == KeyAlgorithm.Aes128
            ? (V.Aes128KsnVerify2, V.Aes128TxnKeyVerify2, V.Aes128KsnVerify3, V.Aes128TxnKeyVerify3)
            : (V.Aes256KsnVerify2, V.Aes256TxnKeyVerify2, V.Aes256KsnVerify3, V.Aes256TxnKeyVerify3);
        foreach (var (ksnHex, keyHex) in ksns2.Zip(keys2).Concat(ksns3.Zip(keys3)))
        {
            using var txn = AesDukpt.DeriveTransactionKey(ik, KeySerialNumber.Parse(ksnHex));
            Assert.Equal(keyHex, HexOf(txn));
        }
    }

    [Fact]
    public void Counter_0x1FFFF_has_seventeen_one_bits_and_is_refused()
    {
        using var ik = Key(KeyAlgorithm.Aes128, V.AesInitialKey128);
        var error = Assert.Throws<InvalidKeySerialNumberException>(() => AesDukpt.DeriveTransactionKey(ik, InitialKsn.WithCounter(0x1FFFF)));
        Assert.Contains("16 one-bits", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Device_produces_the_published_keys_then_runs_out_after_FFFF0000()
    {
        using var ik = Key(KeyAlgorithm.Aes128, V.AesInitialKey128);
        using (var device = DukptDevice.LoadInitialKey(ik, InitialKsn))
        {
            for (var i = 0; i < V.Aes128KsnVerify.Length; i++)
            {
                using var transaction = device.NextTransaction();
                Assert.Equal(V.Aes128KsnVerify[i], transaction.Ksn.ToString());
                Assert.Equal(V.Aes128TxnKeyVerify[i], HexOf(transaction.TransactionKey));
            }
        }

        // FFFE2000 has sixteen one-bits, so the device skips to FFFE4000, FFFE8000, FFFF0000, then stops.
        using var late = DukptDevice.CreateAtCounter(ik, InitialKsn, 0xFFFE2000);
        for (var i = 0; i < V.Aes128KsnVerify3.Length; i++)
        {
            using var transaction = late.NextTransaction();
            Assert.Equal(V.Aes128KsnVerify3[i], transaction.Ksn.ToString());
            Assert.Equal(V.Aes128TxnKeyVerify3[i], HexOf(transaction.TransactionKey));
        }

        Assert.True(late.IsExhausted);
        Assert.Throws<DukptCounterExhaustedException>(() => late.NextTransaction());
    }

    [Fact]
    public void Device_state_round_trips_for_aes256()
    {
        using var ik = Key(KeyAlgorithm.Aes256, V.AesInitialKey256);
        using var device = DukptDevice.LoadInitialKey(ik, InitialKsn);
        device.NextTransaction().Dispose();
        device.NextTransaction().Dispose();
        var state = device.ExportState();
        using var restored = DukptDevice.ImportState(state);
        using var third = restored.NextTransaction();
        Assert.Equal(V.Aes256TxnKeyVerify[2], HexOf(third.TransactionKey));
        Assert.Throws<MalformedDataException>(() => DukptDevice.ImportState(state.AsSpan(0, state.Length - 3)));
    }

    [Fact]
    public void A_longer_working_key_than_the_derivation_key_is_refused()
    {
        using var ik = Key(KeyAlgorithm.Aes128, V.AesInitialKey128);
        var ksn = InitialKsn.WithCounter(1);
        using var txn = AesDukpt.DeriveTransactionKey(ik, ksn);
        Assert.Throws<InvalidKeyException>(() => AesDukpt.DeriveWorkingKey(txn, ksn, AesDukptKeyUsage.PinEncryption, KeyAlgorithm.Aes256));
    }

    [Fact]
    public void Ksn_kinds_are_not_interchangeable()
    {
        using var aes = Key(KeyAlgorithm.Aes128, V.AesBdk128);
        Assert.Throws<InvalidKeySerialNumberException>(() => AesDukpt.DeriveInitialKey(aes, KeySerialNumber.Parse(V.TdesInitialKsn)));
        Assert.Throws<InvalidKeySerialNumberException>(() => KeySerialNumber.Parse("0102"));
        Assert.Throws<InvalidKeySerialNumberException>(() => KeySerialNumber.Parse("not hex at all"));
    }

    private static void AssertWorking(SecretKey txn, KeySerialNumber ksn, AesDukptKeyUsage usage, KeyAlgorithm algorithm, string expected)
    {
        using var key = AesDukpt.DeriveWorkingKey(txn, ksn, usage, algorithm);
        Assert.Equal(expected, HexOf(key));
    }
}
