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
}
