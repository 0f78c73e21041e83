using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CardlessAtm.Terminal.Tests;

/// <summary>The <c>Terminal</c> section bound with <c>AddTerminalOptions</c> and checked when the host starts.</summary>
public class TerminalOptionsRegistrationTests
{
    [Fact]
    public void A_bad_terminal_setting_stops_start_up_with_one_failure_naming_it()
    {
        using var services = Build(new() { ["Terminal:AtmId"] = "atm-1" });
        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IStartupValidator>().Validate());
        Assert.Equal(typeof(TerminalOptions), error.OptionsType);
        Assert.Equal("Terminal:AtmId: 'atm-1' is not an ATM id (8 characters, A–Z and 0–9)", Assert.Single(error.Failures));
    }

    [Fact]
    public void The_bound_options_are_the_configured_ones()
    {
        using var services = Build(new() { ["Terminal:AtmId"] = "ATM00042", ["Terminal:ReversalMaxAttempts"] = "7" });
        services.GetRequiredService<IStartupValidator>().Validate();
        var options = services.GetRequiredService<IOptions<TerminalOptions>>().Value;
        Assert.Equal("ATM00042", options.AtmId);
        Assert.Equal(7, options.ReversalMaxAttempts);
    }

    [Fact]
    public void A_second_registration_adds_no_second_validator_or_binding()
    {
        var configuration = Configuration(new() { ["Terminal:ReversalMaxAttempts"] = "7" });
        var services = new ServiceCollection().AddTerminalOptions(configuration);
        var count = services.Count;
        services.AddTerminalOptions(configuration);
        Assert.Equal(count, services.Count);
        Assert.Single(services, d => d.ServiceType == typeof(IValidateOptions<TerminalOptions>));
    }

    private static ServiceProvider Build(Dictionary<string, string?> settings)
    {
        var valid = new Dictionary<string, string?>
        {
            ["Terminal:AtmId"] = "ATM00001",
            ["Terminal:Host:Port"] = "8583",
            ["Terminal:Host:Insecure"] = "true",
            ["Terminal:Proxy:Port"] = "8584",
            ["Terminal:Proxy:Insecure"] = "true",
            ["Terminal:KeyStore"] = "/var/lib/cardless-atm/keys",
            ["Terminal:DataDirectory"] = "/var/lib/cardless-atm",
        };
        foreach (var (key, value) in settings)
        {
            valid[key] = value;
        }

        return new ServiceCollection().AddTerminalOptions(Configuration(valid)).BuildServiceProvider();
    }

    private static IConfiguration Configuration(Dictionary<string, string?> settings) => new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
}
