using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using CardlessAtm.Security;
using NATS.Client.Core;

namespace CardlessAtm.Proxy.Routing;

/// <summary>
/// Authenticates the messages between the proxies of a fleet with the fleet key (<c>Proxy:Routing:Nats:FleetKeyPath</c>,
/// one AES-256 key file copied to every proxy; its 32 bytes are the HMAC key). A request carries a random nonce, the
/// sender's clock and HMAC-SHA256 over the ATM's subject, the nonce, the time and the payload; the owning proxy checks
/// the MAC, that the time is within <see cref="MaxAge"/> of its own clock and that it has not seen the nonce before, and
/// only then looks at the bytes. A reply carries HMAC-SHA256 over the subject, the request's nonce and the reply's
/// payload, so the requester accepts only an answer made for its own request by a holder of the key: not one from a
/// mere subscriber of the subject, and not an old reply replayed. Thread-safe.
/// </summary>
internal sealed class FleetAuthenticator : IDisposable
{
    /// <summary>The request's nonce: 16 random bytes, hex.</summary>
    public const string NonceHeader = "Cardless-Fleet-Nonce";

    /// <summary>When the request was sent, Unix milliseconds (the sender's clock).</summary>
    public const string TimeHeader = "Cardless-Fleet-Time";

    /// <summary>The HMAC-SHA256, hex.</summary>
    public const string MacHeader = "Cardless-Fleet-Mac";

    /// <summary>How far a request's time may be from the owner's clock; nonces are remembered this long.</summary>
    public static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(30);

    private static readonly byte[] RequestLabel = Encoding.ASCII.GetBytes("cardless-atm fleet request v1");
    private static readonly byte[] ReplyLabel = Encoding.ASCII.GetBytes("cardless-atm fleet reply v1");

    private readonly byte[] _key;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, long> _seen = new(StringComparer.Ordinal); // nonce → when it may be forgotten (Unix ms)
    private long _nextSweep;

    /// <summary>Keeps a copy of <paramref name="key"/>'s bytes (zeroed on dispose).</summary>
    public FleetAuthenticator(SecretKey key, TimeProvider time)
    {
        _key = key.ExportBytes();
        _time = time;
    }

    /// <summary>The headers of a request on <paramref name="subject"/>; <paramref name="nonce"/> is what its reply must be bound to.</summary>
    public NatsHeaders SignRequest(string subject, ReadOnlySpan<byte> payload, out string nonce)
    {
        nonce = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        var time = _time.GetUtcNow().ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
        return new NatsHeaders
        {
            [NonceHeader] = nonce,
            [TimeHeader] = time,
            [MacHeader] = Mac(RequestLabel, subject, nonce, time, payload),
        };
    }

    /// <summary>
    /// Checks a request that came on <paramref name="subject"/>; returns null when it is authentic, fresh and its nonce
    /// new (the nonce is then remembered), else why not.
    /// </summary>
    public string? CheckRequest(string subject, NatsHeaders? headers, ReadOnlySpan<byte> payload, out string nonce)
    {
        nonce = string.Empty;
        if (!TryGet(headers, NonceHeader, out nonce) || !TryGet(headers, TimeHeader, out var time) || !TryGet(headers, MacHeader, out var mac))
        {
            return "it carries no fleet MAC (it was not sent by a proxy holding the fleet key)";
        }

        if (!Verify(mac, Mac(RequestLabel, subject, nonce, time, payload)))
        {
            return "its fleet MAC does not verify (not sent by a proxy holding the fleet key, or altered)";
        }

        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var maxAge = (long)MaxAge.TotalMilliseconds;
        if (!long.TryParse(time, NumberStyles.None, CultureInfo.InvariantCulture, out var sent) || Math.Abs(now - sent) > maxAge)
        {
            return string.Create(CultureInfo.InvariantCulture, $"it was sent more than {MaxAge.TotalSeconds:0} s from this proxy's clock (a replay, or the proxies' clocks differ)");
        }

        Sweep(now);
        return _seen.TryAdd(nonce, sent + maxAge) ? null : "its nonce was seen before (a replay of an earlier request)";
    }

    /// <summary>The headers of the reply to the request with <paramref name="nonce"/> on <paramref name="subject"/>.</summary>
    public NatsHeaders SignReply(string subject, string nonce, ReadOnlySpan<byte> payload) =>
        new() { [MacHeader] = Mac(ReplyLabel, subject, nonce, null, payload) };

    /// <summary>Checks a reply to this proxy's request with <paramref name="nonce"/>; null when authentic, else why not.</summary>
    public string? CheckReply(string subject, string nonce, NatsHeaders? headers, ReadOnlySpan<byte> payload)
    {
        if (!TryGet(headers, MacHeader, out var mac))
        {
            return "it carries no fleet MAC (it was not sent by a proxy holding the fleet key)";
        }

        return Verify(mac, Mac(ReplyLabel, subject, nonce, null, payload))
            ? null
            : "its fleet MAC does not verify for this request (an answer to another request, or not from a proxy holding the fleet key)";
    }

    /// <summary>Zeroes the key copy.</summary>
    public void Dispose() => CryptographicOperations.ZeroMemory(_key);

    private static bool TryGet(NatsHeaders? headers, string name, out string value)
    {
        value = string.Empty;
        if (headers is null || !headers.TryGetValue(name, out var values) || values.Count != 1 || values[0] is not { Length: > 0 and <= 128 } single)
        {
            return false;
        }

        value = single;
        return true;
    }

    private static bool Verify(string received, string expected) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(received), Encoding.ASCII.GetBytes(expected));

    private string Mac(byte[] label, string subject, string nonce, string? time, ReadOnlySpan<byte> payload)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _key);
        ReadOnlySpan<byte> separator = [0];
        hmac.AppendData(label);
        foreach (var part in time is null ? new[] { subject, nonce } : [subject, nonce, time])
        {
            hmac.AppendData(separator);
            hmac.AppendData(Encoding.UTF8.GetBytes(part));
        }

        hmac.AppendData(separator);
        hmac.AppendData(payload);
        return Convert.ToHexString(hmac.GetHashAndReset());
    }

    private void Sweep(long now)
    {
        var next = Interlocked.Read(ref _nextSweep);
        if (now < next || Interlocked.CompareExchange(ref _nextSweep, now + 1000, next) != next)
        {
            return;
        }

        foreach (var (nonce, forgetAt) in _seen)
        {
            if (forgetAt < now)
            {
                _seen.TryRemove(nonce, out _);
            }
        }
    }
}
