namespace CardlessAtm.Host.Processing;

/// <summary>
/// What the host knows about one ATM connection: which ATM signed on over it with a valid MAC (0800/001 MACed
/// under the key derived from that ATM's terminal master key). The host serves 0200, 0420 and 0421 only on a
/// connection signed on as the ATM in field 41 (docs/protocol/iso8583.md §2.6). An ATM is signed on over at most one
/// connection: a newer valid sign-on of the same ATM supersedes this one (<see cref="Superseded"/>). One per connection; thread-safe.
/// </summary>
public sealed class HostSession
{
    private string? _atmId;

    /// <summary>A session for a connection from <paramref name="remoteAddress"/> (null: not known, e.g. a direct call).</summary>
    public HostSession(string? remoteAddress = null) => RemoteAddress = remoteAddress;

    /// <summary>The peer's IP address (no port): the key refusals are throttled by in the audit log.</summary>
    public string? RemoteAddress { get; }

    /// <summary>The ATM that signed on over this connection, or null.</summary>
    public string? SignedOnAtmId => Volatile.Read(ref _atmId);

    /// <summary>Whether <paramref name="atmId"/> signed on over this connection (and has not signed off).</summary>
    public bool IsSignedOnAs(string? atmId) => atmId is not null && string.Equals(SignedOnAtmId, atmId, StringComparison.Ordinal);

    /// <summary>
    /// Raised once when a newer sign-on of the same ATM on another connection took over: this session is no longer signed
    /// on, and the listener closes the connection (so it gives its authenticated slot back).
    /// </summary>
    public event Action? Superseded;

    /// <summary>
    /// Raised when a sign-on over this connection has been verified (MAC, freshness, single use) and admitted, before it
    /// is written to the store: the listener marks the connection authenticated then, so it cannot be evicted while the
    /// write is under way.
    /// </summary>
    public event Action? SignedOn;

    /// <summary>Signs the session on as <paramref name="atmId"/>; called by <see cref="SignOnRegistry"/> under its lock.</summary>
    internal void SignOn(string atmId) => Volatile.Write(ref _atmId, atmId);

    /// <summary>Tells the listener the session signed on (outside the registry's lock).</summary>
    internal void RaiseSignedOn() => SignedOn?.Invoke();

    /// <summary>
    /// Raised when the ATM signed off over this connection with a valid, fresh, unused 0800/002: the listener counts the
    /// connection as not signed on again (evictable, held to the sign-on deadline).
    /// </summary>
    public event Action? SignedOff;

    /// <summary>Tells the listener the session signed off.</summary>
    internal void RaiseSignedOff() => SignedOff?.Invoke();

    /// <summary>Tells the listener a newer sign-on superseded the session (outside the registry's lock).</summary>
    internal void RaiseSuperseded() => Superseded?.Invoke();

    internal void SignOff() => Volatile.Write(ref _atmId, null);
}
