using CardlessAtm.Host.Server;
using CardlessAtm.Host.Storage;
using Microsoft.Extensions.Configuration;

namespace CardlessAtm.Cli.Tests;

/// <summary><c>Host:Store:*</c> (docs/scale-out.md): the host's bound settings carry the engine and its connection string.</summary>
public sealed class HostStoreSettingsTests
{
    [Fact]
    public void Without_settings_the_ledger_stays_on_sqlite()
    {
        var store = ReadStore(Configuration(new()));

        Assert.Equal((HostStoreKind.Sqlite, (string?)null), (store.Kind, store.ConnectionString));
    }

    [Fact]
    public void Postgres_and_its_connection_string_are_bound()
    {
        var store = ReadStore(Configuration(new()
        {
            ["Host:Store:Kind"] = "Postgres",
            ["Host:Store:ConnectionString"] = "Host=db1;Database=ledger",
        }));

        Assert.Equal((HostStoreKind.Postgres, "Host=db1;Database=ledger"), (store.Kind, store.ConnectionString));
    }

    [Theory]
    [InlineData("Oracle", null, "Host:Store:Kind")]
    [InlineData("Postgres", null, "Host:Store:ConnectionString")]
    [InlineData("Postgres", " ", "Host:Store:ConnectionString")]
    public void A_bad_combination_is_a_configuration_error_naming_the_setting(string kind, string? connectionString, string setting)
    {
        var error = Assert.Throws<ConfigurationException>(() => ReadStore(Configuration(new()
        {
            ["Host:Store:Kind"] = kind,
            ["Host:Store:ConnectionString"] = connectionString,
        })));

        Assert.Equal(setting, error.Setting);
    }

    /// <summary>The store as every host command binds it (<see cref="HostServiceCollectionExtensions.Bind"/>), with its check.</summary>
    private static HostStoreOptions ReadStore(IConfiguration configuration)
    {
        var store = HostServiceCollectionExtensions.Bind(configuration, new HostServerOptions()).Store;
        HostServerOptionsValidator.CheckStore(store);
        return store;
    }

    private static IConfiguration Configuration(Dictionary<string, string?> values) => new ConfigurationBuilder().AddInMemoryCollection(values).Build();
}
