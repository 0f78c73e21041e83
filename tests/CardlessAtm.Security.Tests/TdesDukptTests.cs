using System.Text;
using CardlessAtm.Security.Primitives;
using CardlessAtm.Security.Tests.Vectors;
using static CardlessAtm.Security.Tests.TestHex;
using V = CardlessAtm.Security.Tests.Vectors.PublishedVectors;

namespace CardlessAtm.Security.Tests;

/// <summary>ANSI X9.24-1:2009 Annex A.4 (see <see cref="PublishedVectors"/> for the source).</summary>
public sealed class TdesDukptTests
{
    private static SecretKey Bdk() => Key(KeyAlgorithm.Tdes2Key, V.TdesBdk);

    private static KeySerialNumber InitialKsn => KeySerialNumber.Parse(V.TdesInitialKsn);

    [Fact]
    public void Initial_key_matches_A4()
    {
        using var bdk = Bdk();
        using var ik = TdesDukpt.DeriveInitialKey(bdk, InitialKsn);
        Assert.Equal(V.TdesInitialKey, HexOf(ik));
    }

    public static TheoryData<int> InitialSequence() => [.. Enumerable.Range(0, V.TdesKsnVerify.Length)];

    public static TheoryData<int> RolloverSequence() => [.. Enumerable.Range(0, V.TdesKsnVerify2.Length)];

    [Theory]
    [MemberData(nameof(InitialSequence))]
    public void Host_derivation_matches_A42_initial_sequence(int i) =>
        AssertHostRow(V.TdesKsnVerify[i], V.TdesTxnKeyVerify[i], V.TdesEncryptedPinblockVerify[i], V.TdesMacRequestVerify[i], V.TdesTxnRequestVerify[i]);

    [Theory]
    [MemberData(nameof(RolloverSequence))]
    public void Host_derivation_matches_A43_rollover_sequence(int i) =>
        AssertHostRow(V.TdesKsnVerify2[i], V.TdesTxnKeyVerify2[i], V.TdesEncryptedPinblockVerify2[i], V.TdesMacRequestVerify2[i], V.TdesTxnRequestVerify2[i]);

    [Fact]
    public void Response_variants_match_A42()
    {
        using var ik = Key(KeyAlgorithm.Tdes2Key, V.TdesInitialKey);
        for (var i = 0; i < V.TdesKsnVerify.Length; i++)
        {
            using var txn = TdesDukpt.DeriveTransactionKey(ik, KeySerialNumber.Parse(V.TdesKsnVerify[i]));
            using var macKey = TdesDukpt.MacResponseKey(txn);
            var mac = RetailMac.Compute(macKey, Encoding.ASCII.GetBytes(V.TransactionData));
            Assert.Equal(V.TdesMacResponseVerify[i], Hex(mac.AsSpan(0, 4)));
        }
    }

    [Fact]
    public void Device_produces_the_A42_keys_in_order_and_forgets_used_ones()
    {
        using var bdk = Bdk();
        using var ik = TdesDukpt.DeriveInitialKey(bdk, InitialKsn);
        using var device = DukptDevice.LoadInitialKey(ik, InitialKsn);
        for (var i = 0; i < V.TdesKsnVerify.Length; i++)
        {
            Assert.Equal(V.TdesKsnVerify[i], device.NextKsn!.ToString());
            using var transaction = device.NextTransaction();
            Assert.Equal(V.TdesKsnVerify[i], transaction.Ksn.ToString());
            Assert.Equal(V.TdesTxnKeyVerify[i], HexOf(transaction.TransactionKey));
        }
    }

    [Fact]
    public void Device_follows_the_A43_rollover_sequence_skipping_counters_with_more_than_ten_one_bits()
    {
        using var ik = Key(KeyAlgorithm.Tdes2Key, V.TdesInitialKey);
        var start = KeySerialNumber.Parse(V.TdesKsnVerify2[0]);
        using var device = DukptDevice.CreateAtCounter(ik, InitialKsn, start.TransactionCounter);
        for (var i = 0; i < V.TdesKsnVerify2.Length; i++)
        {
            using var transaction = device.NextTransaction();
            Assert.Equal(V.TdesKsnVerify2[i], transaction.Ksn.ToString());
            Assert.Equal(V.TdesTxnKeyVerify2[i], HexOf(transaction.TransactionKey));
        }
    }

    [Fact]
    public void Device_state_survives_export_and_import()
    {
        using var ik = Key(KeyAlgorithm.Tdes2Key, V.TdesInitialKey);
        using var device = DukptDevice.LoadInitialKey(ik, InitialKsn);
        for (var i = 0; i < 5; i++)
        {
            device.NextTransaction().Dispose();
        }

        using var restored = DukptDevice.ImportState(device.ExportState());
        for (var i = 5; i < V.TdesKsnVerify.Length; i++)
        {
            using var transaction = restored.NextTransaction();
            Assert.Equal(V.TdesTxnKeyVerify[i], HexOf(transaction.TransactionKey));
        }
    }

    [Fact]
    public void Device_is_exhausted_after_the_last_21_bit_counter()
    {
        using var ik = Key(KeyAlgorithm.Tdes2Key, V.TdesInitialKey);
        // 0x1FF800 is the largest counter with at most ten one-bits; after it the counter space is used up.
        using var device = DukptDevice.CreateAtCounter(ik, InitialKsn, 0x1FF800);
        using (var last = device.NextTransaction())
        {
            Assert.Equal(0x1FF800u, last.Ksn.TransactionCounter);
            using var expected = TdesDukpt.DeriveTransactionKey(ik, last.Ksn);
            Assert.Equal(expected, last.TransactionKey);
        }

        Assert.True(device.IsExhausted);
        Assert.Null(device.NextKsn);
        var error = Assert.Throws<DukptCounterExhaustedException>(() => device.NextTransaction());
        Assert.Equal(SecurityFailure.CounterExhausted, error.Failure);
        using var reloaded = DukptDevice.ImportState(device.ExportState());
        Assert.Throws<DukptCounterExhaustedException>(() => reloaded.NextTransaction());
    }

    [Fact]
    public void Host_refuses_a_counter_with_eleven_one_bits()
    {
        using var ik = Key(KeyAlgorithm.Tdes2Key, V.TdesInitialKey);
        var ksn = InitialKsn.WithCounter(0x7FF);
        Assert.Throws<InvalidKeySerialNumberException>(() => TdesDukpt.DeriveTransactionKey(ik, ksn));
    }

    [Fact]
    public void Format0_pin_block_of_A4_encrypts_to_the_published_blocks()
    {
        Assert.Equal(V.TdesPinBlockFormat0, Hex(PinBlocks.BuildFormat0("1234", V.TdesPan)));
    }

    private static void AssertHostRow(string ksnHex, string txnKeyHex, string encryptedPinBlock, string requestMac, string encryptedRequest)
    {
        using var bdk = Bdk();
        var ksn = KeySerialNumber.Parse(ksnHex);
        using var ik = TdesDukpt.DeriveInitialKey(bdk, ksn);
        using var txn = TdesDukpt.DeriveTransactionKey(ik, ksn);
        Assert.Equal(txnKeyHex, HexOf(txn));

        using var pinKey = TdesDukpt.PinKey(txn);
        Assert.Equal(encryptedPinBlock, Hex(PinBlocks.EncipherFormat0(pinKey, "1234", V.TdesPan)));
        using (var pin = PinBlocks.DecipherFormat0(pinKey, Bytes(encryptedPinBlock), V.TdesPan))
        {
            Assert.True(pin.Matches("1234"));
        }

        // ANSI X9.19 MAC (ISO 9797-1 algorithm 3, padding 1); the annex prints the leftmost 4 bytes.
        using var macKey = TdesDukpt.MacRequestKey(txn);
        Assert.Equal(requestMac, Hex(RetailMac.Compute(macKey, Encoding.ASCII.GetBytes(V.TransactionData)).AsSpan(0, 4)));

        // TDES-CBC, zero IV, over the data zero-filled to three blocks.
        using var dataKey = TdesDukpt.DataRequestKey(txn);
        var plain = new byte[24];
        Encoding.ASCII.GetBytes(V.TransactionData, plain);
        var cipher = new byte[24];
        BlockCiphers.EncryptCbc(dataKey, new byte[8], plain, cipher);
        Assert.Equal(encryptedRequest, Hex(cipher));
    }
}
