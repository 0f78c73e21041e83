using System.Collections.Concurrent;
using CardlessAtm.Host.Storage;
using CardlessAtm.Network;
using CardlessAtm.Qr.Payload;
using CardlessAtm.Security;
using IsoMac = CardlessAtm.Iso8583.Mac.IMessageMac;

namespace CardlessAtm.Host.Keys;

/// <summary>One ATM's current session MAC key, ready for the ISO codec and the QR payload check.</summary>
internal sealed class AtmSessionKeys : IDisposable
{
    private readonly SecretKey _macKey;
    private readonly SessionMacKey _mac;

    public AtmSessionKeys(int version, SecretKey macKey, ISecurityProfile profile)
    {
        Version = version;
        _macKey = macKey;
        _mac = SessionMacKey.Create(profile, macKey);
    }

    public int Version { get; }

    public IsoMac IsoMac => _mac.Iso;

    public IQrPayloadMac QrMac => _mac.Qr;

    public void Dispose()
    {
        _mac.Dispose();
        _macKey.Dispose();
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
