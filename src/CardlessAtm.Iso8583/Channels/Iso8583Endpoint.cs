using System.Net.Security;

namespace CardlessAtm.Iso8583.Channels;

/// <summary>
/// One peer an <see cref="Iso8583Client"/> may dial: address, port and the TLS options for this peer (its server name and
/// pin checks apply to this endpoint only). Null <paramref name="Tls"/>: plain TCP.
/// </summary>
/// <param name="Host">The host name or address to dial.</param>
/// <param name="Port">The TCP port.</param>
/// <param name="Tls">When set, the connection runs over TLS with these options.</param>
public sealed record Iso8583Endpoint(string Host, int Port, SslClientAuthenticationOptions? Tls = null)
{
    /// <summary>Address and port, as logs show the endpoint (never the TLS settings).</summary>
    public override string ToString() => $"{Host}:{Port}";
}
