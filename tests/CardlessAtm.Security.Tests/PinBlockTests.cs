using static CardlessAtm.Security.Tests.TestHex;

namespace CardlessAtm.Security.Tests;

// ISO 9564-1 itself is not public, so its own annex examples cannot be cited here. The format 0 and format 4
// examples used are those published in ANSI X9.24-1:2009 A.4 and the ANSI X9.24-3:2017 supplement (both of
// which build ISO 9564-1 blocks); everything else is checked by round trips and by the decoder's own checks.
public sealed class PinBlockTests
{
    // ANSI X9.24-1:2009 A.4: PIN 1234, PAN 4012345678909 gives the ISO 9564-1 format 0 block 041274EDCBA9876F.
    [Fact]
    public void Format0_matches_the_X9_24_1_example_and_decodes_back()
    {
        var block = PinBlocks.BuildFormat0("1234", "4012345678909");
        Assert.Equal("041274EDCBA9876F", Hex(block));
        using var pin = PinBlocks.ReadFormat0(block, "4012345678909");
        Assert.True(pin.Matches("1234"));
        Assert.Equal(4, pin.Length);
        Assert.DoesNotContain("1234", pin.ToString(), StringComparison.Ordinal);
    }

    // ANSI X9.24-3:2017 supplement p. 31: format 4 PIN field 441234AAAAAAAAAA + random fill, PAN field
    // 4411111111111111 1000000000000000 for PAN 4111111111111111.
    [Fact]
    public void Format4_fields_match_the_X9_24_3_example()
    {
        var fill = Bytes("2F69ADDE2E9E7ACE");
        Assert.Equal("441234AAAAAAAAAA2F69ADDE2E9E7ACE", Hex(PinBlocks.BuildFormat4PinField("1234", fill)));
        Assert.Equal("44111111111111111000000000000000", Hex(PinBlocks.BuildFormat4PanField("4111111111111111")));
    }

    [Fact]
    public void Format4_pan_field_pads_short_account_ids_to_twelve_digits()
    {
        Assert.Equal("00012345678900000000000000000000", Hex(PinBlocks.BuildFormat4PanField("1234567890")));
        Assert.Equal("71234567890123456789000000000000", Hex(PinBlocks.BuildFormat4PanField("1234567890123456789")));
    }

    [Fact]
    public void Format4_random_fill_makes_each_block_different_but_each_decodes()
    {
        using var key = SecretKey.Generate(KeyAlgorithm.Aes128);
        var first = PinBlocks.EncipherFormat4(key, "987654", "1234567890123");
        var second = PinBlocks.EncipherFormat4(key, "987654", "1234567890123");
        Assert.NotEqual(first, second);
        using var pin = PinBlocks.DecipherFormat4(key, second, "1234567890123");
        Assert.True(pin.Matches("987654"));
    }

    [Theory]
    [InlineData("1234")]
    [InlineData("123456789012")]
    public void Pin_lengths_4_to_12_round_trip_in_both_formats(string pinText)
    {
        using var tdes = SecretKey.Generate(KeyAlgorithm.Tdes2Key);
        using var aes = SecretKey.Generate(KeyAlgorithm.Aes256);
        using var pin0 = PinBlocks.DecipherFormat0(tdes, PinBlocks.EncipherFormat0(tdes, pinText, "5"), "5");
        using var pin4 = PinBlocks.DecipherFormat4(aes, PinBlocks.EncipherFormat4(aes, pinText, "5"), "5");
        Assert.True(pin0.Matches(pinText));
        Assert.True(pin4.Matches(pinText));
    }

    [Fact]
    public void A_wrong_account_id_or_key_gives_a_malformed_pin_block_not_a_wrong_pin()
    {
        using var aes = SecretKey.Generate(KeyAlgorithm.Aes128);
        using var otherAes = SecretKey.Generate(KeyAlgorithm.Aes128);
        var block = PinBlocks.EncipherFormat4(aes, "1234", "4111111111111111");
        Assert.Throws<MalformedPinBlockException>(() => PinBlocks.DecipherFormat4(otherAes, block, "4111111111111111"));
        Assert.Throws<MalformedPinBlockException>(() => PinBlocks.DecipherFormat4(aes, block, "4111111111111112"));
    }

    [Theory]
    [InlineData("141234FFFFFFFFFF", "control field")]
    [InlineData("03123FFFFFFFFFFF", "PIN length")]
    [InlineData("04123AFFFFFFFFFF", "not a decimal digit")]
    [InlineData("041234FFFFFFFFF0", "fill nibble")]
    public void Malformed_format0_blocks_name_the_failed_check(string clearPinField, string expected)
    {
        const string pan = "4012345678909";
        var reference = PinBlocks.BuildFormat0("1234", pan);
        var referencePinField = Bytes("041234FFFFFFFFFF");
        var block = Bytes(clearPinField);
        for (var i = 0; i < 8; i++)
        {
            block[i] ^= (byte)(reference[i] ^ referencePinField[i]); // XOR in the PAN field
        }

        var error = Assert.Throws<MalformedPinBlockException>(() => PinBlocks.ReadFormat0(block, pan));
        Assert.Contains(expected, error.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Wrong_block_lengths_and_key_families_are_refused()
    {
        using var aes = SecretKey.Generate(KeyAlgorithm.Aes128);
        using var tdes = SecretKey.Generate(KeyAlgorithm.Tdes2Key);
        Assert.Throws<MalformedPinBlockException>(() => PinBlocks.ReadFormat0(new byte[7], "4012345678909"));
        Assert.Throws<MalformedPinBlockException>(() => PinBlocks.DecipherFormat4(aes, new byte[8], "4012345678909"));
        Assert.Throws<InvalidKeyException>(() => PinBlocks.EncipherFormat0(aes, "1234", "4012345678909"));
        Assert.Throws<InvalidKeyException>(() => PinBlocks.EncipherFormat4(tdes, "1234", "4012345678909"));
    }
}
