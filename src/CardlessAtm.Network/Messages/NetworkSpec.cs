using CardlessAtm.Iso8583;
using CardlessAtm.Iso8583.Spec;

namespace CardlessAtm.Network;

/// <summary>
/// The message spec of the cardless network (ISO 8583:1987, ASCII, binary bitmaps), loaded once from the JSON
/// embedded in this assembly. Every message on the phone, ATM, proxy and host links uses it.
/// </summary>
public static class NetworkSpec
{
    private static readonly Lazy<MessageSpec> Spec = new(LoadEmbedded, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The network's message spec.</summary>
    public static MessageSpec Messages => Spec.Value;

    /// <summary>An empty message of the network's spec.</summary>
    /// <param name="mti">The four-digit message type indicator, e.g. <see cref="Mti.FinancialRequest"/>.</param>
    /// <returns>The message.</returns>
    /// <exception cref="Iso8583FieldException">The MTI is not four digits.</exception>
    public static IsoMessage NewMessage(string mti) => new(Messages, mti);

    /// <summary>Unpacks one message (MTI, bitmaps, fields; no framing) of the network's spec.</summary>
    /// <param name="packed">Exactly one packed message.</param>
    /// <returns>The message.</returns>
    /// <exception cref="Iso8583ParseException">The bytes are not a valid message; names the field, offset and reason.</exception>
    public static IsoMessage Unpack(ReadOnlySpan<byte> packed) => IsoMessage.Unpack(packed, Messages);

    private static MessageSpec LoadEmbedded()
    {
        using var stream = typeof(NetworkSpec).Assembly.GetManifestResourceStream("CardlessAtm.Network.cardless-network.json")
            ?? throw new Iso8583SpecException("the embedded network spec resource is missing from the assembly.");
        return MessageSpec.Load(stream);
    }
}
