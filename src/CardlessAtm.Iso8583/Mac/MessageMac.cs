using System.Security.Cryptography;

namespace CardlessAtm.Iso8583.Mac;

/// <summary>
/// Computes an 8-byte message MAC over a span (the security module supplies implementations, e.g. AES-CMAC
/// truncated to 8 bytes or ISO 9797-1 algorithm 3). Keeps this codec free of any key handling.
/// </summary>
public interface IMessageMac
{
    /// <summary>Computes the MAC of <paramref name="data"/>.</summary>
    /// <param name="data">The MAC input.</param>
    /// <param name="mac">Exactly 8 bytes, receives the MAC.</param>
    void ComputeMac(ReadOnlySpan<byte> data, Span<byte> mac);
}

/// <summary>The outcome of checking a message's MAC.</summary>
public enum MacCheckResult
{
    /// <summary>The MAC is present, in the right field, and correct.</summary>
    Valid,

    /// <summary>Neither field 64 nor field 128 is present.</summary>
    Missing,

    /// <summary>The MAC is in the wrong field (64 with a secondary bitmap, 128 without, or both present).</summary>
    WrongField,

    /// <summary>The MAC does not match.</summary>
    Mismatch,
}

/// <summary>
/// Applies and verifies the message MAC of our network: field 64 when the message has no secondary bitmap,
/// else field 128. MAC input = the packed message from the MTI up to (not including) the MAC field, with the
/// MAC's bitmap bit set.
/// </summary>
public static class MessageMac
{
    /// <summary>The MAC length in bytes.</summary>
    public const int Length = 8;

    /// <summary>The field that carries the MAC for this message's current fields: 128 if any field 65–127 is present, else 64.</summary>
    /// <param name="message">The message.</param>
    /// <returns>64 or 128.</returns>
    public static int MacField(IsoMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        foreach (var field in message.FieldNumbers)
        {
            if (field is > 64 and < 128 or > 128)
            {
                return 128;
            }
        }

        return 64;
    }

    /// <summary>Computes and sets the MAC (removing any MAC already present). Set every other field first.</summary>
    /// <param name="message">The message to sign.</param>
    /// <param name="mac">The MAC algorithm and key.</param>
    /// <exception cref="Iso8583FieldException">The spec does not define the MAC field.</exception>
    public static void Apply(IsoMessage message, IMessageMac mac)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(mac);
        message.Remove(64);
        message.Remove(128);
        var field = MacField(message);
        Span<byte> value = stackalloc byte[Length];
        message.SetBytes(field, value); // placeholder: sets the bitmap bit; its bytes are not part of the MAC input
        var input = MacInput(message, field, out var rented);
        try
        {
            mac.ComputeMac(input, value);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(rented);
        }

        message.SetBytes(field, value);
    }

    /// <summary>
    /// Checks the MAC in constant time. For an unpacked, unchanged message the received bytes are used exactly as
    /// they arrived; otherwise the message is packed.
    /// </summary>
    /// <param name="message">The received message.</param>
    /// <param name="mac">The MAC algorithm and key.</param>
    /// <returns>The outcome.</returns>
    public static MacCheckResult Verify(IsoMessage message, IMessageMac mac)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(mac);
        var has64 = message.TryGetValue(64, out var mac64);
        var has128 = message.TryGetValue(128, out var mac128);
        if (!has64 && !has128)
        {
            return MacCheckResult.Missing;
        }

        var expectedField = MacField(message);
        if (has64 && has128 || (has64 ? 64 : 128) != expectedField)
        {
            return MacCheckResult.WrongField;
        }

        var received = has64 ? mac64 : mac128;
        if (received.Length != Length)
        {
            return MacCheckResult.WrongField;
        }

        Span<byte> computed = stackalloc byte[Length];
        if (message.TryGetReceivedMacInput(expectedField, out var receivedInput))
        {
            mac.ComputeMac(receivedInput, computed);
        }
        else
        {
            var input = MacInput(message, expectedField, out var rented);
            try
            {
                mac.ComputeMac(input, computed);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(rented);
            }
        }

        return CryptographicOperations.FixedTimeEquals(computed, received) ? MacCheckResult.Valid : MacCheckResult.Mismatch;
    }

    private static ReadOnlySpan<byte> MacInput(IsoMessage message, int field, out byte[] buffer)
    {
        buffer = new byte[message.PackedLength];
        message.PackCore(buffer, field, out var macOffset);
        return buffer.AsSpan(0, macOffset);
    }
}
