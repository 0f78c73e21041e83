namespace CardlessAtm.Security;

/// <summary>
/// Where a host keeps its named keys (terminal master keys <c>tmk-&lt;ATM&gt;</c>, session keys per version, phone
/// BDKs <c>bdk-&lt;id&gt;</c>, the PIN verification key <c>pvk</c>): the files of a <see cref="FileKeyStore"/> on one
/// host, or a table of keys wrapped under a key-encryption key that several hosts share (docs/scale-out.md).
/// Implementations never put key material in a message or an exception.
/// </summary>
public interface IKeyVault
{
    /// <summary>True when a key named <paramref name="name"/> is held.</summary>
    bool Contains(string name);

    /// <summary>Names of all keys held, in ordinal order.</summary>
    IReadOnlyList<string> List();

    /// <summary>Reads a key after checking its integrity (KCV, and for a wrapped key its authentication tag).</summary>
    /// <exception cref="SecurityException">Missing, tampered or malformed; the message names the key, never its value.</exception>
    SecretKey LoadKey(string name);

    /// <summary>Stores a key; refuses to replace an existing one unless <paramref name="overwrite"/>.</summary>
    /// <exception cref="KeyFileRejectedException">The key exists and <paramref name="overwrite"/> is false.</exception>
    void SaveKey(string name, SecretKey key, bool overwrite = false);

    /// <summary>Removes a key (a pruned, superseded one); false when there was none.</summary>
    bool Delete(string name);

    /// <summary>Where the key named <paramref name="name"/> lives, for an operator's message (a path or a table row; no secret).</summary>
    string Describe(string name);
}
