using CardlessAtm.Iso8583.Spec;
using CardlessAtm.Network;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace CardlessAtm.Iso8583.Tests;

/// <summary>Pack then unpack gives back the same message, for random valid messages of any spec shape.</summary>
public class RoundTripPropertyTests
{
    private static readonly MessageSpec[] Specs =
    [
        NetworkSpec.Messages,
        Samples.KitchenSink(BitmapEncoding.Hex, FieldEncoding.Ascii),
        Samples.KitchenSink(BitmapEncoding.Binary, FieldEncoding.Bcd),
        Samples.KitchenSink(BitmapEncoding.Binary, FieldEncoding.Ebcdic),
    ];

    /// <summary>A random valid value for a field, honouring content and length.</summary>
    internal static Gen<byte[]> ValueFor(FieldDefinition def)
    {
        var minLength = def.IsFixed && def.Padding.Side == PaddingSide.None ? def.MaxLength : 0;
        var alphabet = def.Content switch
        {
            FieldContent.Numeric => "0123456789",
            FieldContent.Alpha => "ABCXYZabcxyz ",
            FieldContent.AlphaNumeric => "AZaz09 M5",
            FieldContent.Track => "0123456789=D?;",
            FieldContent.AlphaNumericSpecial => " !\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~",
            _ => null,
        };
        var maxGenerated = Math.Min(def.MaxLength, 64);
        return Gen.Choose(Math.Max(minLength, def.IsFixed ? 0 : 0), Math.Max(minLength, maxGenerated)).SelectMany(length =>
            alphabet is null
                ? Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>(), length)
                : Gen.ArrayOf(Gen.Elements(alphabet.Select(c => (byte)c).ToArray()), length));
    }

    internal static Gen<IsoMessage> MessageFor(MessageSpec spec) =>
        from mti in Gen.Elements("0200", "0210", "0420", "0421", "0430", "0800", "0810", "9999", "0000")
        from chosen in Gen.SubListOf(spec.Fields.ToArray())
        from values in Gen.CollectToSequence(chosen, ValueFor)
        select Build(spec, mti, chosen, values.ToArray());

    private static IsoMessage Build(MessageSpec spec, string mti, List<FieldDefinition> fields, byte[][] values)
    {
        var m = new IsoMessage(spec, mti);
        for (var i = 0; i < fields.Count; i++)
        {
            m.SetBytes(fields[i].Number, values[i]);
        }

        return m;
    }

    public static Arbitrary<(int, IsoMessage)> AnySpecMessage() =>
        Gen.Choose(0, Specs.Length - 1).SelectMany(i => MessageFor(Specs[i]).Select(m => (i, m))).ToArbitrary();

    [Property(MaxTest = 500, Arbitrary = [typeof(RoundTripPropertyTests)])]
    public void Pack_then_unpack_returns_the_same_message((int SpecIndex, IsoMessage Message) input)
    {
        var (specIndex, message) = input;
        var packed = message.Pack();

        var back = IsoMessage.Unpack(packed, Specs[specIndex]);

        Samples.AssertSameMessage(message, back);
        Assert.Equal(packed.Length, message.PackedLength);
        Assert.Equal(packed, back.Pack());
    }

    [Property(MaxTest = 300, Arbitrary = [typeof(RoundTripPropertyTests)])]
    public void Every_strict_prefix_of_a_packed_message_fails_with_the_typed_error((int SpecIndex, IsoMessage Message) input)
    {
        var (specIndex, message) = input;
        var packed = message.Pack();
        var cut = packed.Length / 2;

        var error = Assert.Throws<Iso8583ParseException>(() => IsoMessage.Unpack(packed.AsSpan(0, cut), Specs[specIndex]));
        Assert.InRange(error.Offset, 0, cut);
    }
}
