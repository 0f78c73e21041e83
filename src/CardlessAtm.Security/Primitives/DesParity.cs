using System.Numerics;

namespace CardlessAtm.Security.Primitives;

/// <summary>DES odd-parity helpers (the low bit of each key byte makes the byte's one-bit count odd).</summary>
public static class DesParity
{
    /// <summary>True when every byte has odd parity; otherwise <paramref name="firstBadByte"/> is the index of the first bad byte.</summary>
    public static bool HasOddParity(ReadOnlySpan<byte> key, out int firstBadByte)
    {
        for (var i = 0; i < key.Length; i++)
        {
            if ((BitOperations.PopCount(key[i]) & 1) == 0)
            {
                firstBadByte = i;
                return false;
            }
        }

        firstBadByte = -1;
        return true;
    }

    /// <summary>Sets the low bit of each byte so that it has odd parity.</summary>
    public static void AdjustToOdd(Span<byte> key)
    {
        for (var i = 0; i < key.Length; i++)
        {
            var high = key[i] & 0xFE;
            key[i] = (byte)(high | ((BitOperations.PopCount((uint)high) & 1) == 0 ? 1 : 0));
        }
    }
}
