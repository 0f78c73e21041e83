using CardlessAtm.Qr.Payload;
using CardlessAtm.Security;
using IsoMessageMac = CardlessAtm.Iso8583.Mac.IMessageMac;

namespace CardlessAtm.Network;

/// <summary>
/// An ATM's session MAC key in the two shapes the network needs: the ISO 8583 message MAC (field 64/128)
/// and the QR session payload's MAC. The terminal and the host hold the same key (delivered by the 0800
/// key change), so each verifies what the other made. Which algorithm runs is the security profile's business.
/// </summary>
public sealed class SessionMacKey : IDisposable
{
    private readonly IMessageMac _mac;

    /// <summary>Wraps a profile's MAC over the session key. Takes ownership of <paramref name="mac"/>.</summary>
    public SessionMacKey(IMessageMac mac)
    {
        ArgumentNullException.ThrowIfNull(mac);
        _mac = mac;
        Iso = new IsoAdapter(mac);
        Qr = new QrAdapter(mac);
    }

    /// <summary>The MAC for ISO 8583 messages (use with <c>MessageMac.Apply</c>/<c>Verify</c>).</summary>
    public IsoMessageMac Iso { get; }

    /// <summary>The MAC for QR session payloads.</summary>
    public IQrPayloadMac Qr { get; }

    /// <summary>Creates the key's MAC for a profile.</summary>
    public static SessionMacKey Create(ISecurityProfile profile, SecretKey sessionMacKey)
    {
        ArgumentNullException.ThrowIfNull(profile);
        return new SessionMacKey(profile.CreateMessageMac(sessionMacKey));
    }

    /// <inheritdoc />
    public void Dispose() => _mac.Dispose();

    /// <inheritdoc />
    public override string ToString() => "Session MAC key";

    private sealed class IsoAdapter(IMessageMac mac) : IsoMessageMac
    {
        public void ComputeMac(ReadOnlySpan<byte> data, Span<byte> result) => mac.Compute(data, result);
    }

    private sealed class QrAdapter(IMessageMac mac) : IQrPayloadMac
    {
        public void Compute(ReadOnlySpan<byte> canonicalForm, Span<byte> tag) => mac.Compute(canonicalForm, tag);

        public bool Verify(ReadOnlySpan<byte> canonicalForm, ReadOnlySpan<byte> tag) => mac.Verify(canonicalForm, tag);
    }
}
