namespace CardlessAtm.Security.Tests;

/// <summary>The host reads the phone's KSN from field 127 before it opens it, to look the enrolment up asynchronously.</summary>
public sealed class PhoneRequestHeaderTests
{
    [Theory]
    [InlineData(SecurityProfileKind.Aes)]
    [InlineData(SecurityProfileKind.Legacy3Des)]
    public void The_KSN_of_a_protected_request_reads_without_opening_it(SecurityProfileKind kind)
    {
        var profile = SecurityProfiles.Create(kind);
        using var bdk = SecretKey.Generate(profile.BaseDerivationKeyAlgorithm);
        var ksn = kind == SecurityProfileKind.Aes ? KeySerialNumber.AesInitial("0000B00112345678") : KeySerialNumber.Parse("FFFF9876543210E00000");
        using var ik = profile.DeriveInitialKey(bdk, ksn);
        using var device = profile.LoadPhoneDevice(ik, ksn);
        var field127 = profile.CreatePhoneProtector(device).Protect("4000123456789010", "975310", new PhoneRequestBinding("010000", "000000005000", "ATM00001", "CQ1.ATM00001.X", "978"));

        var read = PhoneRequestHeader.TryReadKeySerialNumber(field127);

        Assert.NotNull(read);
        Assert.Equal(ksn.InitialKeyId, read.InitialKeyId);
    }

    [Theory]
    [InlineData("")]
    [InlineData("0101")]
    [InlineData("01010300AABB")]
    public void A_header_that_does_not_parse_gives_no_KSN(string hex)
    {
        Assert.Null(PhoneRequestHeader.TryReadKeySerialNumber(Convert.FromHexString(hex)));
    }
}
