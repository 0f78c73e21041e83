using CardlessAtm.Iso8583.Spec;
using CardlessAtm.Network;

namespace CardlessAtm.Iso8583.Tests;

public class SpecTests
{
    [Fact]
    public void The_embedded_network_spec_defines_exactly_the_contracts_fields()
    {
        var spec = NetworkSpec.Messages;

        Assert.Equal([3, 4, 7, 11, 12, 13, 37, 38, 39, 41, 48, 49, 64, 70, 90, 95, 120, 127, 128], spec.Fields.Select(f => f.Number));
        Assert.Equal("n12", spec.Get(4).Format);
        Assert.Equal("ans..999", spec.Get(48).Format);
        Assert.Equal(3, spec.Get(127).Prefix.Digits);
        Assert.Equal(FieldSensitivity.Secret, spec.Get(127).Sensitivity);
        Assert.Equal(FieldSensitivity.Secret, spec.Get(64).Sensitivity);
        Assert.Equal(FieldSensitivity.Secret, spec.Get(120).Sensitivity);
        Assert.Null(spec.Find(2));
        Assert.Same(spec, NetworkSpec.Messages);
    }

    [Theory]
    [InlineData("""{"fields":[{"number":3,"type":"x","length":6}]}""", "field 3")]
    [InlineData("""{"fields":[{"number":3,"type":"n"}]}""", "\"length\"")]
    [InlineData("""{"fields":[{"number":48,"type":"ans","length":1000,"prefix":"LL"}]}""", "field 48")]
    [InlineData("""{"fields":[{"number":3,"type":"n","length":6},{"number":3,"type":"n","length":6}]}""", "defined twice")]
    [InlineData("""{"fields":[{"number":64,"type":"b","length":8,"encoding":"ascii"}]}""", "cannot be written as Ascii")]
    [InlineData("""{"fields":[{"number":65,"type":"b","length":8}]}""", "bitmap bits")]
    [InlineData("""{"fields":[{"number":130,"type":"n","length":3}]}""", "tertiaryBitmap")]
    [InlineData("""{"bitmapEncoding":"octal","fields":[]}""", "bitmapEncoding")]
    [InlineData("""{"fields":[{"number":4,"type":"n","length":12,"padding":"left:x"}]}""", "pad character")]
    [InlineData("""{"fields":[{"number":3,"type":"n","length":6,"encoding":""}]}""", "\"encoding\"")]
    [InlineData("""{"fields":[{"number":3,"type":"n","length":6,"encoding":"1"}]}""", "\"encoding\"")]
    [InlineData("""{"fields": [""", "malformed")]
    public void Bad_spec_files_are_refused_naming_the_setting(string json, string expected)
    {
        var e = Assert.Throws<Iso8583SpecException>(() => MessageSpec.LoadJson(json));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_spec_file_can_choose_encodings_prefixes_and_padding()
    {
        var spec = MessageSpec.LoadJson("""
            {
              "name": "test", "mtiEncoding": "bcd", "bitmapEncoding": "hex",
              "fields": [
                { "number": 2, "type": "n", "length": 19, "prefix": "LL", "prefixEncoding": "bcd", "encoding": "bcd", "sensitivity": "pan" },
                { "number": 43, "type": "ans", "length": 40, "encoding": "ebcdic", "padding": "right:." }
              ]
            }
            """);

        var pan = spec.Get(2);
        Assert.Equal((FieldEncoding.Bcd, 1, FieldSensitivity.Pan), (pan.Encoding, pan.Prefix.ByteCount, pan.Sensitivity));
        var m = new IsoMessage(spec, "0100").Set(43, "ACME");
        Assert.Equal("ACME" + new string('.', 36), m.GetString(43));
        Samples.AssertSameMessage(m, IsoMessage.Unpack(m.Pack(), spec));
    }

    [Fact]
    public void The_spec_is_shared_safely_across_threads()
    {
        var spec = NetworkSpec.Messages;
        Parallel.For(0, 2000, i =>
        {
            var m = Samples.Withdrawal();
            m.Stan = i;
            Samples.AssertSameMessage(m, IsoMessage.Unpack(m.Pack(), spec));
        });
    }
}
