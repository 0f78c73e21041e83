namespace CardlessAtm.Security.Primitives;

/// <summary>ISO/IEC 9797-1 padding methods used by the MACs and by field encryption.</summary>
public enum MacPadding
{
    /// <summary>Method 1: append zero bytes up to a whole block (an empty input becomes one zero block).</summary>
    Method1,
    /// <summary>Method 2: append 0x80, then zero bytes up to a whole block (always adds at least one byte).</summary>
    Method2,
}

/// <summary>Padding helpers.</summary>
public static class Padding
{
    /// <summary>Returns a new buffer with <paramref name="data"/> padded to <paramref name="blockLength"/>.</summary>
    public static byte[] Pad(ReadOnlySpan<byte> data, int blockLength, MacPadding method)
    {
        int length;
        if (method == MacPadding.Method2)
        {
            length = ((data.Length / blockLength) + 1) * blockLength;
        }
        else
        {
            length = data.Length == 0 ? blockLength : (data.Length + blockLength - 1) / blockLength * blockLength;
        }

        var padded = new byte[length];
        data.CopyTo(padded);
        if (method == MacPadding.Method2)
        {
            padded[data.Length] = 0x80;
        }

        return padded;
    }

    /// <summary>Length of the data before ISO 9797-1 method 2 padding.</summary>
    /// <exception cref="MalformedDataException">The padding is not 0x80 followed by zeros within the last block.</exception>
    public static int UnpaddedLengthMethod2(ReadOnlySpan<byte> padded, int blockLength)
    {
        var limit = Math.Max(0, padded.Length - blockLength);
        for (var i = padded.Length - 1; i >= limit; i--)
        {
            if (padded[i] == 0x80)
            {
                return i;
            }

            if (padded[i] != 0)
            {
                break;
            }
        }

        throw new MalformedDataException("Decrypted data does not end with ISO 9797-1 method 2 padding.");
    }
}
