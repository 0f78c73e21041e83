using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Mac;
using CardlessAtm.Network;
using CardlessAtm.Security;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Terminal.Links;

/// <summary>What one sign-on and key change brought: the messages exchanged and the fresh session key.</summary>
/// <param name="SignOn">The authentic 0800/001 as sent (what a tap on the link would record).</param>
/// <param name="KeyChangeAnswer">The host's 0810/101, its MAC verified.</param>
/// <param name="Nonce">The fresh nonce the key change carried, which the answer's keys are bound to.</param>
/// <param name="SessionKey">The new session MAC key, opened and checked against its KCV; the caller owns (disposes) it.</param>
/// <param name="KeyVersion">The host's version of the new keys (above the one held before).</param>
/// <param name="MacKeyCheckValue">The KCV of the new MAC key (not secret), for the log.</param>
public sealed record HostSignOnResult(IsoMessage SignOn, IsoMessage KeyChangeAnswer, byte[] Nonce, SessionMacKey SessionKey, int KeyVersion, string MacKeyCheckValue);

/// <summary>
/// The ATM side of sign-on (0800/001) and the authenticated key change (0800/101), both MACed under the key derived
/// from the terminal master key (docs/protocol/iso8583.md §2.7). Keys come only from an 0810 whose MAC verifies under
/// that key, that carries this request's fresh nonce and a key version above the current one; anything else is a
/// security event and no key is returned. <see cref="HostLink"/> runs it on each connection; the host's tests run the
/// very same code as their ATM.
/// </summary>
public sealed class HostSignOn : IDisposable
{
    private readonly ISecurityProfile _profile;
    private readonly SecretKey _masterKey;
    private readonly string _atmId;
    private readonly ILogger _logger;
    private readonly SessionMacKey _keyChangeMac;

    /// <summary>Derives the key-change MAC key of <paramref name="atmId"/>. <paramref name="masterKey"/> stays the caller's.</summary>
    public HostSignOn(ISecurityProfile profile, SecretKey masterKey, string atmId, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(masterKey);
        ArgumentNullException.ThrowIfNull(atmId);
        ArgumentNullException.ThrowIfNull(logger);
        _profile = profile;
        _masterKey = masterKey;
        _atmId = atmId;
        _logger = logger;
        using var derived = profile.DeriveKeyChangeMacKey(masterKey, atmId);
        _keyChangeMac = SessionMacKey.Create(profile, derived);
    }

    /// <summary>The MAC of sign-on, sign-off before keys, and key change (under the key derived from the TMK).</summary>
    public Iso8583.Mac.IMessageMac KeyChangeMac => _keyChangeMac.Iso;

    /// <summary>Signs on and obtains fresh session keys.</summary>
    /// <param name="newRequest">Builds an 0800 with the fields every request of this terminal carries (7, 11, 41, …).</param>
    /// <param name="send">Sends a request and returns its answer.</param>
    /// <param name="currentKeyVersion">The version of the keys held now (0 before any): the answer must carry a higher one.</param>
    /// <param name="cancellationToken">Cancels the exchange.</param>
    /// <exception cref="InvalidOperationException">The host refused, or an answer is not authentic; no key is returned.</exception>
    public async Task<HostSignOnResult> RunAsync(
        Func<string, IsoMessage> newRequest,
        Func<IsoMessage, CancellationToken, Task<IsoMessage>> send,
        int currentKeyVersion,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(newRequest);
        ArgumentNullException.ThrowIfNull(send);
        var signOn = newRequest(Mti.NetworkManagementRequest);
        signOn.NetworkManagementCode = NetworkManagementCodes.SignOn;
        MessageMac.Apply(signOn, _keyChangeMac.Iso);
        var answer = await send(signOn, cancellationToken);
        if (answer.ResponseCode != ResponseCodes.Approved)
        {
            throw new InvalidOperationException($"The host refused sign-on of {_atmId}: {answer.ResponseCode} ({ResponseCodes.Describe(answer.ResponseCode)}).");
        }

        if (MessageMac.Verify(answer, _keyChangeMac.Iso) != MacCheckResult.Valid)
        {
            _logger.LogError("Security event: the sign-on answer for {AtmId} failed its MAC check: not signed on", _atmId);
            throw new InvalidOperationException($"The host's sign-on answer for {_atmId} is not authentic (MAC).");
        }

        var nonce = KeyChangeRequestData.CreateNonce();
        var keyChange = newRequest(Mti.NetworkManagementRequest);
        keyChange.NetworkManagementCode = NetworkManagementCodes.KeyChange;
        keyChange.KeyChangeData = KeyChangeRequestData.Encode(nonce);
        MessageMac.Apply(keyChange, _keyChangeMac.Iso);
        var keys = await send(keyChange, cancellationToken);
        if (keys.ResponseCode != ResponseCodes.Approved || keys.KeyChangeData is not { } data)
        {
            throw new InvalidOperationException($"The host refused the key change for {_atmId}: {keys.ResponseCode} ({ResponseCodes.Describe(keys.ResponseCode)}).");
        }

        var mac = MessageMac.Verify(keys, _keyChangeMac.Iso);
        if (mac != MacCheckResult.Valid)
        {
            _logger.LogError("Security event: key-change answer for {AtmId} failed its MAC check ({Mac}): no key installed", _atmId, mac);
            throw new InvalidOperationException($"The key-change answer for {_atmId} is not authentic (MAC {mac}); the session keys are unchanged.");
        }

        OpenedKeyChange opened;
        try
        {
            // Checks the nonce and the version before unwrapping, then every key against its KCV.
            opened = _profile.OpenKeyChangeData(_masterKey, data, nonce, currentKeyVersion);
        }
        catch (SecurityException ex)
        {
            _logger.LogError("Security event: key-change answer for {AtmId} refused ({Failure}): no key installed", _atmId, ex.Failure);
            throw new InvalidOperationException($"The key-change answer for {_atmId} was refused ({ex.Failure}); the session keys are unchanged.", ex);
        }

        using (opened)
        {
            return new HostSignOnResult(signOn, keys, nonce, SessionMacKey.Create(_profile, opened.Keys.MacKey), opened.KeyVersion, opened.Keys.MacKey.CheckValue.ToString());
        }
    }

    /// <inheritdoc />
    public void Dispose() => _keyChangeMac.Dispose();
}
