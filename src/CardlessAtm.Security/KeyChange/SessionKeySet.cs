namespace CardlessAtm.Security;

/// <summary>An ATM's session keys (MAC key, and optionally a PIN key), as delivered in field 120.</summary>
public sealed class SessionKeySet : IDisposable
{
    /// <summary>Creates the set; it takes ownership of the keys.</summary>
    public SessionKeySet(SecretKey macKey, SecretKey? pinKey)
    {
        ArgumentNullException.ThrowIfNull(macKey);
        MacKey = macKey;
        PinKey = pinKey;
    }

    /// <summary>The session MAC key for field 64/128.</summary>
    public SecretKey MacKey { get; }

    /// <summary>The session PIN key, when the host delivered one.</summary>
    public SecretKey? PinKey { get; }

    /// <summary>Zeroes both keys.</summary>
    public void Dispose()
    {
        MacKey.Dispose();
        PinKey?.Dispose();
    }

    /// <summary>Algorithms and check values only.</summary>
    public override string ToString() => PinKey is null ? $"Session keys: MAC {MacKey}" : $"Session keys: MAC {MacKey}, PIN {PinKey}";
}
