using System.Numerics;
using System.Security.Cryptography;

namespace CardlessAtm.Security;

/// <summary>
/// The one step both DUKPT schemes share: derive the child key for counter value <c>c</c> from the key
/// one level up the tree. The host walks from the initial key through the counter's one-bits (most
/// significant first); the device keeps the keys for future counters in registers (see <see cref="DukptDevice"/>).
/// </summary>
internal static class DukptDerivation
{
    public static SecretKey DeriveChild(DukptKind kind, SecretKey parent, KeySerialNumber initialKsn, uint counter)
    {
        if (kind == DukptKind.Tdes)
        {
            var register = initialKsn.WithCounter(counter).Bytes[2..].ToArray();
            Span<byte> child = stackalloc byte[16];
            try
            {
                TdesDukpt.NonReversibleKeyGeneration(parent.Material, register, child);
                return SecretKey.Create(KeyAlgorithm.Tdes2Key, child, keyName: "DUKPT key");
            }
            finally
            {
                CryptographicOperations.ZeroMemory(child);
            }
        }

        return AesDukpt.DeriveIntermediateKey(parent, initialKsn, counter);
    }

    public static SecretKey FromInitialKey(DukptKind kind, SecretKey initialKey, KeySerialNumber ksn)
    {
        var target = ksn.TransactionCounter;
        var bits = kind == DukptKind.Tdes ? 21 : 32;
        uint working = 0;
        SecretKey current = SecretKey.Create(initialKey.Algorithm, initialKey.Material, keyName: "DUKPT initial key");
        for (var bit = bits - 1; bit >= 0; bit--)
        {
            var mask = 1u << bit;
            if ((target & mask) == 0)
            {
                continue;
            }

            working |= mask;
            var next = DeriveChild(kind, current, ksn, working);
            current.Dispose();
            current = next;
        }

        return current;
    }

    public static int LowestSetBit(uint counter) => BitOperations.TrailingZeroCount(counter);
}
