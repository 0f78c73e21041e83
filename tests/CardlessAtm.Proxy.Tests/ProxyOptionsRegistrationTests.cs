using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace CardlessAtm.Proxy.Tests;

/// <summary>The <c>Proxy</c> section bound by <c>AddProxy</c> and checked by <see cref="ProxyOptionsValidator"/> when the host starts.</summary>
public class ProxyOptionsRegistrationTests
{
    [Fact]
    public void A_bad_proxy_setting_stops_start_up_with_one_failure_naming_it_before_anything_listens()
    {
        using var services = Build(new() { ["Proxy:MaxUnansweredPerAtm"] = "0" });
        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IStartupValidator>().Validate());
        Assert.Equal(typeof(ProxyOptions), error.OptionsType);
        Assert.Equal("Proxy:MaxUnansweredPerAtm: Proxy:MaxUnansweredPerAtm must be at least 1.", Assert.Single(error.Failures));
    }

    [Fact]
    public void A_bad_listener_address_is_named_by_its_full_setting()
    {
        using var services = Build(new() { ["Proxy:Phone:Address"] = "example.org" });
        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IStartupValidator>().Validate());
        Assert.StartsWith("Proxy:Phone:Address: Proxy:Phone:Address 'example.org' is not an IP address", Assert.Single(error.Failures), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_second_AddProxy_adds_no_second_proxy_validator_or_binding()
    {
        var configuration = Configuration(Valid());
        var services = new ServiceCollection().AddLogging().AddProxy(configuration);
        var count = services.Count;
        services.AddProxy(configuration);
        Assert.Equal(count, services.Count);
        await using var provider = services.BuildServiceProvider();
        Assert.Single(provider.GetServices<IHostedService>());
    }

    private static Dictionary<string, string?> Valid() => new()
    {
        ["Proxy:Atm:Port"] = "0",
        ["Proxy:Atm:Insecure"] = "true",
        ["Proxy:Phone:Port"] = "0",
        ["Proxy:Phone:Insecure"] = "true",
    };

    private static ServiceProvider Build(Dictionary<string, string?> settings)
    {
        var all = Valid();
        foreach (var (key, value) in settings)
        {
            all[key] = value;
        }

        return new ServiceCollection().AddLogging().AddProxy(Configuration(all)).BuildServiceProvider();
    }

    private static IConfiguration Configuration(Dictionary<string, string?> settings) => new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
}
