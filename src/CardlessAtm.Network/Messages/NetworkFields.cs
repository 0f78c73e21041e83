using System.Globalization;
using CardlessAtm.Iso8583;

namespace CardlessAtm.Network;

/// <summary>
/// The data elements of the network, by meaning. Typed messages read and write them; a component that must
/// work at field level (a relay renumbering the STAN, a MAC) uses the named helpers here, never a bare number.
/// </summary>
public static class NetworkFields
{
    /// <summary>Field 3, processing code (n6).</summary>
    public const int ProcessingCode = 3;

    /// <summary>Field 4, amount in minor units (n12).</summary>
    public const int Amount = 4;

    /// <summary>Field 7, transmission date and time, UTC (n10, MMDDhhmmss).</summary>
    public const int TransmissionDateTime = 7;

    /// <summary>Field 11, system trace audit number (n6).</summary>
    public const int Stan = 11;

    /// <summary>Field 12, local time (n6, hhmmss).</summary>
    public const int LocalTime = 12;

    /// <summary>Field 13, local date (n4, MMDD).</summary>
    public const int LocalDate = 13;

    /// <summary>Field 37, retrieval reference number (an12).</summary>
    public const int RetrievalReferenceNumber = 37;

    /// <summary>Field 38, authorisation code (an6).</summary>
    public const int AuthorizationCode = 38;

    /// <summary>Field 39, response code (an2); on a reversal advice, the reversal reason.</summary>
    public const int ResponseCode = 39;

    /// <summary>Field 41, terminal id = ATM id (ans8).</summary>
    public const int TerminalId = 41;

    /// <summary>Field 48, the QR session payload as scanned (ans..999).</summary>
    public const int SessionPayload = 48;

    /// <summary>Field 49, currency, ISO 4217 numeric (n3).</summary>
    public const int Currency = 49;

    /// <summary>Field 70, network management code (n3).</summary>
    public const int NetworkManagementCode = 70;

    /// <summary>Field 90, original data elements of a reversal (n42).</summary>
    public const int OriginalData = 90;

    /// <summary>Field 95, replacement amounts: the dispensed amount (an42).</summary>
    public const int ReplacementAmounts = 95;

    /// <summary>Field 64, the message authentication code of a message without a secondary bitmap (b8).</summary>
    public const int Mac = 64;

    /// <summary>Field 128, the message authentication code of a message with a secondary bitmap (b8).</summary>
    public const int SecondaryMac = 128;

    /// <summary>Field 120, key-change data (b..999).</summary>
    public const int KeyChangeData = 120;

    /// <summary>Field 127, the phone's protected data (b..999).</summary>
    public const int ProtectedData = 127;

    /// <summary>The fields a response copies from its request.</summary>
    public static IReadOnlyList<int> EchoedByResponses { get; } =
        [ProcessingCode, Amount, TransmissionDateTime, Stan, LocalTime, LocalDate, RetrievalReferenceNumber, TerminalId, Currency, NetworkManagementCode, OriginalData, ReplacementAmounts];

    /// <summary>A response to <paramref name="request"/> that echoes <see cref="EchoedByResponses"/>, with field 39 when given.</summary>
    /// <param name="request">The request or advice.</param>
    /// <param name="responseCode">Field 39, or null to leave it unset.</param>
    /// <returns>The response (no MAC).</returns>
    public static IsoMessage CreateResponse(IsoMessage request, string? responseCode = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        var response = request.CreateResponse(EchoedByResponses);
        if (responseCode is not null)
        {
            response.Set(ResponseCode, responseCode);
        }

        return response;
    }

    /// <summary>Field 11 when present and a valid STAN; null otherwise.</summary>
    /// <param name="message">The message.</param>
    /// <returns>The STAN, or null.</returns>
    public static Stan? FindStan(IsoMessage message) =>
        CardlessAtm.Stan.TryParse(message?.GetString(Stan), out var stan) ? stan : null;

    /// <summary>True when field 11 is present (valid or not).</summary>
    /// <param name="message">The message.</param>
    /// <returns>Whether it carries a STAN field.</returns>
    public static bool HasStan(IsoMessage message) => message?.Has(Stan) ?? false;

    /// <summary>The raw bytes of field 11 (to restore a renumbered STAN exactly), or null.</summary>
    /// <param name="message">The message.</param>
    /// <returns>A copy of the bytes, or null.</returns>
    public static byte[]? StanBytes(IsoMessage message) => message?.GetBytes(Stan);

    /// <summary>Sets field 11 (a relay renumbering a leg, or restoring the original bytes).</summary>
    /// <param name="message">The message.</param>
    /// <param name="stan">The STAN.</param>
    public static void SetStan(IsoMessage message, Stan stan)
    {
        ArgumentNullException.ThrowIfNull(message);
        message.Set(Stan, stan.ToString());
    }

    /// <summary>Restores field 11 from bytes read with <see cref="StanBytes"/>.</summary>
    /// <param name="message">The message.</param>
    /// <param name="stanBytes">The original bytes.</param>
    public static void RestoreStan(IsoMessage message, ReadOnlySpan<byte> stanBytes)
    {
        ArgumentNullException.ThrowIfNull(message);
        message.SetBytes(Stan, stanBytes);
    }

    /// <summary>Field 39, or null when absent.</summary>
    /// <param name="message">The message.</param>
    /// <returns>The response code.</returns>
    public static string? FindResponseCode(IsoMessage message) => message?.GetString(ResponseCode);

    /// <summary>Field 41 as an ATM id, or null when absent or not an ATM id.</summary>
    /// <param name="message">The message.</param>
    /// <returns>The ATM id, or null.</returns>
    public static AtmId? FindAtm(IsoMessage message) => AtmId.TryParse(message?.GetString(TerminalId), out var atm) ? atm : null;

    /// <summary>Field 70, or null when absent.</summary>
    /// <param name="message">The message.</param>
    /// <returns>The network management code.</returns>
    public static string? FindNetworkManagementCode(IsoMessage message) => message?.GetString(NetworkManagementCode);

    /// <summary>Field 48, or null when absent.</summary>
    /// <param name="message">The message.</param>
    /// <returns>The QR session payload text.</returns>
    public static string? FindSessionPayload(IsoMessage message) => message?.GetString(SessionPayload);

    /// <summary>Field 7 text for an instant (MMDDhhmmss, UTC).</summary>
    /// <param name="instant">The instant.</param>
    /// <returns>The ten digits.</returns>
    public static string TransmissionText(DateTimeOffset instant) =>
        instant.UtcDateTime.ToString("MMddHHmmss", CultureInfo.InvariantCulture);
}
