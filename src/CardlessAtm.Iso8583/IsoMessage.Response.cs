namespace CardlessAtm.Iso8583;

public sealed partial class IsoMessage
{
    /// <summary>
    /// A response to this request: the response MTI (<see cref="Iso8583.Mti.ToResponse"/>) and those of
    /// <paramref name="echoedFields"/> that are present. No MAC: apply one with <see cref="Mac.MessageMac"/>.
    /// </summary>
    /// <param name="echoedFields">The fields the network's responses copy from their request.</param>
    /// <returns>The response.</returns>
    /// <exception cref="Iso8583FieldException">This message is not a request or advice.</exception>
    public IsoMessage CreateResponse(IReadOnlyList<int> echoedFields)
    {
        ArgumentNullException.ThrowIfNull(echoedFields);
        var response = new IsoMessage(Spec, Iso8583.Mti.ToResponse(Mti));
        foreach (var field in echoedFields)
        {
            var index = IndexOf(field);
            if (index >= 0 && Spec.Find(field) is not null)
            {
                response.SetBytes(field, Value(index));
            }
        }

        return response;
    }
}
