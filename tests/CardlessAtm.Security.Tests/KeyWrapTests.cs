namespace CardlessAtm.Security.Tests;

/// <summary>AES-256-GCM key wrapping (<see cref="AesGcmKeyWrap"/>): a wrapped key comes back only under the same KEK and the same associated data.</summary>
public sealed class KeyWrapTests
{
    private static readonly byte[] RowA = "cardless-atm vault key v1\ntmk-ATM00001\n1"u8.ToArray();

    [Fact]
    public void A_wrapped_key_unwraps_to_the_same_key_and_its_ciphertext_is_not_the_key()
    {
        using var kek = SecretKey.Generate(KeyAlgorithm.Aes256);
        using var key = SecretKey.Generate(KeyAlgorithm.Tdes2Key);

        var wrapped = AesGcmKeyWrap.Wrap(kek, key, RowA);
        using var unwrapped = AesGcmKeyWrap.Unwrap(kek, KeyAlgorithm.Tdes2Key, wrapped, RowA, "tmk-ATM00001");

        Assert.Equal(key, unwrapped);
        Assert.False(wrapped.Ciphertext.AsSpan().SequenceEqual(key.Material));
        Assert.Equal((12, 16, 16), (wrapped.Nonce.Length, wrapped.Tag.Length, wrapped.Ciphertext.Length));
    }

    [Fact]
    public void Two_wraps_of_one_key_differ_so_equal_keys_are_not_visible_as_equal_rows()
    {
        using var kek = SecretKey.Generate(KeyAlgorithm.Aes256);
        using var key = SecretKey.Generate(KeyAlgorithm.Aes128);

        var first = AesGcmKeyWrap.Wrap(kek, key, RowA);
        var second = AesGcmKeyWrap.Wrap(kek, key, RowA);

        Assert.NotEqual(Convert.ToHexString(first.Ciphertext), Convert.ToHexString(second.Ciphertext));
    }

    [Fact]
    public void Other_associated_data_another_kek_or_a_changed_bit_fail_authentication_naming_the_key_only()
    {
        using var kek = SecretKey.Generate(KeyAlgorithm.Aes256);
        using var otherKek = SecretKey.Generate(KeyAlgorithm.Aes256);
        using var key = SecretKey.Generate(KeyAlgorithm.Aes128);
        var wrapped = AesGcmKeyWrap.Wrap(kek, key, RowA);
        var flipped = wrapped with { Ciphertext = [.. wrapped.Ciphertext] };
        flipped.Ciphertext[0] ^= 1;

        foreach (var attempt in (Action[])[
            () => AesGcmKeyWrap.Unwrap(kek, KeyAlgorithm.Aes128, wrapped, "cardless-atm vault key v1\ntmk-ATM00002\n1"u8, "tmk-ATM00001").Dispose(),
            () => AesGcmKeyWrap.Unwrap(kek, KeyAlgorithm.Aes128, wrapped, "cardless-atm vault key v1\ntmk-ATM00001\n2"u8, "tmk-ATM00001").Dispose(),
            () => AesGcmKeyWrap.Unwrap(otherKek, KeyAlgorithm.Aes128, wrapped, RowA, "tmk-ATM00001").Dispose(),
            () => AesGcmKeyWrap.Unwrap(kek, KeyAlgorithm.Aes128, flipped, RowA, "tmk-ATM00001").Dispose(),
        ])
        {
            var error = Assert.Throws<MacMismatchException>(attempt);
            Assert.StartsWith("tmk-ATM00001: failed authentication", error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(Convert.ToHexString(key.Material), error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_kek_that_is_not_aes_256_is_refused()
    {
        using var weak = SecretKey.Generate(KeyAlgorithm.Aes128);
        using var key = SecretKey.Generate(KeyAlgorithm.Aes128);

        Assert.Throws<InvalidKeyException>(() => AesGcmKeyWrap.Wrap(weak, key, RowA));
    }

    [Fact]
    public void A_key_file_loads_by_path_with_the_store_s_permission_and_kcv_checks()
    {
        var directory = Path.Combine(Path.GetTempPath(), "cardless-kek-" + Guid.NewGuid().ToString("N"));
        try
        {
            var store = new FileKeyStore(directory);
            using var kek = SecretKey.Generate(KeyAlgorithm.Aes256);
            store.SaveKey("fleet-kek", kek);

            using var loaded = FileKeyStore.LoadKeyFile(store.PathOf("fleet-kek"));

            Assert.Equal(kek, loaded);
            Assert.Throws<KeyFileRejectedException>(() => FileKeyStore.LoadKeyFile(Path.Combine(directory, "missing.key")));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
