using System.Buffers.Binary;
using System.Numerics;
using System.Security.Cryptography;
using CardlessAtm.Security.Primitives;

namespace CardlessAtm.Security;

/// <summary>One DUKPT transaction on the device side: the KSN to send and the transaction key for it.</summary>
public sealed class DukptTransaction : IDisposable
{
    internal DukptTransaction(KeySerialNumber ksn, SecretKey transactionKey)
    {
        Ksn = ksn;
        TransactionKey = transactionKey;
    }

    /// <summary>The KSN that goes on the wire with this transaction.</summary>
    public KeySerialNumber Ksn { get; }

    /// <summary>The transaction (TDES) or intermediate derivation (AES) key for <see cref="Ksn"/>.</summary>
    public SecretKey TransactionKey { get; }

    /// <summary>Zeroes the transaction key.</summary>
    public void Dispose() => TransactionKey.Dispose();

    /// <summary>The KSN only.</summary>
    public override string ToString() => $"DUKPT transaction {Ksn}";
}

/// <summary>
/// The device (phone) side of DUKPT, for both schemes: after the initial key is loaded it is forgotten;
/// the device keeps one future key per counter bit (21 for TDES, 32 for AES) and derives the next ones
/// from the key it is about to use, so a captured device cannot recover keys of past transactions.
/// Counters with more one-bits than the scheme allows are skipped; when the counter space is used up,
/// <see cref="NextTransaction"/> throws <see cref="DukptCounterExhaustedException"/>.
/// Not thread-safe: one device state serves one phone. Persist <see cref="ExportState"/> after every
/// <see cref="NextTransaction"/> and before sending, so that a crash never reuses a KSN.
/// </summary>
public sealed class DukptDevice : IDisposable
{
    private const byte StateVersion = 1;
    private readonly SecretKey?[] _registers;
    private readonly KeySerialNumber _initialKsn;
    private uint _counter;
    private bool _exhausted;

    private DukptDevice(KeySerialNumber initialKsn, SecretKey?[] registers, uint counter, bool exhausted)
    {
        _initialKsn = initialKsn.WithCounter(0);
        _registers = registers;
        _counter = counter;
        _exhausted = exhausted;
    }

    /// <summary>TDES or AES DUKPT.</summary>
    public DukptKind Kind => _initialKsn.Kind;

    /// <summary>The device's identity (its KSN with the counter cleared).</summary>
    public string InitialKeyId => _initialKsn.InitialKeyId;

    /// <summary>True when no transaction is left.</summary>
    public bool IsExhausted => _exhausted;

    /// <summary>
    /// How many transactions are left: the valid counters from the next one to the end of the counter space
    /// (1 048 575 for a fresh TDES device, 2 448 023 842 for AES). Lets a phone warn before it runs out.
    /// </summary>
    public long RemainingTransactions => _exhausted
        ? 0
        : CountValidUpTo(_initialKsn.MaxCounter, _initialKsn.MaxOneBits) - CountValidUpTo(_counter - 1UL, _initialKsn.MaxOneBits);

    /// <summary>The KSN the next transaction will use (null when exhausted).</summary>
    public KeySerialNumber? NextKsn => _exhausted ? null : _initialKsn.WithCounter(_counter);

    /// <summary>
    /// Loads an initial key (injected at enrolment) and computes the future key registers; the initial key
    /// itself is not kept. <paramref name="initialKsn"/> must have a zero counter.
    /// </summary>
    /// <exception cref="InvalidKeyException">Key does not suit the KSN's scheme.</exception>
    /// <exception cref="InvalidKeySerialNumberException">Counter is not zero.</exception>
    public static DukptDevice LoadInitialKey(SecretKey initialKey, KeySerialNumber initialKsn)
    {
        ArgumentNullException.ThrowIfNull(initialKey);
        ArgumentNullException.ThrowIfNull(initialKsn);
        if (initialKsn.TransactionCounter != 0)
        {
            throw new InvalidKeySerialNumberException($"Initial KSN {initialKsn} must have a zero transaction counter.");
        }

        return CreateAtCounter(initialKey, initialKsn, 1);
    }

    /// <summary>
    /// Builds the state that a device would have just before using <paramref name="counter"/>; used by
    /// tests to reach the end of the counter space without a million transactions.
    /// </summary>
    internal static DukptDevice CreateAtCounter(SecretKey initialKey, KeySerialNumber initialKsn, uint counter)
    {
        RequireSchemeKey(initialKey, initialKsn.Kind);
        var bits = initialKsn.CounterBits;
        var registers = new SecretKey?[bits];
        var lowest = DukptDerivation.LowestSetBit(counter);
        for (var bit = lowest; bit < bits; bit++)
        {
            var mask = 1u << bit;
            if (bit == lowest)
            {
                registers[bit] = DukptDerivation.FromInitialKey(initialKsn.Kind, initialKey, initialKsn.WithCounter(counter));
            }
            else if ((counter & mask) == 0)
            {
                var future = (counter & ~((mask << 1) - 1)) | mask;
                if ((ulong)future <= initialKsn.MaxCounter && BitOperations.PopCount(future) <= initialKsn.MaxOneBits)
                {
                    registers[bit] = DukptDerivation.FromInitialKey(initialKsn.Kind, initialKey, initialKsn.WithCounter(future));
                }
            }
        }

        return new DukptDevice(initialKsn, registers, counter, exhausted: false);
    }

    /// <summary>
    /// Takes the next transaction: returns its KSN and key, derives the future keys below it, erases the
    /// used register and advances the counter (skipping counters with too many one-bits).
    /// </summary>
    /// <exception cref="DukptCounterExhaustedException">No transaction left; the phone must be re-enrolled.</exception>
    public DukptTransaction NextTransaction()
    {
        if (_exhausted)
        {
            throw new DukptCounterExhaustedException($"DUKPT device {InitialKeyId}: transaction counter exhausted; re-enrol the device with a new initial key.");
        }

        var counter = _counter;
        var bit = DukptDerivation.LowestSetBit(counter);
        var key = _registers[bit] ?? throw new DukptCounterExhaustedException($"DUKPT device {InitialKeyId}: no future key for counter {counter:X}; the device state is inconsistent and must be re-enrolled.");
        var oneBits = BitOperations.PopCount(counter);
        if (oneBits < _initialKsn.MaxOneBits)
        {
            for (var lower = bit - 1; lower >= 0; lower--)
            {
                _registers[lower]?.Dispose();
                _registers[lower] = DukptDerivation.DeriveChild(Kind, key, _initialKsn, counter | (1u << lower));
            }
        }

        _registers[bit] = null;
        var next = KeySerialNumber.NextValidCounter(counter, _initialKsn.MaxOneBits, _initialKsn.MaxCounter);
        if (next is null)
        {
            _exhausted = true;
        }
        else
        {
            _counter = next.Value;
        }

        return new DukptTransaction(_initialKsn.WithCounter(counter), key);
    }

    /// <summary>
    /// Serialises the device state (secret: the future keys). Store it only in the key store (0600 file).
    /// Layout: version(1) kind(1) ksnLength(1) ksn exhausted(1) registerBitmap(4, big-endian) then each
    /// present register as keyLength(1) key.
    /// </summary>
    public byte[] ExportState()
    {
        using var buffer = new MemoryStream();
        buffer.WriteByte(StateVersion);
        buffer.WriteByte((byte)Kind);
        var ksn = _initialKsn.WithCounter(_counter).Bytes;
        buffer.WriteByte((byte)ksn.Length);
        buffer.Write(ksn);
        buffer.WriteByte(_exhausted ? (byte)1 : (byte)0);
        uint bitmap = 0;
        for (var i = 0; i < _registers.Length; i++)
        {
            if (_registers[i] is not null)
            {
                bitmap |= 1u << i;
            }
        }

        Span<byte> bitmapBytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bitmapBytes, bitmap);
        buffer.Write(bitmapBytes);
        foreach (var register in _registers)
        {
            if (register is not null)
            {
                buffer.WriteByte((byte)register.Length);
                buffer.Write(register.Material);
            }
        }

        var state = buffer.ToArray();
        CryptographicOperations.ZeroMemory(buffer.GetBuffer());
        return state;
    }

    /// <summary>Restores a state written by <see cref="ExportState"/>.</summary>
    /// <exception cref="MalformedDataException">Truncated or inconsistent state.</exception>
    public static DukptDevice ImportState(ReadOnlySpan<byte> state)
    {
        var reader = new SpanReader(state, "DUKPT device state");
        if (reader.ReadByte("version") != StateVersion)
        {
            throw new MalformedDataException("DUKPT device state: unknown version.");
        }

        var kind = (DukptKind)reader.ReadByte("kind");
        if (kind is not (DukptKind.Tdes or DukptKind.Aes))
        {
            throw new MalformedDataException("DUKPT device state: unknown DUKPT kind.");
        }

        KeySerialNumber ksn;
        try
        {
            ksn = KeySerialNumber.FromBytes(reader.ReadBytes(reader.ReadByte("KSN length"), "KSN"));
        }
        catch (InvalidKeySerialNumberException ex)
        {
            throw new MalformedDataException($"DUKPT device state: {ex.Message}");
        }

        if (ksn.Kind != kind)
        {
            throw new MalformedDataException("DUKPT device state: KSN length does not match the DUKPT kind.");
        }

        var exhausted = reader.ReadByte("exhausted flag") != 0;
        var bitmap = BinaryPrimitives.ReadUInt32BigEndian(reader.ReadBytes(4, "register bitmap"));
        var registers = new SecretKey?[ksn.CounterBits];
        var algorithm = kind == DukptKind.Tdes ? KeyAlgorithm.Tdes2Key : (KeyAlgorithm?)null;
        try
        {
            for (var i = 0; i < 32; i++)
            {
                if ((bitmap & (1u << i)) == 0)
                {
                    continue;
                }

                if (i >= registers.Length)
                {
                    throw new MalformedDataException($"DUKPT device state: register {i} is beyond the {registers.Length}-bit counter.");
                }

                var length = reader.ReadByte("register length");
                var keyAlgorithm = algorithm ?? length switch
                {
                    16 => KeyAlgorithm.Aes128,
                    24 => KeyAlgorithm.Aes192,
                    32 => KeyAlgorithm.Aes256,
                    _ => throw new MalformedDataException($"DUKPT device state: register {i} has an invalid key length {length}."),
                };
                try
                {
                    registers[i] = SecretKey.Create(keyAlgorithm, reader.ReadBytes(length, "register key"), keyName: $"DUKPT register {i}");
                }
                catch (InvalidKeyException ex)
                {
                    throw new MalformedDataException($"DUKPT device state: {ex.Message}");
                }
            }

            reader.ExpectEnd();
            if (!exhausted && registers[DukptDerivation.LowestSetBit(ksn.TransactionCounter == 0 ? 1 : ksn.TransactionCounter)] is null)
            {
                throw new MalformedDataException("DUKPT device state: the register for the next counter is empty.");
            }

            return new DukptDevice(ksn, registers, ksn.TransactionCounter, exhausted);
        }
        catch
        {
            foreach (var register in registers)
            {
                register?.Dispose();
            }

            throw;
        }
    }

    /// <summary>Number of x in [1, limit] with at most <paramref name="maxOneBits"/> one-bits.</summary>
    internal static long CountValidUpTo(ulong limit, int maxOneBits)
    {
        long count = 0;
        var onesSoFar = 0;
        for (var bit = 63; bit >= 0; bit--)
        {
            if ((limit & (1UL << bit)) == 0)
            {
                continue;
            }

            // Numbers that match limit above this bit and have 0 here: the lower 'bit' bits are free.
            for (var ones = 0; ones <= maxOneBits - onesSoFar; ones++)
            {
                count += Binomial(bit, ones);
            }

            onesSoFar++;
            if (onesSoFar > maxOneBits)
            {
                return count - 1; // limit itself and everything above are out; drop x = 0
            }
        }

        return count; // + 1 for limit itself, - 1 for x = 0, which the branches above counted
    }

    private static long Binomial(int n, int k)
    {
        if (k < 0 || k > n)
        {
            return 0;
        }

        long result = 1;
        for (var i = 1; i <= k; i++)
        {
            result = result * (n - k + i) / i;
        }

        return result;
    }

    /// <summary>Zeroes all future keys.</summary>
    public void Dispose()
    {
        for (var i = 0; i < _registers.Length; i++)
        {
            _registers[i]?.Dispose();
            _registers[i] = null;
        }
    }

    /// <summary>Identity and next KSN only.</summary>
    public override string ToString() => $"{Kind} DUKPT device {InitialKeyId} (next KSN {NextKsn?.ToString() ?? "none: exhausted"})";

    private static void RequireSchemeKey(SecretKey key, DukptKind kind)
    {
        var ok = kind == DukptKind.Tdes ? key.Algorithm == KeyAlgorithm.Tdes2Key : key.Algorithm.IsAes();
        if (!ok)
        {
            throw new InvalidKeyException($"Initial key is {key.Algorithm.DisplayName()}; {kind} DUKPT needs {(kind == DukptKind.Tdes ? "a 2-key TDES" : "an AES")} key.");
        }
    }
}
