using System.Security.Cryptography;
using CardlessAtm.Security.Primitives;

namespace CardlessAtm.Security;

/// <summary>One key component as typed by a custodian in a key ceremony: hex digits and the KCV printed beside them.</summary>
public sealed record KeyComponentEntry(string Hex, string CheckValue)
{
    /// <summary>Never shows the component digits.</summary>
    public override string ToString() => $"key component (KCV {CheckValue})";
}

/// <summary>
/// Key components for dual control: a key is split into 2 or 3 components held by different custodians,
/// each with its own KCV; loading XORs them and checks the combined KCV. TDES components must carry odd
/// parity, and the combined TDES key is parity-adjusted (DES ignores parity bits, so this does not change
/// the key's effect or its KCV).
/// </summary>
public static class KeyComponents
{
    /// <summary>
    /// Combines 2 or 3 entered components after checking each one's length, parity and KCV, then checks
    /// the combined key against <paramref name="expectedKeyCheckValue"/> when given.
    /// </summary>
    /// <exception cref="InvalidKeyException">Wrong count, length, hex or parity (names the component number).</exception>
    /// <exception cref="KeyCheckValueMismatchException">A component's or the combined key's KCV differs.</exception>
    public static SecretKey Combine(KeyAlgorithm algorithm, IReadOnlyList<KeyComponentEntry> components, string? expectedKeyCheckValue = null)
    {
        ArgumentNullException.ThrowIfNull(components);
        if (components.Count is < 2 or > 3)
        {
            throw new InvalidKeyException($"A key is entered as 2 or 3 components; {components.Count} were given.");
        }

        var combined = new byte[algorithm.KeyLength()];
        try
        {
            for (var i = 0; i < components.Count; i++)
            {
                var name = $"Component {i + 1} of {components.Count}";
                using var component = SecretKey.FromHex(algorithm, components[i].Hex, requireOddParity: algorithm.IsTdes(), keyName: name);
                KeyCheckValue.Parse(components[i].CheckValue).Verify(component, name);
                var bytes = component.Material;
                for (var b = 0; b < combined.Length; b++)
                {
                    combined[b] ^= bytes[b];
                }
            }

            if (algorithm.IsTdes())
            {
                DesParity.AdjustToOdd(combined);
            }

            var key = SecretKey.Create(algorithm, combined, keyName: "Combined key");
            if (expectedKeyCheckValue is not null)
            {
                try
                {
                    KeyCheckValue.Parse(expectedKeyCheckValue).Verify(key, "Combined key");
                }
                catch
                {
                    key.Dispose();
                    throw;
                }
            }

            return key;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(combined);
        }
    }

    /// <summary>
    /// Splits <paramref name="key"/> into <paramref name="count"/> (2 or 3) random components whose XOR is
    /// the key (up to DES parity bits). Each component is returned as a key so its KCV can be printed.
    /// </summary>
    public static IReadOnlyList<SecretKey> Split(SecretKey key, int count)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (count is < 2 or > 3)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, "A key is split into 2 or 3 components.");
        }

        var components = new List<SecretKey>();
        var last = key.ExportBytes();
        try
        {
            for (var i = 0; i < count - 1; i++)
            {
                var component = SecretKey.Generate(key.Algorithm);
                components.Add(component);
                var bytes = component.Material;
                for (var b = 0; b < last.Length; b++)
                {
                    last[b] ^= bytes[b];
                }
            }

            if (key.Algorithm.IsTdes())
            {
                DesParity.AdjustToOdd(last);
            }

            components.Add(SecretKey.Create(key.Algorithm, last, keyName: $"Component {count}"));
            return components;
        }
        catch
        {
            foreach (var component in components)
            {
                component.Dispose();
            }

            throw;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(last);
        }
    }
}
