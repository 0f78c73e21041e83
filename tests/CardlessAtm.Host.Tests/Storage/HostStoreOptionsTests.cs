using CardlessAtm.Host.Server;
using CardlessAtm.Host.Storage;

namespace CardlessAtm.Host.Tests.Storage;

public sealed class HostStoreOptionsTests
{
    [Theory]
    [InlineData(null, HostStoreKind.Sqlite)]
    [InlineData("", HostStoreKind.Sqlite)]
    [InlineData("sqlite", HostStoreKind.Sqlite)]
    [InlineData("Postgres", HostStoreKind.Postgres)]
    [InlineData("PostgreSQL", HostStoreKind.Postgres)]
    public void The_kind_parses_case_insensitively_and_defaults_to_sqlite(string? text, HostStoreKind expected) =>
        Assert.Equal(expected, HostStoreOptions.ParseKind(text));

    [Fact]
    public void An_unknown_kind_names_Host_Store_Kind()
    {
        var ex = Assert.Throws<ConfigurationException>(() => HostStoreOptions.ParseKind("Oracle"));
        Assert.Equal("Host:Store:Kind", ex.Setting);
        Assert.Contains("Sqlite or Postgres", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Postgres_without_a_connection_string_stops_the_host_naming_the_setting()
    {
        var options = new HostServerOptions { Store = new HostStoreOptions { Kind = HostStoreKind.Postgres } };
        var ex = await Assert.ThrowsAsync<ConfigurationException>(() => HostServer.OpenAsync(options));
        Assert.Equal("Host:Store:ConnectionString", ex.Setting);
    }
}
