using CardlessAtm.Host.Authorisation;
using CardlessAtm.Host.Server;
using Microsoft.Extensions.Configuration;

namespace CardlessAtm.Cli.Tests;

/// <summary><c>Host:Policy:*</c> is documented (key grace, refusal audit interval, limits): 'host run' must read it, not ignore it.</summary>
public sealed class HostPolicySettingsTests
{
    [Fact]
    public void Documented_policy_settings_are_bound()
    {
        var policy = ReadPolicy(Configuration(new()
        {
            ["Host:Policy:PreviousKeyGrace"] = "00:00:00",
            ["Host:Policy:RefusalAuditInterval"] = "00:05:00",
            ["Host:Policy:MaxPinTries"] = "5",
        }));

        Assert.Equal(TimeSpan.Zero, policy.PreviousKeyGrace);
        Assert.Equal(TimeSpan.FromMinutes(5), policy.RefusalAuditInterval);
        Assert.Equal(5, policy.MaxPinTries);
    }

    [Fact]
    public void Without_settings_the_defaults_stay()
    {
        var policy = ReadPolicy(Configuration(new()));

        Assert.Equal(TimeSpan.FromMinutes(2), policy.PreviousKeyGrace);
        Assert.Equal(3, policy.MaxPinTries);
    }

    [Theory]
    [InlineData("Host:Policy:MaxPinTries", "0")]
    [InlineData("Host:Policy:PreviousKeyGrace", "02:00:00")]
    public void An_out_of_range_value_is_a_configuration_error_naming_the_setting(string setting, string value)
    {
        var error = Assert.Throws<ConfigurationException>(() => ReadPolicy(Configuration(new() { [setting] = value })));

        Assert.Equal(setting, error.Setting);
        Assert.DoesNotContain("(Parameter", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_policy_validator_names_the_full_setting_first_and_the_exception_texts_stay_the_policys()
    {
        var failure = new HostPolicyValidator().Validate(null, new HostPolicy { MaxPinTries = 0 });
        Assert.Equal("Host:Policy:MaxPinTries: Host:MaxPinTries must be 1..9.", Assert.Single(failure.Failures!));

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new HostPolicy { MaxPinTries = 0 }.Validate());
        Assert.Equal(("MaxPinTries", (object?)0), (error.ParamName, error.ActualValue));
        Assert.StartsWith("Host:MaxPinTries must be 1..9.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_malformed_value_is_a_configuration_error()
    {
        Assert.Throws<ConfigurationException>(() => ReadPolicy(Configuration(new() { ["Host:Policy:PreviousKeyGrace"] = "two minutes" })));
    }

    /// <summary>The policy as every host command binds it (<see cref="HostServiceCollectionExtensions.Bind"/>), with its check.</summary>
    private static HostPolicy ReadPolicy(IConfiguration configuration)
    {
        var policy = HostServiceCollectionExtensions.Bind(configuration, new HostServerOptions()).Policy;
        HostPolicyValidator.ThrowIfInvalid(policy);
        return policy;
    }

    private static IConfiguration Configuration(Dictionary<string, string?> values) => new ConfigurationBuilder().AddInMemoryCollection(values).Build();
}
