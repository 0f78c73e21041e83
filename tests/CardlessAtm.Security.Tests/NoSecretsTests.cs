namespace CardlessAtm.Security.Tests;

/// <summary>No ToString() of a secret-holding object shows key bytes, a PIN or an account id.</summary>
public sealed class NoSecretsTests
{
    [Theory]
    [InlineData(SecurityProfileKind.Aes)]
    [InlineData(SecurityProfileKind.Legacy3Des)]
    public void Secret_holders_describe_themselves_without_secrets(SecurityProfileKind kind)
    {
        var profile = SecurityProfiles.Create(kind);
        using var bdk = SecretKey.Generate(profile.BaseDerivationKeyAlgorithm);
        var ksn = kind == SecurityProfileKind.Aes ? KeySerialNumber.AesInitial("0000B00112345678") : KeySerialNumber.Parse("FFFF9876543210E00000");
        using var ik = profile.DeriveInitialKey(bdk, ksn);
        using var device = profile.LoadPhoneDevice(ik, ksn);
        var binding = new PhoneRequestBinding("010000", "000000005000", "ATM00001", "CQ1.ATM00001.X", "978");
        var protector = profile.CreatePhoneProtector(device);
        var field127 = protector.Protect("4000123456789010", "975310", binding);
        using var opened = profile.CreatePhoneOpener(new Provider(bdk)).Open(field127, binding);
        using var keys = profile.GenerateSessionKeys();
        using var mac = profile.CreateMessageMac(keys.MacKey);
        using var pvk = SecretKey.Generate(KeyAlgorithm.Aes256);
        using var verifier = new PinVerifier(pvk);

        var secrets = new[]
        {
            Convert.ToHexString(bdk.ExportBytes()), Convert.ToHexString(ik.ExportBytes()),
            Convert.ToHexString(keys.MacKey.ExportBytes()), Convert.ToHexString(keys.PinKey!.ExportBytes()),
            Convert.ToHexString(pvk.ExportBytes()), "4000123456789010", "975310",
        };
        var descriptions = new object[] { bdk, ik, device, protector, opened, keys, mac, verifier, profile, new KeyComponentEntry("00112233", "ABCDEF") };
        foreach (var description in descriptions.Select(d => d.ToString()!))
        {
            foreach (var secret in secrets)
            {
                Assert.DoesNotContain(secret, description, StringComparison.OrdinalIgnoreCase);
            }

            Assert.DoesNotContain("00112233", description, StringComparison.Ordinal);
        }
    }

    private sealed class Provider(SecretKey bdk) : IBaseDerivationKeyProvider
    {
        public SecretKey? FindBaseDerivationKey(KeySerialNumber ksn) => bdk;
    }
}
