namespace CardlessAtm.Iso8583;

/// <summary>Helpers for four-digit message type indicators (version, class, function, origin).</summary>
public static class Mti
{
    /// <summary>0200 financial transaction request (the withdrawal).</summary>
    public const string FinancialRequest = "0200";

    /// <summary>0210 financial transaction response.</summary>
    public const string FinancialResponse = "0210";

    /// <summary>0420 reversal advice.</summary>
    public const string ReversalAdvice = "0420";

    /// <summary>0421 reversal advice, repeat.</summary>
    public const string ReversalAdviceRepeat = "0421";

    /// <summary>0430 reversal advice response.</summary>
    public const string ReversalAdviceResponse = "0430";

    /// <summary>0800 network management request.</summary>
    public const string NetworkManagementRequest = "0800";

    /// <summary>0810 network management response.</summary>
    public const string NetworkManagementResponse = "0810";

    /// <summary>Parses and validates an MTI.</summary>
    /// <param name="mti">Four decimal digits.</param>
    /// <returns>Its numeric value.</returns>
    /// <exception cref="Iso8583FieldException">Not four decimal digits.</exception>
    public static int Parse(string mti)
    {
        if (mti is null || mti.Length != 4 || mti.AsSpan().ContainsAnyExceptInRange('0', '9'))
        {
            throw new Iso8583FieldException(0, FieldErrorReason.InvalidValue, "an MTI is four decimal digits.");
        }

        return ((mti[0] - '0') * 1000) + ((mti[1] - '0') * 100) + ((mti[2] - '0') * 10) + (mti[3] - '0');
    }

    /// <summary>True for a message that expects an answer: function 0 (request) or 2 (advice), e.g. 0200, 0420, 0421, 0800.</summary>
    /// <param name="mti">The MTI.</param>
    /// <returns>Whether it expects a response.</returns>
    public static bool IsRequest(string mti) => Parse(mti) / 10 % 10 is 0 or 2;

    /// <summary>True for a response: function 1 (request response) or 3 (advice response), e.g. 0210, 0430, 0810.</summary>
    /// <param name="mti">The MTI.</param>
    /// <returns>Whether it is a response.</returns>
    public static bool IsResponse(string mti) => Parse(mti) / 10 % 10 is 1 or 3;

    /// <summary>
    /// The response MTI for a request: function + 1, and a repeat origin becomes the original origin
    /// (0200 → 0210, 0420 → 0430, 0421 → 0430, 0800 → 0810).
    /// </summary>
    /// <param name="requestMti">A request or advice MTI.</param>
    /// <returns>The response MTI.</returns>
    /// <exception cref="Iso8583FieldException">The MTI is not a request or advice.</exception>
    public static string ToResponse(string requestMti)
    {
        var value = Parse(requestMti);
        if (value / 10 % 10 is not (0 or 2))
        {
            throw new Iso8583FieldException(0, FieldErrorReason.InvalidValue, $"{requestMti} is not a request or advice, so it has no response MTI.");
        }

        var origin = value % 10;
        var response = value - origin + 10 + (origin % 2 == 1 ? origin - 1 : origin);
        return response.ToString("D4", System.Globalization.CultureInfo.InvariantCulture);
    }
}
