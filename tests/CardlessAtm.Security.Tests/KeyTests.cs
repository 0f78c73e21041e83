using static CardlessAtm.Security.Tests.TestHex;

namespace CardlessAtm.Security.Tests;

public sealed class KeyTests
{
    [Theory]
    [InlineData(KeyAlgorithm.Tdes2Key, 15)]
    [InlineData(KeyAlgorithm.Aes128, 32)]
    [InlineData(KeyAlgorithm.Aes256, 16)]
    public void Wrong_length_is_refused_and_named(KeyAlgorithm algorithm, int length)
    {
        var error = Assert.Throws<InvalidKeyException>(() => SecretKey.Create(algorithm, new byte[length]));
        Assert.Equal(SecurityFailure.InvalidKey, error.Failure);
        Assert.Contains($"{length} bytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_parity_is_refused_when_required_and_names_the_byte()
    {
        // 0x01 has odd parity, 0x02... byte 3 (0x03) has even parity.
        var material = Bytes("0101010301010101" + "0202020202020202".Replace("02", "04", StringComparison.Ordinal));
        var error = Assert.Throws<InvalidKeyException>(() => SecretKey.Create(KeyAlgorithm.Tdes2Key, material, requireOddParity: true));
        Assert.Contains("byte 3", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Tdes_key_with_equal_halves_is_refused()
    {
        Assert.Throws<InvalidKeyException>(() => Key(KeyAlgorithm.Tdes2Key, "0123456789ABCDEF0123456789ABCDEF"));
    }

    [Fact]
    public void ToString_and_errors_never_show_key_material()
    {
        const string hex = "0123456789ABCDEFFEDCBA9876543210";
        using var key = Key(KeyAlgorithm.Tdes2Key, hex);
        Assert.DoesNotContain("0123456789", key.ToString(), StringComparison.OrdinalIgnoreCase);
        Assert.Contains("KCV", key.ToString(), StringComparison.Ordinal);
        var error = Assert.Throws<InvalidKeyException>(() => SecretKey.FromHex(KeyAlgorithm.Aes128, hex + "ZZ"));
        Assert.DoesNotContain("0123456789", error.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Disposed_key_is_zeroed_and_unusable()
    {
        var key = SecretKey.Generate(KeyAlgorithm.Aes128);
        key.Dispose();
        Assert.Throws<ObjectDisposedException>(() => key.ExportBytes());
    }

    // No published KCV vector for these keys: TDES KCV (leftmost 3 bytes of E(K, zero block)) is checked
    // against .NET's TripleDES; the AES KCV (leftmost 5 bytes of CMAC over a zero block) against the CMAC
    // primitive, which is itself proven on the RFC 4493 vectors.
    [Fact]
    public void Key_check_values_follow_their_definitions()
    {
        using var tdes = Key(KeyAlgorithm.Tdes2Key, "0123456789ABCDEFFEDCBA9876543210");
        using var platform = System.Security.Cryptography.TripleDES.Create();
        platform.Key = PlatformKeys.ForPlatform(tdes.ExportBytes());
        var zeros = platform.EncryptEcb(new byte[8], System.Security.Cryptography.PaddingMode.None);
        Assert.Equal(Hex(zeros.AsSpan(0, 3)), tdes.CheckValue.ToString());

        using var aes = Key(KeyAlgorithm.Aes128, "2B7E151628AED2A6ABF7158809CF4F3C");
        Assert.Equal(Hex(Primitives.Cmac.Compute(aes, new byte[16]).AsSpan(0, 5)), aes.CheckValue.ToString());
        Assert.Equal(5, aes.CheckValue.Bytes.Length);
    }

    [Theory]
    [InlineData(KeyAlgorithm.Tdes2Key, 2)]
    [InlineData(KeyAlgorithm.Tdes2Key, 3)]
    [InlineData(KeyAlgorithm.Aes256, 2)]
    [InlineData(KeyAlgorithm.Aes128, 3)]
    public void Components_split_and_combine_back_to_the_same_key(KeyAlgorithm algorithm, int count)
    {
        using var key = SecretKey.Generate(algorithm);
        var components = KeyComponents.Split(key, count);
        var entries = components.Select(c => new KeyComponentEntry(HexOf(c), c.CheckValue.ToString())).ToList();
        using var combined = KeyComponents.Combine(algorithm, entries, key.CheckValue.ToString());
        Assert.Equal(key.CheckValue, combined.CheckValue);
        if (algorithm.IsAes())
        {
            Assert.Equal(key, combined);
        }

        foreach (var component in components)
        {
            component.Dispose();
        }
    }

    [Fact]
    public void A_mistyped_component_is_refused_by_its_own_KCV()
    {
        using var key = SecretKey.Generate(KeyAlgorithm.Aes128);
        var components = KeyComponents.Split(key, 2);
        var typo = HexOf(components[1]).ToCharArray();
        typo[5] = typo[5] == '0' ? '1' : '0';
        var entries = new[]
        {
            new KeyComponentEntry(HexOf(components[0]), components[0].CheckValue.ToString()),
            new KeyComponentEntry(new string(typo), components[1].CheckValue.ToString()),
        };
        var error = Assert.Throws<KeyCheckValueMismatchException>(() => KeyComponents.Combine(KeyAlgorithm.Aes128, entries));
        Assert.Contains("Component 2 of 2", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(new string(typo), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Combined_key_KCV_mismatch_is_refused()
    {
        using var key = SecretKey.Generate(KeyAlgorithm.Tdes2Key);
        var components = KeyComponents.Split(key, 2);
        var entries = components.Select(c => new KeyComponentEntry(HexOf(c), c.CheckValue.ToString())).ToList();
        Assert.Throws<KeyCheckValueMismatchException>(() => KeyComponents.Combine(KeyAlgorithm.Tdes2Key, entries, "000000"));
    }

    [Fact]
    public void One_component_is_not_dual_control()
    {
        Assert.Throws<InvalidKeyException>(() => KeyComponents.Combine(KeyAlgorithm.Aes128, [new KeyComponentEntry("00", "000000")]));
    }
}
