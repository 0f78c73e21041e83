using CardlessAtm.Qr.Payload;
using CardlessAtm.Qr.Sessions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CardlessAtm.Qr.Tests;

public class RegistrationTests
{
    private static ServiceProvider Build(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(Fixtures.Clock());
        services.AddSingleton<IQrPayloadMac>(new HmacSha256TruncatedMac(Fixtures.TestKey));
        services.AddQrSessionOptions(configuration);
        return services.BuildServiceProvider();
    }

    [Fact]
    public void The_configured_lifetime_and_skew_are_bound_from_the_QrSession_section()
    {
        using var provider = Build(new() { ["QrSession:Lifetime"] = "00:01:30", ["QrSession:ClockSkew"] = "00:00:00" });
        var options = provider.GetRequiredService<IOptions<QrSessionOptions>>().Value;
        var issued = new QrSessionIssuer(Fixtures.Atm, provider.GetRequiredService<IQrPayloadMac>(), provider.GetRequiredService<TimeProvider>(), options).Issue(Money.Of(2000, "USD"));
        Assert.Equal(Fixtures.Start.AddSeconds(90), issued.ExpiresAt);
        Assert.Equal(TimeSpan.Zero, options.ClockSkew);
    }

    [Fact]
    public void A_bad_setting_is_refused_naming_it()
    {
        using var provider = Build(new() { ["QrSession:MaxLifetime"] = "02:00:00" });
        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<QrSessionOptions>>().Value);
        Assert.Contains("QrSession:MaxLifetime", error.Message);
    }

    [Fact]
    public void An_out_of_range_setting_is_one_failure_that_starts_with_the_setting_and_carries_no_parameter_text()
    {
        using var provider = Build(new() { ["QrSession:Lifetime"] = "00:00:01" });
        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate());
        Assert.Equal("QrSession:Lifetime: QrSession:Lifetime must be between 00:00:05 and 01:00:00, got 00:00:01.", Assert.Single(error.Failures));
    }

    [Fact]
    public void A_second_registration_adds_no_second_validator()
    {
        var configuration = new ConfigurationBuilder().Build();
        var services = new ServiceCollection().AddQrSessionOptions(configuration);
        var count = services.Count;
        services.AddQrSessionOptions(configuration);
        Assert.Equal(count, services.Count);
    }
}
