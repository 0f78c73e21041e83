using System.Globalization;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Security;

/// <summary>What <see cref="AtmClientCertificateValidator.Check"/> found.</summary>
/// <param name="Accepted">True when the certificate chains to the ATM CA, is valid now, names an ATM and is not denied.</param>
/// <param name="AtmId">The id the certificate names (null when it names none).</param>
/// <param name="Problem">Why it was refused (empty when accepted). Names no secret.</param>
/// <param name="Subject">The certificate's subject, for logs ("-" when there is no certificate).</param>
/// <param name="Serial">The certificate's serial as the deny list writes it ("-" when there is no certificate).</param>
public readonly record struct AtmCertificateCheck(bool Accepted, string? AtmId, string Problem, string Subject, string Serial);

/// <summary>
/// Validates ATM client certificates on the proxy's ATM port: the chain is built against the pinned ATM CA only
/// (custom root trust; the system store and any intermediate the client sends play no part), at the time of
/// <see cref="TimeProvider"/>, for client authentication; the certificate must name exactly one ATM id; and it must not
/// be on the <see cref="CertificateDenyList"/> (re-read when the file changes, so revocation needs no restart).
/// </summary>
public sealed class AtmClientCertificateValidator : IDisposable
{
    private readonly X509Certificate2 _authority;
    private readonly CertificateDenyList? _denyList;
    private readonly TimeProvider _time;
    private readonly ILogger _log;

    /// <summary>Creates the validator.</summary>
    /// <param name="authority">The ATM CA certificate (public part; a copy is kept).</param>
    /// <param name="denyList">Revoked certificates, or null for none.</param>
    /// <param name="timeProvider">The clock validity is checked against.</param>
    /// <param name="logger">Where refusals and deny-list reloads are logged.</param>
    public AtmClientCertificateValidator(X509Certificate2 authority, CertificateDenyList? denyList, TimeProvider? timeProvider = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(authority);
        _authority = X509CertificateLoader.LoadCertificate(authority.RawData);
        _denyList = denyList;
        _time = timeProvider ?? TimeProvider.System;
        _log = logger ?? NullLogger.Instance;
    }

    /// <summary>The pinned CA.</summary>
    public X509Certificate2 Authority => _authority;

    /// <summary>The deny list in force, or null.</summary>
    public CertificateDenyList? DenyList => _denyList;

    /// <summary>
    /// Server options for the ATM port: TLS 1.3, <paramref name="serverCertificate"/>, a client certificate required and
    /// accepted only when <see cref="Check"/> accepts it.
    /// </summary>
    public SslServerAuthenticationOptions ServerOptions(X509Certificate serverCertificate)
    {
        ArgumentNullException.ThrowIfNull(serverCertificate);
        return new SslServerAuthenticationOptions
        {
            ServerCertificate = serverCertificate,
            ServerCertificateContext = TlsSetup.CertificateContext(serverCertificate), // built once, not per handshake
            EnabledSslProtocols = SslProtocols.Tls13,
            ClientCertificateRequired = true,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = (_, certificate, _, _) => Accept(certificate),
        };
    }

    /// <summary>Checks a presented client certificate (the TLS library's own verdict is ignored: it trusts other roots).</summary>
    public AtmCertificateCheck Check(X509Certificate? presented)
    {
        if (presented is null)
        {
            return new AtmCertificateCheck(false, null, "no client certificate was presented", "-", "-");
        }

        var owned = presented as X509Certificate2 is null;
        var certificate = presented as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(presented.GetRawCertData());
        try
        {
            return CheckCertificate(certificate);
        }
        finally
        {
            if (owned)
            {
                certificate.Dispose();
            }
        }
    }

    /// <inheritdoc />
    public void Dispose() => _authority.Dispose();

    private bool Accept(X509Certificate? certificate)
    {
        var check = Check(certificate);
        if (!check.Accepted)
        {
            SecurityLog.AtmCertificateRefused(_log, check.Subject, check.Serial, check.Problem);
        }

        return check.Accepted;
    }

    private AtmCertificateCheck CheckCertificate(X509Certificate2 certificate)
    {
        var subject = certificate.Subject;
        var serial = AtmCertificates.SerialText(certificate);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(_authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(AtmCertificates.ClientAuthenticationOid));
        chain.ChainPolicy.VerificationTime = _time.GetUtcNow().UtcDateTime;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        if (!chain.Build(certificate))
        {
            var status = string.Join(", ", chain.ChainStatus.Select(s => s.Status.ToString()).Distinct());
            return new AtmCertificateCheck(false, null, $"it does not chain to the pinned ATM CA for client authentication now ({status})", subject, serial);
        }

        // Custom root trust already means the root is our CA; a chain of exactly leaf + CA also refuses intermediates.
        if (chain.ChainElements.Count != 2 || !chain.ChainElements[^1].Certificate.RawDataMemory.Span.SequenceEqual(_authority.RawDataMemory.Span))
        {
            return new AtmCertificateCheck(false, null, "it is not issued directly by the pinned ATM CA", subject, serial);
        }

        var atmId = AtmCertificates.ReadAtmId(certificate);
        if (atmId is null)
        {
            return new AtmCertificateCheck(false, null, "its subject does not name one ATM id (exactly one CN)", subject, serial);
        }

        if (_denyList is not null)
        {
            switch (_denyList.Refresh())
            {
                case DenyListRefresh.Reloaded:
                    SecurityLog.DenyListReloaded(_log, _denyList.Path, _denyList.Count);
                    break;
                case DenyListRefresh.Failed:
                    SecurityLog.DenyListReloadFailed(_log, _denyList.Path, _denyList.LastError ?? "-", _denyList.Count);
                    break;
            }

            if (_denyList.IsDenied(certificate))
            {
                return new AtmCertificateCheck(false, atmId, "it is on the deny list (revoked)", subject, serial);
            }
        }

        return new AtmCertificateCheck(true, atmId, string.Empty, subject, serial);
    }
}

/// <summary>What <see cref="CertificateDenyList.Refresh"/> did.</summary>
public enum DenyListRefresh
{
    /// <summary>The file has not changed since it was last read.</summary>
    Unchanged,

    /// <summary>The file changed and the new list is in force.</summary>
    Reloaded,

    /// <summary>The file changed but could not be read or parsed; the previous list stays in force.</summary>
    Failed,
}

/// <summary>
/// Revoked ATM certificates: a text file, one entry per line, <c>serial:HEX</c> (the serial number, as
/// <c>openssl x509 -serial</c> or <c>cardless-atm keys tls-client</c> prints it) or <c>cert-sha256:HEX</c> (the SHA-256
/// of the whole certificate); <c>#</c> starts a comment. The file is re-read whenever its modification time or length
/// changes (checked at each use, so no watcher thread and no restart). A file that cannot be read or parsed at a reload
/// keeps the previous list in force (deleting the file never un-revokes) and is reported.
/// </summary>
public sealed class CertificateDenyList
{
    /// <summary>Prefix of a serial-number entry.</summary>
    public const string SerialPrefix = "serial:";

    /// <summary>Prefix of a whole-certificate SHA-256 entry.</summary>
    public const string ThumbprintPrefix = "cert-sha256:";

    private readonly object _gate = new();
    private (DateTime WrittenUtc, long Length) _stamp;
    private Entries _entries;

    private CertificateDenyList(string path, (DateTime, long) stamp, Entries entries)
    {
        Path = path;
        _stamp = stamp;
        _entries = entries;
    }

    /// <summary>The file.</summary>
    public string Path { get; }

    /// <summary>Entries in force.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _entries.Serials.Count + _entries.Thumbprints.Count;
            }
        }
    }

    /// <summary>Why the last reload failed, or null when it did not.</summary>
    public string? LastError { get; private set; }

    /// <summary>Reads the list.</summary>
    /// <exception cref="FormatException">A line is not an entry; the message names the line.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    /// <exception cref="UnauthorizedAccessException">The file cannot be read.</exception>
    public static CertificateDenyList Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var stamp = StampOf(path);
        return new CertificateDenyList(path, stamp, Parse(path, File.ReadAllLines(path)));
    }

    /// <summary>Re-reads the file if it changed since it was last read.</summary>
    public DenyListRefresh Refresh()
    {
        lock (_gate)
        {
            (DateTime, long) stamp;
            try
            {
                stamp = StampOf(Path);
                if (stamp == _stamp)
                {
                    return DenyListRefresh.Unchanged;
                }

                _entries = Parse(Path, File.ReadAllLines(Path));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
            {
                var error = ex is FileNotFoundException ? $"the file '{Path}' is missing" : ex.Message;
                if (LastError == error)
                {
                    return DenyListRefresh.Unchanged; // reported once, not at every handshake
                }

                LastError = error;
                return DenyListRefresh.Failed;
            }

            _stamp = stamp;
            LastError = null;
            return DenyListRefresh.Reloaded;
        }
    }

    /// <summary>True when <paramref name="certificate"/>'s serial or SHA-256 is listed (as last read).</summary>
    public bool IsDenied(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var serial = Normalise(certificate.SerialNumber);
        var thumbprint = Convert.ToHexString(SHA256.HashData(certificate.RawData));
        lock (_gate)
        {
            return _entries.Serials.Contains(serial) || _entries.Thumbprints.Contains(thumbprint);
        }
    }

    private static (DateTime, long) StampOf(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new FileNotFoundException($"The deny list '{path}' does not exist.", path);
        }

        return (info.LastWriteTimeUtc, info.Length);
    }

    private static Entries Parse(string path, string[] lines)
    {
        var entries = new Entries(new HashSet<string>(StringComparer.Ordinal), new HashSet<string>(StringComparer.Ordinal));
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            var hash = line.IndexOf('#', StringComparison.Ordinal);
            var text = (hash >= 0 ? line[..hash] : line).Trim();
            if (text.Length == 0)
            {
                continue;
            }

            if (text.StartsWith(SerialPrefix, StringComparison.OrdinalIgnoreCase) && IsHex(Clean(text[SerialPrefix.Length..]), out var serial) && serial.Length > 0)
            {
                entries.Serials.Add(Normalise(serial));
            }
            else if (text.StartsWith(ThumbprintPrefix, StringComparison.OrdinalIgnoreCase) && IsHex(Clean(text[ThumbprintPrefix.Length..]), out var thumbprint) && thumbprint.Length == 64)
            {
                entries.Thumbprints.Add(thumbprint);
            }
            else
            {
                throw new FormatException(string.Create(CultureInfo.InvariantCulture, $"Deny list '{path}' line {i + 1} is not 'serial:<hex>' or 'cert-sha256:<64 hex digits>'."));
            }
        }

        return entries;
    }

    private static string Clean(string hex) => hex.Replace(":", string.Empty, StringComparison.Ordinal).Replace(" ", string.Empty, StringComparison.Ordinal).ToUpperInvariant();

    private static bool IsHex(string text, out string hex)
    {
        hex = text;
        return text.All(Uri.IsHexDigit);
    }

    // A serial written with or without its DER sign byte (00) is the same serial.
    private static string Normalise(string serialHex)
    {
        var trimmed = serialHex.ToUpperInvariant().TrimStart('0');
        return trimmed.Length == 0 ? "0" : trimmed;
    }

    private sealed record Entries(HashSet<string> Serials, HashSet<string> Thumbprints);
}

/// <summary>Security events of the TLS layer; none carries key material (subjects and serials are public).</summary>
internal static partial class SecurityLog
{
    [LoggerMessage(900, LogLevel.Warning, "SECURITY: ATM client certificate refused (subject {Subject}, {Serial}): {Problem}.")]
    public static partial void AtmCertificateRefused(ILogger logger, string subject, string serial, string problem);

    [LoggerMessage(901, LogLevel.Information, "ATM certificate deny list '{Path}' reloaded: {Count} entries in force.")]
    public static partial void DenyListReloaded(ILogger logger, string path, int count);

    [LoggerMessage(902, LogLevel.Error, "SECURITY: ATM certificate deny list '{Path}' could not be reloaded ({Error}); the previous {Count} entries stay in force.")]
    public static partial void DenyListReloadFailed(ILogger logger, string path, string error, int count);
}
