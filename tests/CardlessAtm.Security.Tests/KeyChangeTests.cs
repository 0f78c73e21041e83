namespace CardlessAtm.Security.Tests;

public sealed class KeyChangeTests
{
    public static TheoryData<SecurityProfileKind> Profiles() => [SecurityProfileKind.Aes, SecurityProfileKind.Legacy3Des];

    [Theory]
    [MemberData(nameof(Profiles))]
    public void Host_delivers_session_keys_that_the_terminal_opens(SecurityProfileKind kind)
    {
        var profile = SecurityProfiles.Create(kind);
        using var tmk = SecretKey.Generate(profile.TerminalMasterKeyAlgorithm);
        using var keys = profile.GenerateSessionKeys();
        var field120 = profile.CreateKeyChangeData(tmk, keys);
        using var opened = profile.OpenKeyChangeData(tmk, field120);
        Assert.Equal(keys.MacKey, opened.MacKey);
        Assert.Equal(keys.PinKey, opened.PinKey);
        Assert.DoesNotContain(Convert.ToHexString(keys.MacKey.ExportBytes()), Convert.ToHexString(field120), StringComparison.Ordinal);

        // The terminal and host now MAC alike.
        using var hostMac = profile.CreateMessageMac(keys.MacKey);
        using var terminalMac = profile.CreateMessageMac(opened.MacKey);
        var message = "0800 sign-on"u8.ToArray();
        Assert.True(terminalMac.Verify(message, hostMac.Compute(message)));
    }

    [Theory]
    [MemberData(nameof(Profiles))]
    public void Wrong_master_key_is_caught_by_the_check_value(SecurityProfileKind kind)
    {
        var profile = SecurityProfiles.Create(kind);
        using var tmk = SecretKey.Generate(profile.TerminalMasterKeyAlgorithm);
        using var otherTmk = SecretKey.Generate(profile.TerminalMasterKeyAlgorithm);
        using var keys = profile.GenerateSessionKeys();
        var field120 = profile.CreateKeyChangeData(tmk, keys);
        var error = Assert.Throws<KeyCheckValueMismatchException>(() => profile.OpenKeyChangeData(otherTmk, field120));
        Assert.Equal(SecurityFailure.KeyCheckValueMismatch, error.Failure);
        Assert.Contains("Session MAC key", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Profiles))]
    public void Any_flipped_bit_is_refused(SecurityProfileKind kind)
    {
        var profile = SecurityProfiles.Create(kind);
        using var tmk = SecretKey.Generate(profile.TerminalMasterKeyAlgorithm);
        using var keys = profile.GenerateSessionKeys();
        var field120 = profile.CreateKeyChangeData(tmk, keys);
        for (var bit = 0; bit < field120.Length * 8; bit++)
        {
            var copy = (byte[])field120.Clone();
            copy[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.ThrowsAny<SecurityException>(() => profile.OpenKeyChangeData(tmk, copy).Dispose());
        }
    }

    [Theory]
    [MemberData(nameof(Profiles))]
    public void Truncations_are_malformed(SecurityProfileKind kind)
    {
        var profile = SecurityProfiles.Create(kind);
        using var tmk = SecretKey.Generate(profile.TerminalMasterKeyAlgorithm);
        using var keys = profile.GenerateSessionKeys();
        var field120 = profile.CreateKeyChangeData(tmk, keys);
        for (var length = 0; length < field120.Length; length++)
        {
            Assert.Throws<MalformedDataException>(() => profile.OpenKeyChangeData(tmk, field120.AsSpan(0, length)));
        }
    }

    [Fact]
    public void Keys_for_the_other_profile_are_refused()
    {
        var aes = SecurityProfiles.Create(SecurityProfileKind.Aes);
        var legacy = SecurityProfiles.Create(SecurityProfileKind.Legacy3Des);
        using var aesTmk = SecretKey.Generate(KeyAlgorithm.Aes256);
        using var tdesTmk = SecretKey.Generate(KeyAlgorithm.Tdes2Key);
        using var aesKeys = aes.GenerateSessionKeys();
        Assert.Throws<InvalidKeyException>(() => aes.CreateKeyChangeData(tdesTmk, aesKeys));
        Assert.Throws<InvalidKeyException>(() => legacy.CreateKeyChangeData(tdesTmk, aesKeys));
        var field120 = aes.CreateKeyChangeData(aesTmk, aesKeys);
        Assert.Throws<InvalidKeyException>(() => legacy.OpenKeyChangeData(aesTmk, field120));
        Assert.Throws<ProfileMismatchException>(() => legacy.OpenKeyChangeData(tdesTmk, field120));
    }
}
