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
        services.AddQrSessionTerminal(configuration, Fixtures.Atm);
        return services.BuildServiceProvider();
    }

    [Fact]
    public async Task The_terminal_issues_and_verifies_with_the_configured_lifetime()
    {
        using var provider = Build(new() { ["QrSession:Lifetime"] = "00:01:30", ["QrSession:ClockSkew"] = "00:00:00" });
        var issued = provider.GetRequiredService<QrSessionIssuer>().Issue(Money.Of(2000, "USD"));
        Assert.Equal(Fixtures.Start.AddSeconds(90), issued.ExpiresAt);

        var verifier = provider.GetRequiredService<QrSessionVerifier>();
        Assert.True((await verifier.VerifyAndConsumeAsync(issued.Text, Fixtures.Atm, CancellationToken.None)).IsAccepted);
        Assert.Equal(QrPayloadRejectionReason.Replayed, (await verifier.VerifyAndConsumeAsync(issued.Text, Fixtures.Atm, CancellationToken.None)).Rejection!.Reason);
        Assert.IsType<InMemorySessionNonceRegistry>(provider.GetRequiredService<ISessionNonceRegistry>());
    }

    [Fact]
    public void A_bad_setting_is_refused_naming_it()
    {
        using var provider = Build(new() { ["QrSession:MaxLifetime"] = "02:00:00" });
        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<QrSessionOptions>>().Value);
        Assert.Contains("QrSession:MaxLifetime", error.Message);
    }
}
