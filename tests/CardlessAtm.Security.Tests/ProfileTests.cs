using System.Text;
using CardlessAtm.Security.Primitives;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using static CardlessAtm.Security.Tests.TestHex;

namespace CardlessAtm.Security.Tests;

/// <summary>Both profiles end to end: the phone protects a withdrawal request, the host opens it.</summary>
public sealed class ProfileTests
{
    private const string AccountId = "4012345678909";
    private const string Pin = "4321";

    public static TheoryData<SecurityProfileKind> Profiles() => [SecurityProfileKind.Aes, SecurityProfileKind.Legacy3Des];

    private static PhoneRequestBinding Binding(string amount = "000000010000", string payload = "CATM1|ATM00001|N=9F2C41D07A3B55E1|A=10000|C=978|X=1764090000|M=0011223344556677") =>
        new("010000", amount, "ATM00001", payload, "978");

    private sealed class Phone : IDisposable
    {
        public Phone(ISecurityProfile profile)
        {
            Profile = profile;
            Bdk = SecretKey.Generate(profile.BaseDerivationKeyAlgorithm);
            InitialKsn = profile.DukptKind == DukptKind.Aes ? KeySerialNumber.AesInitial("A1B2C3D400000042") : KeySerialNumber.Parse("FFFF9876543210E00000");
            using var ik = profile.DeriveInitialKey(Bdk, InitialKsn);
            Device = profile.LoadPhoneDevice(ik, InitialKsn);
            Protector = profile.CreatePhoneProtector(Device);
            Opener = profile.CreatePhoneOpener(new SingleBdk(Bdk));
        }

        public ISecurityProfile Profile { get; }

        public SecretKey Bdk { get; }

        public KeySerialNumber InitialKsn { get; }

        public DukptDevice Device { get; }

        public IPhoneRequestProtector Protector { get; }

        public IPhoneRequestOpener Opener { get; }

        public void Dispose()
        {
            Device.Dispose();
            Bdk.Dispose();
        }
    }

    private sealed class SingleBdk(SecretKey? bdk) : IBaseDerivationKeyProvider
    {
        public SecretKey? FindBaseDerivationKey(KeySerialNumber ksn) => bdk;
    }

    [Theory]
    [MemberData(nameof(Profiles))]
    public void Withdrawal_request_round_trips_from_phone_to_host(SecurityProfileKind kind)
    {
        using var phone = new Phone(SecurityProfiles.Create(kind));
        for (var i = 1; i <= 3; i++)
        {
            var field127 = phone.Protector.Protect(AccountId, Pin, Binding());
            using var opened = phone.Opener.Open(field127, Binding());
            Assert.Equal(AccountId, opened.AccountId);
            Assert.True(opened.PinEquals(Pin));
            Assert.False(opened.PinEquals("1234"));
            Assert.Equal((uint)i, opened.Ksn.TransactionCounter);
            Assert.Equal(phone.InitialKsn.InitialKeyId, opened.DeviceId);
            Assert.DoesNotContain(AccountId, opened.ToString(), StringComparison.Ordinal);
        }
    }

    [Theory]
    [MemberData(nameof(Profiles))]
    public void Field127_never_carries_the_account_id_or_pin_in_clear(SecurityProfileKind kind)
    {
        using var phone = new Phone(SecurityProfiles.Create(kind));
        var field127 = phone.Protector.Protect(AccountId, Pin, Binding());
        var asText = Encoding.ASCII.GetString(field127);
        Assert.DoesNotContain(AccountId, asText, StringComparison.Ordinal);
        Assert.DoesNotContain(AccountId, Hex(field127), StringComparison.Ordinal);
        Assert.Equal(1, field127[0]);
    }

    [Theory]
    [MemberData(nameof(Profiles))]
    public void Host_verifies_the_pin_against_a_keyed_reference(SecurityProfileKind kind)
    {
        using var phone = new Phone(SecurityProfiles.Create(kind));
        using var pvk = SecretKey.Generate(KeyAlgorithm.Aes256);
        using var verifier = new PinVerifier(pvk);
        var reference = verifier.CreateReference(AccountId, Pin);
        Assert.DoesNotContain(Pin, reference, StringComparison.Ordinal);
        using var opened = phone.Opener.Open(phone.Protector.Protect(AccountId, Pin, Binding()), Binding());
        Assert.True(opened.VerifyPin(verifier, reference));
        Assert.False(opened.VerifyPin(verifier, verifier.CreateReference(AccountId, "0000")));
        Assert.False(opened.VerifyPin(verifier, verifier.CreateReference("4012345678900", Pin)));
        Assert.False(opened.VerifyPin(verifier, "garbage"));
    }

    public static TheoryData<SecurityProfileKind, string> Tampering()
    {
        var data = new TheoryData<SecurityProfileKind, string>();
        foreach (var kind in new[] { SecurityProfileKind.Aes, SecurityProfileKind.Legacy3Des })
        {
            foreach (var field in new[] { "3", "4", "41", "48", "49" })
            {
                data.Add(kind, field);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Tampering))]
    public void Changing_any_bound_field_fails_the_phone_mac(SecurityProfileKind kind, string field)
    {
        using var phone = new Phone(SecurityProfiles.Create(kind));
        var original = Binding();
        var field127 = phone.Protector.Protect(AccountId, Pin, original);
        var changed = field switch
        {
            "3" => new PhoneRequestBinding("011000", original.Amount, original.TerminalId, original.SessionPayload, original.Currency),
            "4" => new PhoneRequestBinding(original.ProcessingCode, "000000090000", original.TerminalId, original.SessionPayload, original.Currency),
            "41" => new PhoneRequestBinding(original.ProcessingCode, original.Amount, "ATM00002", original.SessionPayload, original.Currency),
            "48" => new PhoneRequestBinding(original.ProcessingCode, original.Amount, original.TerminalId, original.SessionPayload + "X", original.Currency),
            _ => new PhoneRequestBinding(original.ProcessingCode, original.Amount, original.TerminalId, original.SessionPayload, "840"),
        };
        var error = Assert.Throws<MacMismatchException>(() => phone.Opener.Open(field127, changed));
        Assert.Equal(SecurityFailure.MacMismatch, error.Failure);
    }

    [Theory]
    [MemberData(nameof(Profiles))]
    public void Every_flipped_bit_of_field127_is_caught(SecurityProfileKind kind)
    {
        using var phone = new Phone(SecurityProfiles.Create(kind));
        var field127 = phone.Protector.Protect(AccountId, Pin, Binding());
        for (var bit = 0; bit < field127.Length * 8; bit++)
        {
            var copy = (byte[])field127.Clone();
            copy[bit / 8] ^= (byte)(1 << (bit % 8));
            var error = Assert.ThrowsAny<SecurityException>(() => phone.Opener.Open(copy, Binding()).Dispose());
            Assert.DoesNotContain(AccountId, error.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [MemberData(nameof(Profiles))]
    public void Every_truncation_is_a_malformed_data_error(SecurityProfileKind kind)
    {
        using var phone = new Phone(SecurityProfiles.Create(kind));
        var field127 = phone.Protector.Protect(AccountId, Pin, Binding());
        for (var length = 0; length < field127.Length; length++)
        {
            var error = Assert.ThrowsAny<SecurityException>(() => phone.Opener.Open(field127.AsSpan(0, length), Binding()).Dispose());
            Assert.True(error.Failure is SecurityFailure.MalformedData or SecurityFailure.InvalidKeySerialNumber, $"length {length}: {error.Failure}");
        }

        Assert.Throws<MalformedDataException>(() => phone.Opener.Open([.. field127, 0], Binding()));
    }

    [Theory]
    [MemberData(nameof(Profiles))]
    public void Unknown_device_and_wrong_bdk_are_told_apart(SecurityProfileKind kind)
    {
        var profile = SecurityProfiles.Create(kind);
        using var phone = new Phone(profile);
        var field127 = phone.Protector.Protect(AccountId, Pin, Binding());
        var unknown = profile.CreatePhoneOpener(new SingleBdk(null));
        Assert.Equal(SecurityFailure.UnknownDevice, Assert.Throws<UnknownDeviceException>(() => unknown.Open(field127, Binding())).Failure);
        using var otherBdk = SecretKey.Generate(profile.BaseDerivationKeyAlgorithm);
        Assert.Throws<MacMismatchException>(() => profile.CreatePhoneOpener(new SingleBdk(otherBdk)).Open(field127, Binding()));
    }

    [Fact]
    public void A_request_for_the_other_profile_is_a_profile_mismatch()
    {
        using var aesPhone = new Phone(SecurityProfiles.Create(SecurityProfileKind.Aes));
        using var tdesPhone = new Phone(SecurityProfiles.Create(SecurityProfileKind.Legacy3Des));
        var field127 = aesPhone.Protector.Protect(AccountId, Pin, Binding());
        Assert.Throws<ProfileMismatchException>(() => tdesPhone.Opener.Open(field127, Binding()));
    }

    [Theory]
    [MemberData(nameof(Profiles))]
    public void Bad_credentials_are_refused_before_any_key_is_used(SecurityProfileKind kind)
    {
        using var phone = new Phone(SecurityProfiles.Create(kind));
        var before = phone.Device.NextKsn;
        Assert.Throws<InvalidCredentialFormatException>(() => phone.Protector.Protect(AccountId, "123", Binding()));
        Assert.Throws<InvalidCredentialFormatException>(() => phone.Protector.Protect(AccountId, "1234567890123", Binding()));
        Assert.Throws<InvalidCredentialFormatException>(() => phone.Protector.Protect(AccountId, "12a4", Binding()));
        Assert.Throws<InvalidCredentialFormatException>(() => phone.Protector.Protect("40123456789O9", Pin, Binding()));
        Assert.Throws<InvalidCredentialFormatException>(() => phone.Protector.Protect("40123456789012345678", Pin, Binding()));
        Assert.Equal(before, phone.Device.NextKsn);
    }

    [Fact]
    public void Binding_checks_the_field_contract_and_names_the_field()
    {
        var error = Assert.Throws<MalformedDataException>(() => new PhoneRequestBinding("010000", "10000", "ATM00001", "x", "978"));
        Assert.Contains("Field 4", error.Message, StringComparison.Ordinal);
        Assert.Throws<MalformedDataException>(() => new PhoneRequestBinding("010000", "000000010000", "ATM1", "x", "978"));
        Assert.Throws<MalformedDataException>(() => new PhoneRequestBinding("010000", "000000010000", "ATM00001", "", "978"));
        Assert.Throws<MalformedDataException>(() => new PhoneRequestBinding("010000", "000000010000", "ATM00001", "x", "EUR"));
    }

    [Theory]
    [MemberData(nameof(Profiles))]
    public void Message_mac_is_8_bytes_and_rejects_any_change(SecurityProfileKind kind)
    {
        var profile = SecurityProfiles.Create(kind);
        using var keys = profile.GenerateSessionKeys();
        using var mac = profile.CreateMessageMac(keys.MacKey);
        var message = Encoding.ASCII.GetBytes("0200" + new string('7', 61));
        var tag = mac.Compute(message);
        Assert.Equal(8, tag.Length);
        Assert.True(mac.Verify(message, tag));
        message[10] ^= 1;
        Assert.False(mac.Verify(message, tag));
        Assert.Throws<MacMismatchException>(() => mac.VerifyOrThrow(message, tag, "0210 from host"));
        Assert.False(mac.Verify(message, tag.AsSpan(0, 4)));

        // The profile's definition: retail MAC (Legacy3Des) or AES-CMAC truncated to 8 bytes (Aes).
        message[10] ^= 1;
        var expected = kind == SecurityProfileKind.Aes ? Cmac.Compute(keys.MacKey, message)[..8] : RetailMac.Compute(keys.MacKey, message);
        Assert.Equal(expected, tag);
    }

    [Fact]
    public void Message_mac_refuses_a_key_of_the_other_family()
    {
        using var aesKey = SecretKey.Generate(KeyAlgorithm.Aes128);
        Assert.Throws<InvalidKeyException>(() => SecurityProfiles.Create(SecurityProfileKind.Legacy3Des).CreateMessageMac(aesKey));
    }

    [Fact]
    public void Configuration_selects_the_profile_with_Aes_as_default()
    {
        Assert.Equal(SecurityProfileKind.Aes, SecurityProfiles.FromConfiguration(new ConfigurationBuilder().Build()).Kind);
        var legacy = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Security:Profile"] = "legacy3des" }).Build();
        Assert.Equal(SecurityProfileKind.Legacy3Des, SecurityProfiles.FromConfiguration(legacy).Kind);
        var bad = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Security:Profile"] = "Des" }).Build();
        var error = Assert.Throws<FormatException>(() => SecurityProfiles.FromConfiguration(bad));
        Assert.Contains("Security:Profile", error.Message, StringComparison.Ordinal);
        var numeric = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Security:Profile"] = "1" }).Build();
        Assert.Throws<FormatException>(() => SecurityProfiles.FromConfiguration(numeric));

        using var provider = new ServiceCollection().AddCardlessAtmSecurity(legacy).BuildServiceProvider();
        Assert.Equal(SecurityProfileKind.Legacy3Des, provider.GetRequiredService<ISecurityProfile>().Kind);
    }
}

public sealed class Aes256PhoneTests
{
    [Fact]
    public void An_aes256_bdk_gives_aes256_working_keys_and_still_round_trips()
    {
        var profile = SecurityProfiles.Create(SecurityProfileKind.Aes);
        using var bdk = SecretKey.Generate(KeyAlgorithm.Aes256);
        var ksn = KeySerialNumber.AesInitial("0000B00112345678");
        using var ik = profile.DeriveInitialKey(bdk, ksn);
        Assert.Equal(KeyAlgorithm.Aes256, ik.Algorithm);
        using var device = profile.LoadPhoneDevice(ik, ksn);
        var binding = new PhoneRequestBinding("010000", "000000005000", "ATM00001", "CQ1.ATM00001.X", "978");
        var field127 = profile.CreatePhoneProtector(device).Protect("4000123456789010", "2468", binding);
        using var opened = profile.CreatePhoneOpener(new Provider(bdk)).Open(field127, binding);
        Assert.Equal("4000123456789010", opened.AccountId);
        Assert.True(opened.PinEquals("2468"));
    }

    private sealed class Provider(SecretKey bdk) : IBaseDerivationKeyProvider
    {
        public SecretKey? FindBaseDerivationKey(KeySerialNumber ksn) => bdk;
    }
}
