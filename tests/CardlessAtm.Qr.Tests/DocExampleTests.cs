using System.Text;
using System.Text.RegularExpressions;
using CardlessAtm.Qr.Payload;
using CardlessAtm.Qr.Sessions;
using CardlessAtm.Qr.Symbols;
using Microsoft.Extensions.Time.Testing;

namespace CardlessAtm.Qr.Tests;

/// <summary>docs/protocol/qr-payload.md's worked example decodes to the fields the document states.</summary>
public partial class DocExampleTests
{
    private static readonly string Doc = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "docs", "qr-payload.md"));

    private static string ExamplePayload()
    {
        var match = Regex.Match(Doc, @"<!-- example:payload -->\s*```text\s*\n(?<payload>[^\n]*)\n```");
        Assert.True(match.Success, "the document has no example payload block");
        return match.Groups["payload"].Value;
    }

    private static Dictionary<string, string> ExampleFields(string block = "fields")
    {
        var start = Doc.IndexOf($"<!-- example:{block} -->", StringComparison.Ordinal);
        var end = Doc.IndexOf($"<!-- /example:{block} -->", StringComparison.Ordinal);
        Assert.True(start >= 0 && end > start, "the document has no example fields table");
        return FieldRow().Matches(Doc[start..end]).ToDictionary(m => m.Groups["name"].Value.Trim(), m => m.Groups["value"].Value);
    }

    [GeneratedRegex(@"^\| (?<name>[^|`]+) \| `(?<value>[^`]*)` \|$", RegexOptions.Multiline)]
    private static partial Regex FieldRow();

    [Fact]
    public void The_example_payload_decodes_to_the_documented_fields()
    {
        var fields = ExampleFields();
        Assert.Equal(12, fields.Count);
        var result = QrPayloadFormat.Parse(ExamplePayload());

        Assert.True(result.IsAccepted, result.Rejection?.ToString());
        var payload = result.Payload;
        Assert.Equal(int.Parse(fields["format version"]), payload.FormatVersion);
        Assert.Equal(fields["ATM id"], payload.AtmId.Value);
        Assert.Equal(fields["nonce (base32)"], payload.Nonce.ToString());
        Assert.Equal(fields["nonce (hex)"], Convert.ToHexString(payload.Nonce.ToBytes()));
        Assert.Equal(long.Parse(fields["amount (minor units)"]), payload.Amount.MinorUnits);
        Assert.Equal(int.Parse(fields["currency (ISO 4217 numeric)"]), payload.Amount.Currency.NumericCode);
        Assert.Equal(fields["amount"], payload.Amount.ToString());
        Assert.Equal(long.Parse(fields["expiry (Unix seconds)"]), payload.ExpiresAt.ToUnixTimeSeconds());
        Assert.Equal(DateTimeOffset.Parse(fields["expiry (UTC)"]), payload.ExpiresAt);
        Assert.Equal(fields["canonical form"], Encoding.ASCII.GetString(payload.CanonicalForm()));
        Assert.Equal(fields["MAC (hex)"], Convert.ToHexString(payload.Mac));
        Assert.EndsWith("." + fields["MAC (base32)"], payload.Text);
    }

    [Fact]
    public void The_example_is_what_the_code_writes_and_verifies_under_the_documented_test_key()
    {
        var fields = ExampleFields();
        var mac = new HmacSha256TruncatedMac(Fixtures.TestKey);
        var written = QrPayloadFormat.Create(
            new QrSessionFields(
                AtmId.Parse(fields["ATM id"]),
                SessionNonce.FromBytes(Convert.FromHexString(fields["nonce (hex)"])),
                Money.Of(long.Parse(fields["amount (minor units)"]), "EUR"),
                DateTimeOffset.Parse(fields["expiry (UTC)"])),
            mac);
        Assert.Equal(ExamplePayload(), written.Text);

        // Issued at 12:00:00 with a 2-minute lifetime: still valid at 12:01:59.
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 25, 12, 1, 59, TimeSpan.Zero));
        var verifier = new QrSessionVerifier(mac, clock, new QrSessionOptions { ClockSkew = TimeSpan.Zero });
        Assert.True(verifier.Verify(ExamplePayload(), AtmId.Parse("ATM00001")).IsAccepted);
        Assert.Equal(4, QrSymbolEncoder.Encode(written).Version);
    }

    [Fact]
    public void The_AES_CMAC_variant_of_the_example_verifies_under_the_documented_key()
    {
        var cmac = ExampleFields("aes-cmac");
        var mac = new AesCmacTruncatedMac(Convert.FromHexString(cmac["key (hex)"]));
        var parsed = QrPayloadFormat.Parse(cmac["payload"]);

        Assert.True(parsed.IsAccepted, parsed.Rejection?.ToString());
        Assert.Equal(ExampleFields()["canonical form"], Encoding.ASCII.GetString(parsed.Payload.CanonicalForm()));
        Assert.Equal(cmac["MAC (hex)"], Convert.ToHexString(parsed.Payload.Mac));
        Assert.True(mac.Verify(parsed.Payload.CanonicalForm(), parsed.Payload.Mac));
        Assert.False(mac.Verify(QrPayloadFormat.Parse(ExamplePayload()).Payload!.CanonicalForm().Append((byte)'0').ToArray(), parsed.Payload.Mac));
    }

    /// <summary>AES-CMAC truncated to 8 bytes (BouncyCastle), as the security module's adapter computes it.</summary>
    private sealed class AesCmacTruncatedMac(byte[] key) : IQrPayloadMac
    {
        public void Compute(ReadOnlySpan<byte> canonicalForm, Span<byte> tag)
        {
            var cmac = new Org.BouncyCastle.Crypto.Macs.CMac(new Org.BouncyCastle.Crypto.Engines.AesEngine(), QrPayloadFormat.MacLength * 8);
            cmac.Init(new Org.BouncyCastle.Crypto.Parameters.KeyParameter(key));
            cmac.BlockUpdate(canonicalForm);
            cmac.DoFinal(tag);
        }

        public bool Verify(ReadOnlySpan<byte> canonicalForm, ReadOnlySpan<byte> tag)
        {
            Span<byte> expected = stackalloc byte[QrPayloadFormat.MacLength];
            Compute(canonicalForm, expected);
            return System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(expected, tag);
        }
    }
}
