using System.Globalization;

namespace CardlessAtm.Iso8583;

/// <summary>
/// Field 90 of a reversal (n42): the original MTI (n4), STAN (n6), transmission date and time (n10, MMDDhhmmss),
/// acquirer id (n11) and forwarding id (n11). Our network zero-fills the two ids.
/// </summary>
/// <param name="OriginalMti">The original request's MTI, e.g. <c>0200</c>.</param>
/// <param name="OriginalStan">The original request's field 11.</param>
/// <param name="OriginalTransmissionDateTime">The original request's field 7 (MMDDhhmmss).</param>
/// <param name="AcquirerId">The acquiring institution id (0 on our network).</param>
/// <param name="ForwardingId">The forwarding institution id (0 on our network).</param>
public sealed record OriginalDataElements(string OriginalMti, int OriginalStan, string OriginalTransmissionDateTime, long AcquirerId = 0, long ForwardingId = 0)
{
    /// <summary>Builds field 90 from the original request (its MTI, field 11 and field 7).</summary>
    /// <param name="original">The request being reversed.</param>
    /// <returns>The original data elements.</returns>
    /// <exception cref="Iso8583FieldException">The original lacks field 11 or 7.</exception>
    public static OriginalDataElements From(IsoMessage original)
    {
        ArgumentNullException.ThrowIfNull(original);
        var stanText = original.GetString(11) ?? throw new Iso8583FieldException(90, FieldErrorReason.InvalidValue, "the original message has no STAN (field 11).");
        if (!int.TryParse(stanText, NumberStyles.None, CultureInfo.InvariantCulture, out var stan))
        {
            throw new Iso8583FieldException(11, FieldErrorReason.InvalidValue, "not a number.");
        }

        var sent = original.GetString(7) ?? throw new Iso8583FieldException(90, FieldErrorReason.InvalidValue, "the original message has no transmission date/time (field 7).");
        return new OriginalDataElements(original.Mti, stan, sent);
    }

    /// <summary>Parses the 42 digits of field 90.</summary>
    /// <param name="text">The field value.</param>
    /// <returns>The elements.</returns>
    /// <exception cref="Iso8583FieldException">Not 42 digits.</exception>
    public static OriginalDataElements Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length != 42 || text.AsSpan().ContainsAnyExceptInRange('0', '9'))
        {
            throw new Iso8583FieldException(90, FieldErrorReason.InvalidValue, "original data elements are 42 digits.");
        }

        return new OriginalDataElements(
            text[..4],
            int.Parse(text.AsSpan(4, 6), CultureInfo.InvariantCulture),
            text.Substring(10, 10),
            long.Parse(text.AsSpan(20, 11), CultureInfo.InvariantCulture),
            long.Parse(text.AsSpan(31, 11), CultureInfo.InvariantCulture));
    }

    /// <summary>The 42-digit field value.</summary>
    /// <returns>The field 90 text.</returns>
    /// <exception cref="Iso8583FieldException">A part is out of range.</exception>
    public override string ToString()
    {
        Mti.Parse(OriginalMti);
        if (OriginalStan is < 0 or > 999_999 || OriginalTransmissionDateTime is null || OriginalTransmissionDateTime.Length != 10
            || OriginalTransmissionDateTime.AsSpan().ContainsAnyExceptInRange('0', '9')
            || AcquirerId is < 0 or > 99_999_999_999 || ForwardingId is < 0 or > 99_999_999_999)
        {
            throw new Iso8583FieldException(90, FieldErrorReason.InvalidValue, "original data elements: STAN 0–999999, date/time 10 digits, ids 0–99999999999.");
        }

        return string.Create(CultureInfo.InvariantCulture, $"{OriginalMti}{OriginalStan:D6}{OriginalTransmissionDateTime}{AcquirerId:D11}{ForwardingId:D11}");
    }
}
