using CardlessAtm.Phone.Enrolment;
using CardlessAtm.Security;

namespace CardlessAtm.Phone.Tests;

public sealed class EnrolmentTests
{
    [Fact]
    public void Enrolment_writes_an_owner_only_file_that_starts_at_counter_one()
    {
        using var phone = new PhoneFixture();

        var status = PhoneEnrolment.Open(phone.EnrolmentPath, phone.Profile).Inspect(phone.Profile);

        Assert.Equal(phone.InitialKsn.InitialKeyId, status.DeviceId);
        Assert.Equal(1u, status.NextKsn.TransactionCounter);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(phone.EnrolmentPath));
        }

        Assert.DoesNotContain(TestKeys.AesBdk, File.ReadAllText(phone.EnrolmentPath), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Enrolling_again_over_an_existing_file_is_refused_unless_asked()
    {
        using var phone = new PhoneFixture();
        using var initialKey = phone.Profile.DeriveInitialKey(phone.Bdk, phone.InitialKsn);
        var before = File.ReadAllText(phone.EnrolmentPath);

        var ex = Assert.Throws<PhoneInputException>(() => PhoneEnrolment.Create(phone.EnrolmentPath, phone.Profile, initialKey, phone.InitialKsn));

        Assert.Contains("already enrolled", ex.Message, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllText(phone.EnrolmentPath));
        PhoneEnrolment.Create(phone.EnrolmentPath, phone.Profile, initialKey, phone.InitialKsn, overwrite: true);
    }

    [Fact]
    public void A_missing_enrolment_is_refused_and_no_directory_is_created()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"absent-{Guid.NewGuid():N}");
        var path = Path.Combine(dir, "phone.key");

        var ex = Assert.Throws<PhoneInputException>(() => PhoneEnrolment.Open(path, SecurityProfiles.Create(SecurityProfileKind.Aes)));

        Assert.Equal(PhoneInputError.EnrolmentMissing, ex.Error);
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir));
    }

    [Theory]
    [InlineData(UnixFileMode.GroupRead)]
    [InlineData(UnixFileMode.OtherRead)]
    public void A_group_or_world_readable_enrolment_is_refused_with_the_fix(UnixFileMode extra)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        using var phone = new PhoneFixture();
        File.SetUnixFileMode(phone.EnrolmentPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | extra);

        var ex = Assert.Throws<PhoneInputException>(() => PhoneEnrolment.Open(phone.EnrolmentPath, phone.Profile));

        Assert.Equal(PhoneInputError.EnrolmentInsecure, ex.Error);
        Assert.Contains($"chmod 600 {phone.EnrolmentPath}", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Enrolling_into_a_directory_others_can_list_is_refused_before_a_key_is_written()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var directory = Directory.CreateTempSubdirectory("cardless-phone-open-");
        try
        {
            File.SetUnixFileMode(directory.FullName, (UnixFileMode)Convert.ToInt32("755", 8));
            var profile = SecurityProfiles.Create(SecurityProfileKind.Aes);
            using var bdk = SecretKey.FromHex(KeyAlgorithm.Aes128, TestKeys.AesBdk);
            var ksn = KeySerialNumber.AesInitial(TestKeys.AesInitialKeyId);
            using var initialKey = profile.DeriveInitialKey(bdk, ksn);
            var path = Path.Combine(directory.FullName, "phone.key");

            var ex = Assert.Throws<PhoneInputException>(() => PhoneEnrolment.Create(path, profile, initialKey, ksn));

            Assert.Equal(PhoneInputError.EnrolmentInsecure, ex.Error);
            Assert.Contains($"chmod 700 {directory.FullName}", ex.Message, StringComparison.Ordinal);
            Assert.False(File.Exists(path));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public void An_enrolment_in_a_new_directory_makes_it_owner_only()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        using var phone = new PhoneFixture();

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(phone.Directory));
    }

    [Fact]
    public void An_enrolment_for_the_other_profile_is_refused_naming_both()
    {
        using var phone = new PhoneFixture(SecurityProfileKind.Aes);

        var ex = Assert.Throws<PhoneInputException>(() => PhoneEnrolment.Open(phone.EnrolmentPath, SecurityProfiles.Create(SecurityProfileKind.Legacy3Des)));

        Assert.Equal(PhoneInputError.EnrolmentInvalid, ex.Error);
        Assert.Contains("Aes DUKPT", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Legacy3Des", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_corrupt_enrolment_is_refused_as_invalid()
    {
        using var phone = new PhoneFixture();
        File.WriteAllText(phone.EnrolmentPath, "# cardless-atm key file v1\ntype=dukpt-device\nstate=0102\n");

        var ex = Assert.Throws<PhoneInputException>(() => PhoneEnrolment.Open(phone.EnrolmentPath, phone.Profile));

        Assert.Equal(PhoneInputError.EnrolmentInvalid, ex.Error);
    }

    [Theory]
    [InlineData("phone.txt")]
    [InlineData(".key")]
    [InlineData("ph one.key")]
    public void An_enrolment_file_name_the_key_store_cannot_hold_is_refused(string name)
    {
        var ex = Assert.Throws<PhoneInputException>(() => PhoneEnrolment.Open(Path.Combine(Path.GetTempPath(), name), SecurityProfiles.Create(SecurityProfileKind.Aes)));

        Assert.Equal(PhoneInputError.InvalidSetting, ex.Error);
    }

    [Fact]
    public void Each_transaction_is_saved_before_it_is_returned_so_a_new_instance_continues()
    {
        using var phone = new PhoneFixture(SecurityProfileKind.Legacy3Des);
        var first = PhoneEnrolment.Open(phone.EnrolmentPath, phone.Profile);

        var ksn1 = first.TakeNextTransaction(phone.Profile, (device, ksn) => { device.NextTransaction().Dispose(); return ksn; });
        var ksn2 = PhoneEnrolment.Open(phone.EnrolmentPath, phone.Profile)
            .TakeNextTransaction(phone.Profile, (device, ksn) => { device.NextTransaction().Dispose(); return ksn; });

        Assert.Equal(1u, ksn1.TransactionCounter);
        Assert.Equal(2u, ksn2.TransactionCounter);
        Assert.Equal(3u, first.Inspect(phone.Profile).NextKsn.TransactionCounter);
    }

    [Fact]
    public void A_builder_that_takes_no_transaction_saves_nothing()
    {
        using var phone = new PhoneFixture();
        var enrolment = PhoneEnrolment.Open(phone.EnrolmentPath, phone.Profile);

        Assert.Throws<InvalidOperationException>(() => enrolment.TakeNextTransaction(phone.Profile, (_, ksn) => ksn));

        Assert.Equal(1u, enrolment.Inspect(phone.Profile).NextKsn.TransactionCounter);
    }

    [Fact]
    public void An_in_memory_enrolment_hands_out_each_ksn_once_across_threads()
    {
        var profile = SecurityProfiles.Create(SecurityProfileKind.Aes);
        using var bdk = SecretKey.FromHex(KeyAlgorithm.Aes128, TestKeys.AesBdk);
        var ksn = KeySerialNumber.AesInitial(TestKeys.AesInitialKeyId);
        using var initialKey = profile.DeriveInitialKey(bdk, ksn);
        var enrolment = PhoneEnrolment.CreateInMemory(profile, initialKey, ksn);

        var counters = new System.Collections.Concurrent.ConcurrentBag<uint>();
        Parallel.For(0, 200, _ => counters.Add(enrolment.TakeNextTransaction(profile, (device, next) =>
        {
            device.NextTransaction().Dispose();
            return next.TransactionCounter;
        })));

        Assert.True(enrolment.IsInMemory);
        Assert.Equal(200, counters.Distinct().Count());
        Assert.Equal(Enumerable.Range(1, 200).Select(i => (uint)i), counters.Order());
        Assert.Equal(201u, enrolment.Inspect(profile).NextKsn.TransactionCounter);
    }
}
