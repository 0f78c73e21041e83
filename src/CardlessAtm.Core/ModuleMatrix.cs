using System.Collections;

namespace CardlessAtm;

/// <summary>
/// A square grid of QR modules (dark or light), without the quiet zone. It is what the QR module
/// produces and what every display draws, each in its own pixel format.
/// </summary>
public sealed class ModuleMatrix
{
    private readonly BitArray _dark;

    /// <summary>Creates a matrix from a row-major array of <paramref name="size"/>² module values (true = dark).</summary>
    /// <exception cref="ArgumentException">The array does not hold exactly size × size values.</exception>
    public ModuleMatrix(int size, ReadOnlySpan<bool> rowMajorDarkModules)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        if (rowMajorDarkModules.Length != size * size)
        {
            throw new ArgumentException(
                $"A {size}×{size} module matrix needs {size * size} values, got {rowMajorDarkModules.Length}.",
                nameof(rowMajorDarkModules));
        }

        Size = size;
        _dark = new BitArray(size * size);
        for (var i = 0; i < rowMajorDarkModules.Length; i++)
        {
            _dark[i] = rowMajorDarkModules[i];
        }
    }

    /// <summary>Modules per side (21 for QR version 1, +4 per version).</summary>
    public int Size { get; }

    /// <summary>Whether the module in column <paramref name="x"/>, row <paramref name="y"/> is dark.</summary>
    public bool IsDark(int x, int y)
    {
        if ((uint)x >= (uint)Size || (uint)y >= (uint)Size)
        {
            throw new ArgumentOutOfRangeException(x < 0 || x >= Size ? nameof(x) : nameof(y), $"Module ({x},{y}) is outside the {Size}×{Size} matrix.");
        }

        return _dark[(y * Size) + x];
    }
}
