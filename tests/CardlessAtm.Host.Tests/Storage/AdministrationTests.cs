using CardlessAtm.Host.Administration;
using CardlessAtm.Host.Server;
using CardlessAtm.Host.Storage;
using CardlessAtm.Host.Tests.Support;
using CardlessAtm.Security;

namespace CardlessAtm.Host.Tests.Storage;

/// <summary>Operator operations: every refusal is typed, names the bad value and changes nothing.</summary>
public sealed class AdministrationTests : IAsyncLifetime, IDisposable
{
    private readonly TempDirectory _dir = new();
    private HostServer _host = null!;

    public async Task InitializeAsync() => _host = await HostServer.OpenAsync(HostHarness.Options(_dir));

    public async Task DisposeAsync() => await _host.DisposeAsync();

    public void Dispose() => _dir.Dispose();

    private HostAdministration Admin => _host.Administration;

    [Theory]
    [InlineData("12AB", "1234", "account id")]
    [InlineData("12345678901234567890", "1234", "account id")]
    [InlineData("1234", "97", "PIN")]
    [InlineData("1234", "97a5", "PIN")]
    public async Task Bad_account_or_pin_is_refused_without_echoing_the_pin(string accountId, string pin, string named)
    {
        var ex = await Assert.ThrowsAsync<HostAdministrationException>(() => Admin.AddAccountAsync(new NewAccount(accountId, "Name", 978, 100), pin));
        Assert.Contains(named, ex.Message, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(pin, ex.Message, StringComparison.Ordinal);
        Assert.Null(await Admin.GetAccountAsync(accountId));
    }

    [Fact]
    public async Task A_second_account_with_the_same_id_is_refused_and_the_first_is_untouched()
    {
        await Admin.AddAccountAsync(new NewAccount("1111", "First", 978, 100), "1234");
        await Assert.ThrowsAsync<HostAdministrationException>(() => Admin.AddAccountAsync(new NewAccount("1111", "Second", 978, 999), "9999"));
        var account = await Admin.GetAccountAsync("1111");
        Assert.Equal(("First", 100L), (account!.HolderName, account.BalanceMinor));
        Assert.True((await Admin.GetLedgerTotalsAsync()).Balances);
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(-5L)]
    public async Task A_credit_must_be_positive(long amount)
    {
        await Admin.AddAccountAsync(new NewAccount("2222", "Holder", 978, 100), "1234");
        await Assert.ThrowsAsync<HostAdministrationException>(() => Admin.CreditAsync("2222", amount));
        Assert.Equal(100, (await Admin.GetAccountAsync("2222"))!.BalanceMinor);
    }

    [Fact]
    public async Task Crediting_an_unknown_account_is_refused()
    {
        var ex = await Assert.ThrowsAsync<HostAdministrationException>(() => Admin.CreditAsync("999", 10));
        Assert.Contains("999", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, (await Admin.GetLedgerTotalsAsync()).OpeningAndCreditsMinor);
    }

    [Theory]
    [InlineData("ATM0001")]
    [InlineData("atm00001")]
    [InlineData("ATM-0001")]
    public async Task Bad_atm_ids_are_refused(string atmId)
    {
        await Assert.ThrowsAsync<HostAdministrationException>(() => Admin.AddAtmAsync(atmId, "x", 978));
        Assert.Empty(await Admin.ListAtmsAsync());
    }

    [Fact]
    public async Task An_atm_gets_a_master_key_in_the_vault_and_a_second_add_is_refused()
    {
        var first = await Admin.AddAtmAsync("ATM00009", "Lobby", 978);
        using (first.MasterKey)
        {
            using var stored = _host.Vault.LoadKey(first.Atm.MasterKeyRef);
            Assert.Equal(first.MasterKey.CheckValue.ToString(), stored.CheckValue.ToString());
            Assert.DoesNotContain(Convert.ToHexString(first.MasterKey.ExportBytes()), first.ToString(), StringComparison.Ordinal);
        }

        await Assert.ThrowsAsync<HostAdministrationException>(() => Admin.AddAtmAsync("ATM00009", "Again", 978));
    }

    [Fact]
    public async Task An_atm_is_registered_with_the_key_ceremonys_master_key_unchanged()
    {
        // The ceremony (keys generate --role tmk --name tmk-ATM00011) leaves the key in the host's store.
        using var ceremony = SecretKey.Generate(_host.Profile.TerminalMasterKeyAlgorithm);
        _host.Vault.SaveKey("tmk-ATM00011", ceremony);
        Assert.Throws<HostAdministrationException>(() => Admin.EnsureMasterKeyReplaceable("ATM00011", replaceExistingKey: false));

        var (atm, checkValue) = await Admin.AddAtmWithCeremonyKeyAsync("ATM00011", "Lobby", 978);

        Assert.Equal("tmk-ATM00011", atm.MasterKeyRef);
        Assert.Equal(ceremony.CheckValue.ToString(), checkValue);
        using (var stored = _host.Vault.LoadKey("tmk-ATM00011"))
        {
            Assert.Equal(ceremony.CheckValue.ToString(), stored.CheckValue.ToString()); // the components the custodians hold still fit
        }

        Assert.Equal(AtmStatus.Active, (await Admin.ListAtmsAsync()).Single(a => a.AtmId == "ATM00011").Status);
        await Assert.ThrowsAsync<HostAdministrationException>(() => Admin.AddAtmWithCeremonyKeyAsync("ATM00011", "Again", 978));
    }

    [Fact]
    public async Task Registering_with_a_ceremony_key_that_is_not_there_names_the_ceremony_command_and_adds_nothing()
    {
        var error = await Assert.ThrowsAsync<HostAdministrationException>(() => Admin.AddAtmWithCeremonyKeyAsync("ATM00012", "Lobby", 978));

        Assert.Contains("holds no tmk-ATM00012", error.Message, StringComparison.Ordinal);
        Assert.Contains("generate --role tmk --name tmk-ATM00012", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(await Admin.ListAtmsAsync(), a => a.AtmId == "ATM00012");
    }

    [Fact]
    public async Task A_phone_needs_an_existing_account_and_gets_a_fresh_device_id()
    {
        await Assert.ThrowsAsync<HostAdministrationException>(() => Admin.EnrolPhoneAsync("424242"));
        await Admin.AddAccountAsync(new NewAccount("424242", "Holder", 978, 0), "1234");
        var a = await Admin.EnrolPhoneAsync("424242");
        var b = await Admin.EnrolPhoneAsync("424242");
        a.InitialKey.Dispose();
        b.InitialKey.Dispose();
        Assert.NotEqual(a.Phone.DeviceId, b.Phone.DeviceId);
        Assert.StartsWith("0000B001", a.Phone.DeviceId, StringComparison.Ordinal);
        await Assert.ThrowsAsync<HostAdministrationException>(() => Admin.EnrolPhoneAsync("424242", bdkId: "XYZ"));
    }
}
