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
/// ATM's session MAC keys (by vault reference, so the current and the previous version can both be
/// held) and the phones' base derivation keys.
/// </summary>
internal sealed class HostKeyring(IKeyVault vault, ISecurityProfile profile) : IDisposable
{
    private readonly ConcurrentDictionary<string, AtmSessionKeys> _sessionKeys = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SecretKey> _bdks = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    public ISecurityProfile Profile => profile;

    public IKeyVault Vault => vault;

    /// <summary>The ATM's current session keys, or null before its first key change.</summary>
    public AtmSessionKeys? SessionKeysFor(AtmRecord atm) =>
        atm.SessionKeyRef is null ? null : Load(atm.SessionKeyRef, atm.SessionKeyVersion);

    /// <summary>A replaced key version's session keys (see <see cref="PreviousSessionKey"/>), or null when pruned or unreadable.</summary>
    public AtmSessionKeys? PreviousKeys(PreviousSessionKey key)
    {
        try
        {
            return Load(key.KeyRef, key.Version);
        }
        catch (SecurityException)
        {
            return null; // pruned or unreadable: that version is simply no longer accepted
        }
    }

    /// <summary>The MAC of the ATM's sign-on and key change, under the key derived from its terminal master key. The caller disposes it.</summary>
    public SessionMacKey KeyChangeMacFor(AtmRecord atm)
    {
        using var masterKey = vault.LoadKey(atm.MasterKeyRef);
        using var derived = profile.DeriveKeyChangeMacKey(masterKey, atm.AtmId);
        return SessionMacKey.Create(profile, derived);
    }

    /// <summary>Drops a pruned key set from the cache (requests in flight keep their reference; the GC collects it).</summary>
    public void Forget(string reference) => _sessionKeys.TryRemove(reference, out _);

    private AtmSessionKeys Load(string reference, int version)
    {
        if (_sessionKeys.TryGetValue(reference, out var cached))
        {
            return cached;
        }

        lock (_gate)
        {
            if (_sessionKeys.TryGetValue(reference, out cached))
            {
                return cached;
            }

            var fresh = new AtmSessionKeys(version, vault.LoadKey(reference), profile);
            _sessionKeys[reference] = fresh;
            return fresh;
        }
    }

    /// <summary>A base derivation key by vault reference (kept for the life of the keyring).</summary>
    public SecretKey BaseDerivationKey(string bdkRef) => _bdks.GetOrAdd(bdkRef, vault.LoadKey);

    public void Dispose()
    {
        foreach (var keys in _sessionKeys.Values)
        {
            keys.Dispose();
        }

        foreach (var key in _bdks.Values)
        {
            key.Dispose();
        }

        _sessionKeys.Clear();
        _bdks.Clear();
    }
}
