using System.Collections.Concurrent;
using CardlessAtm.Host.Storage;
using CardlessAtm.Qr.Payload;
using CardlessAtm.Security;
using IsoMac = CardlessAtm.Iso8583.Mac.IMessageMac;

namespace CardlessAtm.Host.Keys;

/// <summary>One ATM's current session MAC key, ready for the ISO codec and the QR payload check.</summary>
internal sealed class AtmSessionKeys : IDisposable
{
    private readonly SecretKey _macKey;

    public AtmSessionKeys(int version, SecretKey macKey, ISecurityProfile profile)
    {
        Version = version;
        _macKey = macKey;
        Mac = profile.CreateMessageMac(macKey);
        IsoMac = new IsoMacAdapter(Mac);
        QrMac = new QrMacAdapter(Mac);
    }

    public int Version { get; }

    public IMessageMac Mac { get; }

    public IsoMac IsoMac { get; }

    public IQrPayloadMac QrMac { get; }

    public void Dispose()
    {
        Mac.Dispose();
        _macKey.Dispose();
    }

    private sealed class IsoMacAdapter(IMessageMac mac) : IsoMac
    {
        public void ComputeMac(ReadOnlySpan<byte> data, Span<byte> result) => mac.Compute(data, result);
    }

    private sealed class QrMacAdapter(IMessageMac mac) : IQrPayloadMac
    {
        public void Compute(ReadOnlySpan<byte> canonicalForm, Span<byte> tag) => mac.Compute(canonicalForm, tag);

        public bool Verify(ReadOnlySpan<byte> canonicalForm, ReadOnlySpan<byte> tag) => mac.Verify(canonicalForm, tag);
    }
}

/// <summary>
/// Keys the host uses per request, loaded from the vault once and kept until they change: each
/// ATM's session MAC key (by version) and the phones' base derivation keys.
/// </summary>
internal sealed class HostKeyring(FileKeyStore vault, ISecurityProfile profile) : IDisposable
{
    private readonly ConcurrentDictionary<string, AtmSessionKeys> _atms = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SecretKey> _bdks = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    public ISecurityProfile Profile => profile;

    public FileKeyStore Vault => vault;

    /// <summary>The ATM's current session keys, or null before its first key change.</summary>
    public AtmSessionKeys? SessionKeysFor(AtmRecord atm)
    {
        if (atm.SessionKeyRef is null)
        {
            return null;
        }

        if (_atms.TryGetValue(atm.AtmId, out var cached) && cached.Version == atm.SessionKeyVersion)
        {
            return cached;
        }

        lock (_gate)
        {
            if (_atms.TryGetValue(atm.AtmId, out cached) && cached.Version == atm.SessionKeyVersion)
            {
                return cached;
            }

            var fresh = new AtmSessionKeys(atm.SessionKeyVersion, vault.LoadKey(atm.SessionKeyRef), profile);

            // The replaced key set may still be in use by a request in flight; it is left to the GC
            // rather than disposed under it.
            _atms[atm.AtmId] = fresh;
            return fresh;
        }
    }

    /// <summary>A base derivation key by vault reference (kept for the life of the keyring).</summary>
    public SecretKey BaseDerivationKey(string bdkRef) => _bdks.GetOrAdd(bdkRef, vault.LoadKey);

    public void Dispose()
    {
        foreach (var keys in _atms.Values)
        {
            keys.Dispose();
        }

        foreach (var key in _bdks.Values)
        {
            key.Dispose();
        }

        _atms.Clear();
        _bdks.Clear();
    }
}
