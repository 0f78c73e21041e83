using CardlessAtm.Iso8583.Channels;

namespace CardlessAtm.Terminal;

/// <summary>
/// A further peer of a link (<c>Terminal:Host:Failover:N</c>, <c>Terminal:Proxy:Failover:N</c>): the terminal dials it when
/// the one before it in the list fails. It shares the link's TLS settings (<c>…:Tls</c>: the same pin and client certificate;
/// the TLS server name is this endpoint's <see cref="Address"/> unless <c>…:Tls:TargetHost</c> is set).
/// </summary>
public sealed class FailoverEndpointOptions
{
    /// <summary>Host name or IP address.</summary>
    public string Address { get; set; } = string.Empty;

    /// <summary>TCP port.</summary>
    public int Port { get; set; }

    /// <inheritdoc />
    public override string ToString() => $"{Address}:{Port}";
}

/// <summary>The failover list of a link: the peers tried after <see cref="Address"/>:<see cref="Port"/>.</summary>
public sealed partial class EndpointOptions
{
    /// <summary>
    /// <c>…:Failover:0:Address</c>, <c>…:Failover:0:Port</c>, …: further peers, tried in order when the current one fails
    /// (connect refused or timed out, sign-on refused, or the link dropped), round-robin back to <see cref="Address"/>.
    /// Empty (default): only <see cref="Address"/>:<see cref="Port"/>.
    /// </summary>
    public List<FailoverEndpointOptions> Failover { get; set; } = [];

    /// <summary>Checks every failover entry; the error names the entry's setting, e.g. <c>Terminal:Host:Failover:1:Port</c>.</summary>
    /// <param name="section">This link's configuration path, e.g. <c>Terminal:Host</c>.</param>
    /// <exception cref="ConfigurationException">An entry is missing its address or has a port outside 1–65535.</exception>
    public void ValidateFailover(string section)
    {
        if (Failover is null)
        {
            throw new ConfigurationException($"{section}:{nameof(Failover)}", "must be a list (leave it out for none)");
        }

        for (var i = 0; i < Failover.Count; i++)
        {
            var entry = $"{section}:{nameof(Failover)}:{i}";
            var endpoint = Failover[i] ?? throw new ConfigurationException(entry, "is empty: give an Address and a Port");
            if (string.IsNullOrWhiteSpace(endpoint.Address))
            {
                throw new ConfigurationException($"{entry}:{nameof(FailoverEndpointOptions.Address)}", "must name the host name or IP address of this endpoint");
            }

            if (endpoint.Port is <= 0 or > 65535)
            {
                throw new ConfigurationException($"{entry}:{nameof(FailoverEndpointOptions.Port)}", $"must be between 1 and 65535 (got {endpoint.Port})");
            }
        }
    }

    /// <summary>
    /// The failover peers as channel endpoints, each with its own TLS client options from <see cref="Tls"/> (so the server
    /// name checked is the endpoint's own address unless <c>TargetHost</c> is set).
    /// </summary>
    /// <param name="tlsSection">The configuration path of <see cref="Tls"/>, for errors.</param>
    public IReadOnlyList<Iso8583Endpoint> FailoverChannelEndpoints(string tlsSection) =>
        [.. Failover.Select(e => new Iso8583Endpoint(e.Address, e.Port, Tls.CreateClientOptions(e.Address, tlsSection)))];
}
