namespace CardlessAtm.Security;

/// <summary>Which security check failed. Hosts map these to ISO 8583 response codes.</summary>
public enum SecurityFailure
{
    /// <summary>A key has the wrong length for its algorithm, bad DES parity, or is degenerate (TDES halves equal).</summary>
    InvalidKey,
    /// <summary>A key's check value does not match the one it was delivered or entered with.</summary>
    KeyCheckValueMismatch,
    /// <summary>A message authentication code did not verify.</summary>
    MacMismatch,
    /// <summary>A DUKPT device has used up its transaction counter and must be re-injected.</summary>
    CounterExhausted,
    /// <summary>A key serial number is malformed or has an invalid transaction counter.</summary>
    InvalidKeySerialNumber,
    /// <summary>No base derivation key (or device enrolment) is known for the key serial number.</summary>
    UnknownDevice,
    /// <summary>A protected data structure is truncated, has a bad length, version or padding.</summary>
    MalformedData,
    /// <summary>The data was protected under the other security profile.</summary>
    ProfileMismatch,
    /// <summary>A PIN block does not decode (bad format nibble, PIN length, digits or filler).</summary>
    MalformedPinBlock,
    /// <summary>A PIN or account id supplied for protection is not acceptable (length or characters).</summary>
    InvalidCredentialFormat,
    /// <summary>A key file is readable by group or others, or is missing.</summary>
    KeyFileRejected,
    /// <summary>A key-change answer is not fresh: it answers another request's nonce, or its key version is not above the current one.</summary>
    StaleKeyChange,
    /// <summary>A key vault row is older than one this host has already used (restored from before a re-key).</summary>
    KeyRolledBack,
}

/// <summary>
/// Base of every error the security module raises. The message names the check that failed and where,
/// and never contains key material, a PIN, an account id or decrypted plaintext.
/// </summary>
public class SecurityException : Exception
{
    /// <summary>Creates the error.</summary>
    public SecurityException(SecurityFailure failure, string message)
        : base(message) => Failure = failure;

    /// <summary>Creates the error with the lower-level cause (whose text must also be secret-free).</summary>
    public SecurityException(SecurityFailure failure, string message, Exception innerException)
        : base(message, innerException) => Failure = failure;

    /// <summary>Creates a generic error (for serializers and tests).</summary>
    public SecurityException()
        : this(SecurityFailure.MalformedData, "Security check failed.")
    {
    }

    /// <summary>Creates a generic error (for serializers and tests).</summary>
    public SecurityException(string message)
        : this(SecurityFailure.MalformedData, message)
    {
    }

    /// <summary>Creates a generic error (for serializers and tests).</summary>
    public SecurityException(string message, Exception innerException)
        : this(SecurityFailure.MalformedData, message, innerException)
    {
    }

    /// <summary>Which check failed.</summary>
    public SecurityFailure Failure { get; }
}

/// <summary>A key has the wrong length, parity or structure.</summary>
public sealed class InvalidKeyException(string message) : SecurityException(SecurityFailure.InvalidKey, message);

/// <summary>A key check value did not match.</summary>
public sealed class KeyCheckValueMismatchException(string message) : SecurityException(SecurityFailure.KeyCheckValueMismatch, message);

/// <summary>A MAC did not verify.</summary>
public sealed class MacMismatchException(string message) : SecurityException(SecurityFailure.MacMismatch, message);

/// <summary>A DUKPT transaction counter is exhausted.</summary>
public sealed class DukptCounterExhaustedException(string message) : SecurityException(SecurityFailure.CounterExhausted, message);

/// <summary>A key serial number is malformed or not valid for DUKPT.</summary>
public sealed class InvalidKeySerialNumberException(string message) : SecurityException(SecurityFailure.InvalidKeySerialNumber, message);

/// <summary>No key is known for the device that sent the data.</summary>
public sealed class UnknownDeviceException(string message) : SecurityException(SecurityFailure.UnknownDevice, message);

/// <summary>A protected structure is truncated or malformed.</summary>
public sealed class MalformedDataException(string message) : SecurityException(SecurityFailure.MalformedData, message);

/// <summary>The data was built under a different security profile from the one configured here.</summary>
public sealed class ProfileMismatchException(string message) : SecurityException(SecurityFailure.ProfileMismatch, message);

/// <summary>A PIN block did not decode.</summary>
public sealed class MalformedPinBlockException(string message) : SecurityException(SecurityFailure.MalformedPinBlock, message);

/// <summary>A PIN or account id to protect is not acceptable.</summary>
public sealed class InvalidCredentialFormatException(string message) : SecurityException(SecurityFailure.InvalidCredentialFormat, message);

/// <summary>A key file was refused (permissions, missing, unreadable).</summary>
public sealed class KeyFileRejectedException(string message) : SecurityException(SecurityFailure.KeyFileRejected, message);

/// <summary>A key-change answer is not bound to this request (other nonce) or would not move the key version forward.</summary>
public sealed class StaleKeyChangeException(string message) : SecurityException(SecurityFailure.StaleKeyChange, message);

/// <summary>
/// A key vault row is at a lower row version than this host has already read or written (a row restored from before a
/// re-key or delete). Names the key and both versions, never the material.
/// </summary>
public sealed class KeyRollbackException : SecurityException
{
    /// <summary>Creates the error for <paramref name="name"/> read at <paramref name="version"/> below <paramref name="mark"/>.</summary>
    public KeyRollbackException(string name, long version, long mark)
        : base(SecurityFailure.KeyRolledBack, FormattableString.Invariant($"key '{name}' in the database key vault is at row version {version}, below the version {mark} this host has already used (a row restored from before a re-key); refusing it"))
    {
        Name = name;
        Version = version;
        Mark = mark;
    }

    /// <summary>The key's name.</summary>
    public string Name { get; }

    /// <summary>The row version read.</summary>
    public long Version { get; }

    /// <summary>The highest row version this host had read or written.</summary>
    public long Mark { get; }
}
