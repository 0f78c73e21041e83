namespace CardlessAtm.Security.Tests;

internal static class TestHex
{
    public static byte[] Bytes(string hex) => Convert.FromHexString(hex);

    public static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes);

    public static SecretKey Key(KeyAlgorithm algorithm, string hex) => SecretKey.FromHex(algorithm, hex);

    public static string HexOf(SecretKey key) => Convert.ToHexString(key.ExportBytes());
}

internal static class PlatformKeys
{
    // OpenSSL 3 (the platform provider on Linux) accepts only 24-byte TDES keys: 2-key TDES is K1 K2 K1.
    public static byte[] ForPlatform(byte[] key) => key.Length == 16 ? [.. key, .. key.AsSpan(0, 8)] : key;
}
