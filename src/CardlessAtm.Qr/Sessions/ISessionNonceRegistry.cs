using CardlessAtm.Qr.Payload;

namespace CardlessAtm.Qr.Sessions;

/// <summary>
/// The replay guard: remembers which sessions (ATM id + nonce) were used. The terminal uses
/// <see cref="InMemorySessionNonceRegistry"/>; the host implements this over its database (a unique key on
/// ATM id + nonce, inserted in the same transaction as the debit).
/// </summary>
public interface ISessionNonceRegistry
{
    /// <summary>
    /// Atomically records the session as used. Returns false, changing nothing, when it was already used.
    /// </summary>
    /// <param name="atmId">The ATM the session belongs to.</param>
    /// <param name="nonce">The session nonce.</param>
    /// <param name="retainUntil">The record may be forgotten after this instant: the payload is refused as expired by then anyway.</param>
    /// <param name="cancellationToken">Cancels the wait for the store.</param>
    ValueTask<bool> TryConsumeAsync(AtmId atmId, SessionNonce nonce, DateTimeOffset retainUntil, CancellationToken cancellationToken);
}
