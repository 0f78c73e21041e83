using System.CommandLine;
using System.Net;
using CardlessAtm.Cli.Commands;
using CardlessAtm.Host.Server;
using CardlessAtm.Host.Storage;
using CardlessAtm.Security;

namespace CardlessAtm.Cli.Tests;

/// <summary>
/// The <c>host</c> commands bind <see cref="HostServerOptions"/> from configuration like every role (registered with
/// <c>AddValidatedOptionsOnce</c>): <c>--db</c>, <c>--keys</c> and <c>--profile</c> are the top configuration layer, and a
/// bad value anywhere is one line naming the setting, exit 2.
/// </summary>
public sealed class HostSettingsTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("cardless-atm-host-settings-");

    public void Dispose() => _directory.Delete(recursive: true);

    [Fact]
    public void The_command_line_options_override_the_configuration_file_and_set()
    {
        var config = Config("""{ "Host": { "DatabasePath": "from-file.db", "KeyVaultPath": "from-file-keys", "Port": "9000" }, "Security": { "Profile": "Aes" } }""");
        var database = Path.Combine(_directory.FullName, "flag.db");
        var keys = Path.Combine(_directory.FullName, "flag-keys");

        var options = HostCommand.ReadOptions(Parse(
            "host", "status", "--config", config, "--set", "Host:DatabasePath=from-set.db", "--db", database, "--keys", keys, "--profile", "Legacy3Des"));

        Assert.Equal((database, keys, SecurityProfileKind.Legacy3Des), (options.DatabasePath, options.KeyVaultPath, options.Profile));
        Assert.Equal(9000, options.Port); // no flag: the file's value stays
    }

    [Fact]
    public void Without_options_the_configuration_is_bound_with_the_values_the_binder_cannot_parse()
    {
        var config = Config("""
            { "Host": { "DatabasePath": "ledger.db", "Address": "0.0.0.0", "Insecure": "true", "MaxConnections": "10", "MaxConnectionsBeforeSignOn": "5",
                        "MaxConnectionsPerAddress": "2", "IdleTimeout": "00:02:00", "Store": { "Kind": "PostgreSQL", "ConnectionString": "Host=db" },
                        "Keys": { "KekPath": "/etc/cardless/kek.key" }, "Policy": { "MaxPinTries": "5" }, "Tls": { "CertificatePath": "host.pem", "PrivateKeyPath": "host-key.pem" } } }
            """);

        var options = HostCommand.ReadOptions(Parse("host", "status", "--config", config));

        Assert.Equal("ledger.db", options.DatabasePath);
        Assert.Equal(IPAddress.Any, options.Address);
        Assert.True(options.Insecure);
        Assert.Equal((10, 5, 2), (options.MaxConnections, options.MaxConnectionsBeforeSignOn, options.MaxConnectionsPerAddress));
        Assert.Equal(TimeSpan.FromMinutes(2), options.IdleTimeout);
        Assert.Equal((HostStoreKind.Postgres, "Host=db", "/etc/cardless/kek.key"), (options.Store.Kind, options.Store.ConnectionString, options.Keys.KekPath));
        Assert.Equal(5, options.Policy.MaxPinTries);
        Assert.Equal(("host.pem", "host-key.pem"), (options.Tls.CertificatePath, options.Tls.PrivateKeyPath));
        Assert.Equal(SecurityProfileKind.Aes, options.Profile);
    }

    /// <summary>As with every role's binder: an empty number, switch or duration is refused (the key-by-key readers took it as unset).</summary>
    [Theory]
    [InlineData("Insecure", "Host:Insecure: '' is not true or false")]
    [InlineData("MaxConnections", "Host:MaxConnections: '' is not a whole number of connections, at least 1")]
    [InlineData("IdleTimeout", "Host:IdleTimeout: '' is not a positive duration")]
    public void An_empty_value_is_refused_naming_the_setting(string key, string line)
    {
        var config = Config($$"""{ "Host": { "{{key}}": "" } }""");

        var error = Assert.Throws<ConfigurationException>(() => HostCommand.ReadOptions(Parse("host", "status", "--config", config)));

        Assert.StartsWith("Configuration error in " + line, CliErrors.Describe(error).Line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Host:Port", "abc", "is not a port number (0-65535)")]
    [InlineData("Host:Port", "70000", "is not a port number (0-65535)")]
    [InlineData("Host:Insecure", "yes", "is not true or false")]
    [InlineData("Host:MaxConnections", "many", "is not a whole number of connections, at least 1")]
    [InlineData("Host:IdleTimeout", "soon", "is not a positive duration hh:mm:ss")]
    [InlineData("Host:SignOnTimeout", "00:00:00", "is not a positive duration hh:mm:ss")]
    [InlineData("Host:Address", "example.org", "is not an IP address")]
    [InlineData("Host:Store:Kind", "Oracle", "is not a store kind; use Sqlite or Postgres")]
    [InlineData("Host:Policy:PreviousKeyGrace", "two minutes", "two minutes")]
    [InlineData("Security:Profile", "Des", "Legacy3Des")]
    public void A_bad_value_in_the_configuration_is_exit_2_and_one_line_naming_the_setting(string setting, string value, string problem)
    {
        var config = Config($$"""{ "{{setting.Split(':')[0]}}": {{Nest(setting.Split(':')[1..], value)}} }""");

        var error = Record.Exception(() => HostCommand.ReadOptions(Parse("host", "status", "--config", config)));

        var (exit, line) = CliErrors.Describe(Assert.IsAssignableFrom<Exception>(error));
        Assert.Equal(2, exit);
        Assert.Single(line.Split('\n'));
        Assert.Contains(setting, line, StringComparison.Ordinal);
        Assert.Contains(value, line, StringComparison.Ordinal);
        Assert.Contains(problem, line, StringComparison.Ordinal);
        Assert.DoesNotContain("Failed to convert", line, StringComparison.Ordinal);
    }

    private static string Nest(string[] keys, string value) =>
        keys.Length == 1 ? $$"""{ "{{keys[0]}}": "{{value}}" }""" : $$"""{ "{{keys[0]}}": {{Nest(keys[1..], value)}} }""";

    private string Config(string json)
    {
        var path = Path.Combine(_directory.FullName, $"settings-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return path;
    }

    private static ParseResult Parse(params string[] args)
    {
        var root = new RootCommand { CliHost.ConfigOption, CliHost.SetOption, CliHost.VerboseOption };
        root.Subcommands.Add(HostCommand.Create());
        var result = root.Parse(args);
        Assert.Empty(result.Errors);
        return result;
    }
}
