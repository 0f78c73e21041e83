namespace CardlessAtm.Host.Processing;

/// <summary>
/// What makes an 0800/001 single-use and an ATM signed on over one connection at most (docs/protocol/iso8583.md §2.6).
/// A sign-on has no nonce, so the host remembers, per ATM, the MAC of every sign-on it accepted until that sign-on's
/// field 7 is older than <see cref="Authorisation.HostPolicy.SignOnFreshness"/> (after which the freshness check refuses
/// it anyway): the same sign-on replayed on another socket is refused. Only sign-ons whose MAC verified under the ATM's
/// key are recorded, at most <see cref="MaxRecentPerAtm"/> per ATM, so a stranger cannot grow the table. It also
/// names the connection each ATM is signed on over; accepting a newer sign-on returns the older one to be superseded.
/// Held in memory: after a host restart a sign-on still inside its freshness window could be accepted once more.
/// Thread-safe.
/// </summary>
internal sealed class SignOnRegistry(TimeSpan freshness, int supersedeThreshold = int.MaxValue, TimeSpan? supersedeWindow = null)
{
    private readonly TimeSpan _supersedeWindow = supersedeWindow ?? TimeSpan.FromMinutes(1);

    /// <summary>The most unexpired sign-ons remembered per ATM; past it a further sign-on is refused until older ones go stale.</summary>
    public const int MaxRecentPerAtm = 256;

    private readonly Lock _lock = new();
    private readonly Dictionary<string, AtmEntry> _atms = new(StringComparer.Ordinal);

    /// <summary>
    /// Records the sign-on identified by <paramref name="mac"/>, makes <paramref name="session"/> the ATM's connection and
    /// signs it on, and signs off the session it supersedes, all under one lock (the caller raises the sessions' events).
    /// </summary>
    /// <returns>Whether it was accepted; when accepted, the session it superseded (null when none, or the same one).</returns>
    /// <param name="atmId">The ATM in field 41.</param>
    /// <param name="mac">The sign-on's MAC (what makes it single-use).</param>
    /// <param name="sentAt">Its field 7.</param>
    /// <param name="now">The host's clock.</param>
    /// <param name="session">The connection it came on.</param>
    /// <param name="superseded">The session it superseded, if any.</param>
    /// <param name="supersedes">When it superseded one: the ATM's supersedes within the alert window, this one included (at most the alert threshold).</param>
    public SignOnAdmission Accept(string atmId, string mac, DateTimeOffset sentAt, DateTimeOffset now, HostSession session, out HostSession? superseded, out int supersedes)
    {
        superseded = null;
        supersedes = 0;
        lock (_lock)
        {
            var entry = EntryFor(atmId, now);
            if (entry.Recent.ContainsKey(mac))
            {
                return SignOnAdmission.Replayed;
            }

            if (entry.Recent.Count >= MaxRecentPerAtm)
            {
                return SignOnAdmission.TooMany;
            }

            // Field 7 has whole seconds: keep the MAC a second past the window the freshness check allows.
            entry.Recent[mac] = sentAt + freshness + TimeSpan.FromSeconds(1);
            if (ReferenceEquals(entry.Current, session) && session.IsSignedOnAs(atmId))
            {
                return SignOnAdmission.AcceptedAgain;
            }

            // A connection signed on as another ATM before is no longer that ATM's connection: a later sign-on of that
            // ATM elsewhere must not "supersede" (close) this one.
            if (session.SignedOnAtmId is { } other && !string.Equals(other, atmId, StringComparison.Ordinal)
                && _atms.TryGetValue(other, out var previous) && ReferenceEquals(previous.Current, session))
            {
                previous.Current = null;
            }

            // Accept and supersede in one step, under the lock: of two racing sign-ons of one ATM, the one admitted last
            // is the ATM's connection and the other is signed off here, so both can never be current.
            if (entry.Current is { } current && !ReferenceEquals(current, session))
            {
                current.SignOff();
                superseded = current;
                supersedes = CountSupersede(entry, now);
            }

            entry.Current = session;
            session.SignOn(atmId);
            return SignOnAdmission.Accepted;
        }
    }

    /// <summary>
    /// Undoes an accepted sign-on whose answer could not be given (its ledger write failed): <paramref name="session"/> is
    /// no longer the ATM's connection nor signed on. Its MAC stays remembered, so it cannot be replayed in this process.
    /// </summary>
    public void Abandon(string atmId, HostSession session)
    {
        lock (_lock)
        {
            if (_atms.TryGetValue(atmId, out var entry) && ReferenceEquals(entry.Current, session))
            {
                entry.Current = null;
            }

            if (session.IsSignedOnAs(atmId))
            {
                session.SignOff();
            }
        }
    }

    /// <summary>
    /// The ATM signs off over <paramref name="session"/> with the sign-off identified by <paramref name="mac"/>: unless
    /// that sign-off was accepted before (a replay), the session is signed off and no longer the ATM's connection.
    /// Sign-offs are remembered like sign-ons (in the same bounded table, until they go stale).
    /// </summary>
    /// <returns>False for a replayed (or, past <see cref="MaxRecentPerAtm"/>, one too many) sign-off: nothing changes.</returns>
    public bool Release(string atmId, HostSession session, string mac, DateTimeOffset sentAt, DateTimeOffset now)
    {
        lock (_lock)
        {
            var entry = EntryFor(atmId, now);
            var key = "off:" + mac;
            if (entry.Recent.ContainsKey(key) || entry.Recent.Count >= MaxRecentPerAtm)
            {
                return false;
            }

            entry.Recent[key] = sentAt + freshness + TimeSpan.FromSeconds(1);
            if (ReferenceEquals(entry.Current, session))
            {
                entry.Current = null;
            }

            session.SignOff();
            return true;
        }
    }

    /// <summary>Records a supersede of the ATM's connection and returns how many fell in the window (at most the threshold: the queue is bounded).</summary>
    private int CountSupersede(AtmEntry entry, DateTimeOffset now)
    {
        while (entry.Supersedes.TryPeek(out var oldest) && (now - oldest >= _supersedeWindow || entry.Supersedes.Count >= supersedeThreshold))
        {
            entry.Supersedes.Dequeue();
        }

        entry.Supersedes.Enqueue(now);
        return entry.Supersedes.Count;
    }

    /// <summary>The ATM's entry, with its stale sign-ons forgotten (under the lock).</summary>
    private AtmEntry EntryFor(string atmId, DateTimeOffset now)
    {
        if (!_atms.TryGetValue(atmId, out var entry))
        {
            entry = new AtmEntry();
            _atms[atmId] = entry;
        }

        foreach (var (key, expiry) in entry.Recent)
        {
            if (now > expiry)
            {
                entry.Recent.Remove(key);
            }
        }

        return entry;
    }

    private sealed class AtmEntry
    {
        public Dictionary<string, DateTimeOffset> Recent { get; } = new(StringComparer.Ordinal);

        public HostSession? Current { get; set; }

        public Queue<DateTimeOffset> Supersedes { get; } = new();
    }
}

/// <summary>What <see cref="SignOnRegistry.Accept"/> decided.</summary>
internal enum SignOnAdmission
{
    /// <summary>Fresh and unused: the connection is signed on.</summary>
    Accepted,

    /// <summary>Fresh and unused, over the connection the ATM is already signed on over: nothing changes.</summary>
    AcceptedAgain,

    /// <summary>This very sign-on (same MAC) was accepted before.</summary>
    Replayed,

    /// <summary>More than <see cref="SignOnRegistry.MaxRecentPerAtm"/> sign-ons of the ATM inside the freshness window.</summary>
    TooMany,
}
