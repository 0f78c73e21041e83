using System.Security.Cryptography;
using System.Text;
using CardlessAtm.Qr.Payload;
using CardlessAtm.Qr.Sessions;
using Microsoft.Extensions.Time.Testing;
using ZXing;
using ZXing.Common;

namespace CardlessAtm.Qr.Tests;

/// <summary>
/// The test stand-in for the ATM's MAC key: HMAC-SHA256 truncated to 8 bytes. The security module's adapter
/// (retail MAC / AES-CMAC) replaces it in production; the payload format does not depend on which.
/// </summary>
internal sealed class HmacSha256TruncatedMac(byte[] key) : IQrPayloadMac
{
    public int ComputeCalls { get; private set; }

    public int VerifyCalls { get; private set; }

    public void Compute(ReadOnlySpan<byte> canonicalForm, Span<byte> tag)
    {
        ComputeCalls++;
        Span<byte> full = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HMACSHA256.HashData(key, canonicalForm, full);
        full[..QrPayloadFormat.MacLength].CopyTo(tag);
    }

    public bool Verify(ReadOnlySpan<byte> canonicalForm, ReadOnlySpan<byte> tag)
    {
        VerifyCalls++;
        Span<byte> expected = stackalloc byte[QrPayloadFormat.MacLength];
        Compute(canonicalForm, expected);
        ComputeCalls--;
        return tag.Length == expected.Length && CryptographicOperations.FixedTimeEquals(expected, tag);
    }
}

internal static class Fixtures
{
    /// <summary>Test key only (published here, used nowhere else): "QR payload test key, never in production" as ASCII.</summary>
    public static readonly byte[] TestKey = Encoding.ASCII.GetBytes("QR payload test key, never in production");

    public static readonly AtmId Atm = AtmId.Parse("ATM00001");

    public static readonly DateTimeOffset Start = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    public static FakeTimeProvider Clock() => new(Start);

    public static QrSessionOptions Options() => new() { Lifetime = TimeSpan.FromMinutes(2), MaxLifetime = TimeSpan.FromMinutes(10), ClockSkew = TimeSpan.FromSeconds(30) };

    public static QrSessionPayload Payload(long minorUnits = 5000, string currency = "EUR", AtmId? atm = null, DateTimeOffset? expires = null, byte[]? key = null, SessionNonce? nonce = null) =>
        QrPayloadFormat.Create(
            new QrSessionFields(atm ?? Atm, nonce ?? SessionNonce.CreateRandom(), Money.Of(minorUnits, currency), expires ?? Start.AddMinutes(2)),
            new HmacSha256TruncatedMac(key ?? TestKey));
}

/// <summary>ZXing.Net — the independent decoder — over grey-scale pixels.</summary>
internal static class ZxingDecoder
{
    public sealed record Decoded(string Text, string? ErrorCorrectionLevel);

    public static Decoded? Decode(byte[] luminance, int width, int height)
    {
        var reader = new BarcodeReaderGeneric
        {
            AutoRotate = false,
            Options = new DecodingOptions { PossibleFormats = [BarcodeFormat.QR_CODE], TryHarder = true },
        };
        var source = new RGBLuminanceSource(luminance, width, height, RGBLuminanceSource.BitmapFormat.Gray8);

        // ZXing's finder-pattern detector misses some perfect codes: 15 of 4,000 console renderings of random session
        // payloads (each read back in pure mode). Pure mode reads only an image that is a code and its quiet zone, so a
        // detector miss is retried in it rather than left to fail one test run in a few hundred.
        var result = reader.Decode(source) ?? new BarcodeReaderGeneric
        {
            AutoRotate = false,
            Options = new DecodingOptions { PossibleFormats = [BarcodeFormat.QR_CODE], PureBarcode = true },
        }.Decode(source);
        if (result is null)
        {
            return null;
        }

        var level = result.ResultMetadata is not null && result.ResultMetadata.TryGetValue(ResultMetadataType.ERROR_CORRECTION_LEVEL, out var l) ? l?.ToString() : null;
        return new Decoded(result.Text, level);
    }

    /// <summary>Asserts ZXing reads exactly the payload's bytes from the pixels.</summary>
    public static void AssertReads(string expected, byte[] luminance, int width, int height)
    {
        var decoded = Decode(luminance, width, height);
        Assert.NotNull(decoded);
        Assert.Equal(Encoding.ASCII.GetBytes(expected), Encoding.UTF8.GetBytes(decoded.Text));
        Assert.Equal("M", decoded.ErrorCorrectionLevel);
    }
}
