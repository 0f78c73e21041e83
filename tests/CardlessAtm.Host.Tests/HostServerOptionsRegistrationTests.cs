using CardlessAtm.Host.Server;
using CardlessAtm.Host.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CardlessAtm.Host.Tests;

/// <summary><see cref="HostServerOptions"/> registered through the one options pattern and checked when the host starts.</summary>
public class HostServerOptionsRegistrationTests
{
    [Fact]
    public void A_bad_connection_limit_stops_start_up_with_one_failure_naming_it()
    {
        using var services = Build(o => o.MaxConnectionsBeforeSignOn = 5000);
        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IStartupValidator>().Validate());
        Assert.Equal(typeof(HostServerOptions), error.OptionsType);
        Assert.Equal(
            $"Host:MaxConnectionsBeforeSignOn: 5000 is more than Host:MaxConnections ({new HostServerOptions().MaxConnections}); it must be 1 to that",
            Assert.Single(error.Failures));
    }

    [Fact]
    public void Good_settings_start()
    {
        using var services = Build(o => o.Port = 8583);
        services.GetRequiredService<IStartupValidator>().Validate();
        Assert.Equal(8583, services.GetRequiredService<IOptions<HostServerOptions>>().Value.Port);
    }

    [Fact]
    public void A_second_registration_adds_no_second_validator_or_configuration()
    {
        var services = new ServiceCollection();
        Assert.NotNull(services.AddValidatedOptionsOnce<HostServerOptions, HostServerOptionsValidator>());
        var count = services.Count;
        Assert.Null(services.AddValidatedOptionsOnce<HostServerOptions, HostServerOptionsValidator>());
        Assert.Equal(count, services.Count);
        Assert.Single(services, d => d.ServiceType == typeof(IValidateOptions<HostServerOptions>));
    }

    [Theory]
    [InlineData("Host:Store:ConnectionString")]
    [InlineData("Host:Keys:KekPath")]
    public void Postgres_settings_are_checked_in_order_naming_the_first_missing(string expected)
    {
        var options = new HostServerOptions { Store = new HostStoreOptions { Kind = HostStoreKind.Postgres } };
        if (expected == "Host:Keys:KekPath")
        {
            options.Store.ConnectionString = "Host=db";
        }

        Assert.Equal(expected, Assert.Throws<ConfigurationException>(() => HostServerOptionsValidator.ThrowIfInvalid(options)).Setting);
    }

    [Fact]
    public void Listening_needs_tls_or_insecure_on_top_of_valid_settings()
    {
        var options = new HostServerOptions { DatabasePath = "host.db", KeyVaultPath = "keys" };
        HostServerOptionsValidator.ThrowIfInvalid(options);
        Assert.Equal("Host:Tls:CertificatePath", Assert.Throws<ConfigurationException>(() => HostServerOptionsValidator.ThrowIfCannotListen(options)).Setting);
        options.Insecure = true;
        HostServerOptionsValidator.ThrowIfCannotListen(options);
    }

    private static ServiceProvider Build(Action<HostServerOptions> configure)
    {
        var services = new ServiceCollection();
        services.AddValidatedOptionsOnce<HostServerOptions, HostServerOptionsValidator>()!.Configure(o =>
        {
            o.DatabasePath = "host.db";
            o.KeyVaultPath = "host-keys";
            configure(o);
        });
        return services.BuildServiceProvider();
    }
}
