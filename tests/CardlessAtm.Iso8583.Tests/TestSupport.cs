using System.Security.Cryptography;
using CardlessAtm.Iso8583.Mac;
using CardlessAtm.Iso8583.Spec;
using CardlessAtm.Network;

namespace CardlessAtm.Iso8583.Tests;

/// <summary>A real keyed MAC for tests (HMAC-SHA256 truncated to 8 bytes); records its last input.</summary>
internal sealed class TestMac(byte[] key) : IMessageMac
{
    public byte[]? LastInput { get; private set; }

    public void ComputeMac(ReadOnlySpan<byte> data, Span<byte> mac)
    {
        LastInput = data.ToArray();
        Span<byte> full = stackalloc byte[32];
        HMACSHA256.HashData(key, data, full);
        full[..8].CopyTo(mac);
    }
}

internal static class Samples
{
    public static readonly byte[] ProtectedData = Convert.FromHexString("0102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F20");

    /// <summary>A typical ATM → host 0200 (13 data elements).</summary>
    public static IsoMessage Withdrawal()
    {
        var m = new IsoMessage(NetworkSpec.Messages, Mti.FinancialRequest)
        {
            ProcessingCode = "010000",
            AmountMinor = 10_000,
            Stan = 123,
            RetrievalReferenceNumber = "633012000123",
            TerminalId = "ATM00001",
            SessionPayload = "CATM1:ATM00001:S7f3a9c2e:A10000:C978:E1764086400:N4b1d",
            CurrencyCode = 978,
            ProtectedData = ProtectedData,
        };
        m.Set(7, "1125143000").Set(12, "153000").Set(13, "1125");
        m.SetBytes(64, [1, 2, 3, 4, 5, 6, 7, 8]);
        return m;
    }

    /// <summary>A spec that exercises every encoding, prefix kind, padding, PAN masking and a tertiary bitmap.</summary>
    public static MessageSpec KitchenSink(BitmapEncoding bitmap = BitmapEncoding.Hex, FieldEncoding mti = FieldEncoding.Ascii) => new(
        "kitchen-sink",
        mti,
        bitmap,
        tertiaryBitmap: true,
        [
            new FieldDefinition(2, "PAN", FieldContent.Numeric, 19, new LengthPrefix(2, FieldEncoding.Ascii), FieldEncoding.Ascii, sensitivity: FieldSensitivity.Pan),
            new FieldDefinition(3, "Processing code BCD", FieldContent.Numeric, 6, LengthPrefix.Fixed, FieldEncoding.Bcd, Padding.LeftZeros),
            new FieldDefinition(4, "Amount EBCDIC", FieldContent.Numeric, 12, LengthPrefix.Fixed, FieldEncoding.Ebcdic, Padding.LeftZeros),
            new FieldDefinition(5, "Odd BCD LL", FieldContent.Numeric, 11, new LengthPrefix(2, FieldEncoding.Bcd), FieldEncoding.Bcd),
            new FieldDefinition(6, "Alpha", FieldContent.Alpha, 5, LengthPrefix.Fixed, FieldEncoding.Ascii, Padding.RightSpaces),
            new FieldDefinition(8, "Text binary-L", FieldContent.AlphaNumericSpecial, 200, new LengthPrefix(1, FieldEncoding.Binary), FieldEncoding.Ascii),
            new FieldDefinition(9, "Text EBCDIC LLL", FieldContent.AlphaNumericSpecial, 300, new LengthPrefix(3, FieldEncoding.Ebcdic), FieldEncoding.Ebcdic),
            new FieldDefinition(10, "Hex binary LL", FieldContent.Binary, 40, new LengthPrefix(2, FieldEncoding.Ascii), FieldEncoding.Hex),
            new FieldDefinition(35, "Track 2", FieldContent.Track, 37, new LengthPrefix(2, FieldEncoding.Ascii), FieldEncoding.Ascii, sensitivity: FieldSensitivity.Secret),
            new FieldDefinition(41, "Terminal", FieldContent.AlphaNumericSpecial, 8, LengthPrefix.Fixed, FieldEncoding.Ascii, Padding.RightSpaces),
            new FieldDefinition(52, "PIN block", FieldContent.Binary, 8, LengthPrefix.Fixed, FieldEncoding.Binary, sensitivity: FieldSensitivity.Secret),
            new FieldDefinition(60, "Binary LLLL binary-prefix", FieldContent.Binary, 2000, new LengthPrefix(4, FieldEncoding.Binary), FieldEncoding.Binary),
            new FieldDefinition(61, "AN LLLL BCD-prefix", FieldContent.AlphaNumeric, 1200, new LengthPrefix(4, FieldEncoding.Bcd), FieldEncoding.Ascii),
            new FieldDefinition(70, "NM code", FieldContent.Numeric, 3, LengthPrefix.Fixed, FieldEncoding.Ascii, Padding.LeftZeros),
            new FieldDefinition(100, "Track chars EBCDIC", FieldContent.Track, 20, new LengthPrefix(2, FieldEncoding.Ascii), FieldEncoding.Ebcdic),
            new FieldDefinition(128, "MAC 2", FieldContent.Binary, 8, LengthPrefix.Fixed, FieldEncoding.Binary, sensitivity: FieldSensitivity.Secret),
            new FieldDefinition(130, "Tertiary text", FieldContent.AlphaNumeric, 10, new LengthPrefix(2, FieldEncoding.Ascii), FieldEncoding.Ascii),
            new FieldDefinition(192, "Last", FieldContent.Numeric, 4, LengthPrefix.Fixed, FieldEncoding.Bcd, Padding.LeftZeros),
        ]);

    /// <summary>A random valid message from a seeded <see cref="Random"/>, so a fuzz failure can be replayed.</summary>
    public static IsoMessage RandomMessage(Random random, MessageSpec spec)
    {
        string[] mtis = ["0200", "0210", "0420", "0421", "0430", "0800", "0810"];
        var m = new IsoMessage(spec, mtis[random.Next(mtis.Length)]);
        foreach (var def in spec.Fields)
        {
            if (random.Next(3) != 0)
            {
                continue;
            }

            var length = def.IsFixed ? def.MaxLength : random.Next(0, Math.Min(def.MaxLength, 80) + 1);
            var value = new byte[length];
            var alphabet = def.Content switch
            {
                FieldContent.Numeric => "0123456789",
                FieldContent.Alpha => "ABCXYZabcxyz ",
                FieldContent.AlphaNumeric => "AZaz09 M5",
                FieldContent.Track => "0123456789=D?;",
                FieldContent.AlphaNumericSpecial => " !#$%&()*+,-./09:;<=>?@AZ[]^_az{|}~",
                _ => null,
            };
            for (var i = 0; i < length; i++)
            {
                value[i] = alphabet is null ? (byte)random.Next(256) : (byte)alphabet[random.Next(alphabet.Length)];
            }

            m.SetBytes(def.Number, value);
        }

        return m;
    }

    public static void AssertSameMessage(IsoMessage expected, IsoMessage actual)
    {
        Assert.Equal(expected.Mti, actual.Mti);
        Assert.Equal(expected.FieldNumbers, actual.FieldNumbers);
        foreach (var field in expected.FieldNumbers)
        {
            Assert.Equal(expected.GetBytes(field), actual.GetBytes(field));
        }
    }
}
