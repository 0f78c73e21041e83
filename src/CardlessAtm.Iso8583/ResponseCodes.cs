using System.Collections.Frozen;

namespace CardlessAtm.Iso8583;

/// <summary>The field 39 response codes our network uses; when each is sent is in docs/protocol/iso8583.md.</summary>
public static class ResponseCodes
{
    /// <summary>00 approved (or: advice/network message accepted).</summary>
    public const string Approved = "00";

    /// <summary>05 do not honour.</summary>
    public const string DoNotHonour = "05";

    /// <summary>12 invalid transaction.</summary>
    public const string InvalidTransaction = "12";

    /// <summary>13 invalid amount.</summary>
    public const string InvalidAmount = "13";

    /// <summary>14 invalid account (customer account id unknown).</summary>
    public const string InvalidAccount = "14";

    /// <summary>30 format error.</summary>
    public const string FormatError = "30";

    /// <summary>51 insufficient funds.</summary>
    public const string InsufficientFunds = "51";

    /// <summary>54 expired: the QR session has expired.</summary>
    public const string SessionExpired = "54";

    /// <summary>55 incorrect PIN.</summary>
    public const string IncorrectPin = "55";

    /// <summary>57 transaction not permitted to cardholder.</summary>
    public const string NotPermittedToCardholder = "57";

    /// <summary>61 exceeds withdrawal amount limit.</summary>
    public const string ExceedsAmountLimit = "61";

    /// <summary>63 security violation: a MAC (64/128, or the phone's inside 127) or the QR session's authenticity does not verify.</summary>
    public const string SecurityViolation = "63";

    /// <summary>65 exceeds withdrawal frequency limit.</summary>
    public const string ExceedsFrequencyLimit = "65";

    /// <summary>75 allowable number of PIN tries exceeded.</summary>
    public const string PinTriesExceeded = "75";

    /// <summary>91 issuer or switch inoperative (the host or the ATM cannot be reached).</summary>
    public const string IssuerUnavailable = "91";

    /// <summary>92 destination cannot be found for routing (unknown ATM id).</summary>
    public const string RoutingError = "92";

    /// <summary>94 duplicate transmission (session already used).</summary>
    public const string DuplicateTransmission = "94";

    /// <summary>96 system malfunction.</summary>
    public const string SystemMalfunction = "96";

    private static readonly FrozenDictionary<string, string> Meanings = new Dictionary<string, string>
    {
        [Approved] = "approved",
        [DoNotHonour] = "do not honour",
        [InvalidTransaction] = "invalid transaction",
        [InvalidAmount] = "invalid amount",
        [InvalidAccount] = "invalid account",
        [FormatError] = "format error",
        [InsufficientFunds] = "insufficient funds",
        [SessionExpired] = "expired (QR session)",
        [IncorrectPin] = "incorrect PIN",
        [NotPermittedToCardholder] = "transaction not permitted to cardholder",
        [ExceedsAmountLimit] = "exceeds withdrawal amount limit",
        [SecurityViolation] = "security violation",
        [ExceedsFrequencyLimit] = "exceeds withdrawal frequency limit",
        [PinTriesExceeded] = "PIN tries exceeded",
        [IssuerUnavailable] = "issuer or switch inoperative",
        [RoutingError] = "destination not found (unknown ATM)",
        [DuplicateTransmission] = "duplicate transmission",
        [SystemMalfunction] = "system malfunction",
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>Every code this network uses, with its meaning.</summary>
    public static IReadOnlyDictionary<string, string> All => Meanings;

    /// <summary>The meaning of a code, or "unknown response code".</summary>
    /// <param name="code">The field 39 value.</param>
    /// <returns>Its meaning.</returns>
    public static string Describe(string? code) =>
        code is not null && Meanings.TryGetValue(code, out var meaning) ? meaning : "unknown response code";
}

/// <summary>
/// Field 39 of an 0420/0421: why the ATM reverses. The host acts on one of them: with
/// <see cref="SuspectedMalfunction"/> the device could not say what it presented, so the part of field 4 not
/// covered by field 95 is credited to the customer <em>and</em> recorded as a suspect amount for the ATM's
/// cash count (<c>host report</c>). A reversal without field 39 is an ordinary one.
/// </summary>
public static class ReversalReasons
{
    /// <summary>
    /// 06: the host answered the 0200, authentically, with a code that does not say it declined cleanly (94 duplicate,
    /// 91, 92, 96, a code this network does not use, or no field 39): it may have debited, so the ATM reverses in full.
    /// </summary>
    public const string UnknownOutcome = "06";

    /// <summary>17: the customer cancelled while the host was deciding.</summary>
    public const string CustomerCancellation = "17";

    /// <summary>
    /// 18: the customer did not take the notes in time and the ATM retracted them into its retract bin; field 95 is the
    /// amount the customer kept (dispensed − retracted). Our two-character form of ISO 8583:1993 message reason code
    /// 4018, "timed-out at taking money" (field 39 is an2 on this network; 1987's response code 18 is never a reversal
    /// reason). The host credits field 4 − field 95 as for a partial dispense (docs/protocol/iso8583.md §2.5).
    /// </summary>
    public const string NotesRetracted = "18";

    /// <summary>20: the host's answer could not be trusted (bad MAC, or fields that do not match the request).</summary>
    public const string InvalidResponse = "20";

    /// <summary>22: the dispenser could not say what it presented; the amount beyond field 95 is suspect.</summary>
    public const string SuspectedMalfunction = "22";

    /// <summary>32: the dispense completed partially; field 95 is exactly what the customer received.</summary>
    public const string PartialDispense = "32";

    /// <summary>68: no answer from the host in time; it may have approved.</summary>
    public const string Timeout = "68";

    /// <summary>96: the ATM failed after the approval and before any note moved.</summary>
    public const string AtmMalfunction = "96";

    /// <summary>Whether <paramref name="code"/> is one of these reasons.</summary>
    public static bool IsKnown(string? code) =>
        code is UnknownOutcome or CustomerCancellation or NotesRetracted or InvalidResponse or SuspectedMalfunction or PartialDispense or Timeout or AtmMalfunction;
}

/// <summary>Field 70 network management codes.</summary>
public static class NetworkManagementCodes
{
    /// <summary>001 sign-on.</summary>
    public const string SignOn = "001";

    /// <summary>002 sign-off.</summary>
    public const string SignOff = "002";

    /// <summary>101 key change (key data in field 120).</summary>
    public const string KeyChange = "101";

    /// <summary>301 echo test (keep-alive).</summary>
    public const string EchoTest = "301";
}

/// <summary>
/// Thread-safe STAN source: 1, 2, …, 999999, then 1 again (0 is never used). An optional
/// <c>issuing</c> hook sees each STAN before it is handed out (under a lock), so a terminal can persist a
/// reservation and never reuse a STAN after a restart.
/// </summary>
public sealed class StanGenerator
{
    private readonly Action<int>? _issuing;
    private readonly Lock _gate = new();
    private int _last;

    /// <summary>Starts after <paramref name="last"/> (e.g. the last STAN reserved before a restart).</summary>
    /// <param name="last">The last STAN used, 0–999999.</param>
    /// <param name="issuing">Called with each STAN before <see cref="Next"/> returns it; an exception stops that STAN being issued.</param>
    public StanGenerator(int last = 0, Action<int>? issuing = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(last);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(last, 999_999);
        _last = last;
        _issuing = issuing;
    }

    /// <summary>The STAN after <paramref name="stan"/> in the 1–999999 cycle.</summary>
    public static int After(int stan) => stan >= 999_999 ? 1 : stan + 1;

    /// <summary>The next STAN.</summary>
    /// <returns>1–999999.</returns>
    public int Next()
    {
        lock (_gate)
        {
            var next = After(_last);
            _issuing?.Invoke(next);
            _last = next;
            return next;
        }
    }
}
