using CardlessAtm.Host.Server;
using CardlessAtm.Host.Storage;
using Microsoft.Extensions.Configuration;
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

    [Fact]
    public void AddHostServerOptions_binds_the_Host_section_once_and_checks_it_on_start()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Host:Port"] = "70000",
            ["Host:Address"] = "0.0.0.0",
            ["Security:Profile"] = "Legacy3Des",
        }).Build();
        var services = new ServiceCollection().AddHostServerOptions(configuration);
        var count = services.Count;
        services.AddHostServerOptions(configuration);
        Assert.Equal(count, services.Count);

        using var provider = services.BuildServiceProvider();
        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate());
        Assert.Equal("Host:Port: 70000 is not a port number (0-65535)", Assert.Single(error.Failures));

        configuration["Host:Port"] = "8000";
        using var good = new ServiceCollection().AddHostServerOptions(configuration).BuildServiceProvider();
        good.GetRequiredService<IStartupValidator>().Validate();
        var options = good.GetRequiredService<IOptions<HostServerOptions>>().Value;
        Assert.Equal((8000, System.Net.IPAddress.Any, CardlessAtm.Security.SecurityProfileKind.Legacy3Des), (options.Port, options.Address, options.Profile));
    }

    [Theory]
    [InlineData("Host:Port", "abc", "Configuration error in Host:Port: 'abc' is not a port number (0-65535).")]
    [InlineData("Host:Store:Kind", "Oracle", "Configuration error in Host:Store:Kind: 'Oracle' is not a store kind; use Sqlite or Postgres.")]
    [InlineData("Host:Address", "host-a", "Configuration error in Host:Address: 'host-a' is not an IP address (e.g. 127.0.0.1, 0.0.0.0, ::).")]
    public void A_value_the_binder_cannot_convert_is_one_configuration_error_naming_the_setting(string setting, string value, string message)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [setting] = value }).Build();

        var error = Assert.Throws<ConfigurationException>(() => HostServiceCollectionExtensions.Bind(configuration, new HostServerOptions()));

        Assert.Equal((setting, message), (error.Setting, error.Message));
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
