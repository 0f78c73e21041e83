namespace CardlessAtm.Terminal;

/// <summary>A TCP peer: address and port.</summary>
public sealed partial class EndpointOptions
{
    /// <summary>Host name or IP address.</summary>
    public string Address { get; set; } = "127.0.0.1";

    /// <summary>TCP port.</summary>
    public int Port { get; set; }

    /// <summary>
    /// TLS 1.3 with the peer's pinned certificate (<c>…:Tls:ServerPin</c>), required unless <see cref="Insecure"/>. The proxy
    /// link also presents this ATM's client certificate (<c>…:Tls:ClientCertificatePath</c> and <c>ClientPrivateKeyPath</c>).
    /// </summary>
    public CardlessAtm.Network.TlsClientOptions Tls { get; set; } = new();

    /// <summary>
    /// <c>Terminal:Host:Insecure</c> / <c>Terminal:Proxy:Insecure</c>: true lets this link run without TLS (and, for the
    /// proxy link, without this ATM's client certificate), for a lab that chooses this knowingly; the terminal logs a
    /// warning at start-up. Default false: the link must be configured with <see cref="Tls"/>.
    /// </summary>
    public bool Insecure { get; set; }

    /// <inheritdoc />
    public override string ToString() => $"{Address}:{Port}";
}

/// <summary>What the terminal does with its screens besides showing them (configuration section <c>Terminal:Display</c>).</summary>
public sealed class TerminalDisplayOptions
{
    /// <summary>
    /// <c>Terminal:Display:QrImagePath</c>: a full path where the terminal writes each QR it shows as a PNG (removed when
    /// the QR screen ends), for <c>cardless-atm phone withdraw --qr FILE</c> in a lab. Off when empty (the default).
    /// </summary>
    public string? QrImagePath { get; set; }
}

/// <summary>
/// How the terminal re-keys after suspect session keys (configuration section <c>Terminal:Rekey</c>): a 0200 answered 63
/// or 96, a host answer whose MAC fails, or a reversal refused 63 (issue 13 item 4).
/// </summary>
public sealed class TerminalRekeyOptions
{
    /// <summary><c>Terminal:Rekey:MaxAttempts</c>: key change attempts before the ATM gives up and stays out of service (default 5).</summary>
    public int MaxAttempts { get; set; } = 5;

    /// <summary><c>Terminal:Rekey:RetryInitial</c>: the wait after the first failed attempt; doubles per failure (default 2 s).</summary>
    public TimeSpan RetryInitial { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary><c>Terminal:Rekey:RetryMax</c>: the longest wait between attempts (default 60 s).</summary>
    public TimeSpan RetryMax { get; set; } = TimeSpan.FromSeconds(60);
}

/// <summary>The ATM application's settings (configuration section <c>Terminal</c>).</summary>
public sealed class TerminalOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Terminal";

    /// <summary>The smallest <see cref="JournalMaxSegmentBytes"/> allowed (a few entries).</summary>
    public const long MinJournalSegmentBytes = 4096;

    /// <summary>This ATM's id (field 41, 8 characters), e.g. <c>ATM00001</c>.</summary>
    public string AtmId { get; set; } = string.Empty;

    /// <summary>The currency customers withdraw (ISO 4217 code).</summary>
    public string Currency { get; set; } = "EUR";

    /// <summary>
    /// The language of every customer text (ISO 639-1, lower case): one of
    /// <see cref="Texts.CustomerTextCatalogue.Languages"/>. Default <c>en</c>.
    /// </summary>
    public string Language { get; set; } = Texts.CustomerTextCatalogue.DefaultLanguage;

    /// <summary>The host to authorise with.</summary>
    public EndpointOptions Host { get; set; } = new();

    /// <summary>The proxy that forwards phones' requests.</summary>
    public EndpointOptions Proxy { get; set; } = new();

    /// <summary>Extra outputs of the customer display (the QR as a PNG file).</summary>
    public TerminalDisplayOptions Display { get; set; } = new();

    /// <summary>How the terminal re-keys after suspect session keys (<c>Terminal:Rekey</c>).</summary>
    public TerminalRekeyOptions Rekey { get; set; } = new();

    /// <summary>Directory of the key store holding the terminal master key.</summary>
    public string KeyStore { get; set; } = string.Empty;

    /// <summary>Name of the terminal master key in the key store.</summary>
    public string MasterKeyName { get; set; } = "tmk";

    /// <summary>Directory for the electronic journal and the store-and-forward queue.</summary>
    public string DataDirectory { get; set; } = string.Empty;

    /// <summary>How long to wait for the host's answer to a withdrawal.</summary>
    public TimeSpan HostTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Largest amount a customer may type, in major units.</summary>
    public int MaxAmountMajor { get; set; } = 1_000;

    /// <summary>How long the result screen stays before the ATM returns to idle.</summary>
    public TimeSpan ResultScreenTime { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long an amount-entry screen waits for a key before returning to idle.</summary>
    public TimeSpan KeyTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>First wait before repeating an unacknowledged reversal; doubles up to <see cref="ReversalRetryMax"/>.</summary>
    public TimeSpan ReversalRetryInitial { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest wait between reversal repeats.</summary>
    public TimeSpan ReversalRetryMax { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Attempts after which an unacknowledged reversal raises an alert (it is still repeated unless it needs an operator).</summary>
    public int ReversalMaxAttempts { get; set; } = 10;

    /// <summary>
    /// Longest a dispense may take before the terminal stops waiting for the device: the notes' fate is then
    /// unknown, the amount is reversed as suspect (reason 22) and the ATM goes out of service.
    /// </summary>
    public TimeSpan DispenseTimeout { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>
    /// <c>Terminal:PresentTimeout</c>: how long presented notes wait at the exit for the customer, on a dispenser that can
    /// tell they were taken. Then a dispenser that can retract pulls them into its retract bin and the retracted amount
    /// is reversed (reason 18); one that cannot leaves them, and they count as taken. Must be positive and below
    /// <see cref="StopTimeout"/> (a stop lets the withdrawal in flight finish, its present wait included). Default 20 s.
    /// </summary>
    public TimeSpan PresentTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// <c>Terminal:StopTimeout</c>: on SIGTERM or Ctrl+C, how long the terminal waits for the withdrawal in flight to finish
    /// (and be journalled) before it signs off. A withdrawal still running then is left as a crash leaves it: the next start
    /// settles it from the journal and the dispenser's counters. Default 40 s (the sample unit's
    /// <c>TimeoutStopSec=60</c> leaves 20 s for the sign-off and closing the links).
    /// </summary>
    public TimeSpan StopTimeout { get; set; } = TimeSpan.FromSeconds(40);

    /// <summary>Idle time after which an echo test checks each link.</summary>
    public TimeSpan EchoInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The journal's current segment is closed before it would grow past this size (and at every UTC midnight).</summary>
    public long JournalMaxSegmentBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>Closed journal segments are kept this many days (never one holding an unfinished withdrawal).</summary>
    public int JournalRetentionDays { get; set; } = 90;

    /// <summary>The journal's rotation and retention, from <see cref="JournalMaxSegmentBytes"/> and <see cref="JournalRetentionDays"/>.</summary>
    public Journal.JournalOptions Journal => new() { MaxSegmentBytes = JournalMaxSegmentBytes, RetentionDays = JournalRetentionDays };

    /// <summary>Checks the settings; the message names the setting at fault.</summary>
    /// <exception cref="ConfigurationException">A setting is missing or out of range; <see cref="ConfigurationException.Setting"/> names it.</exception>
    public void Validate()
    {
        if (!CardlessAtm.AtmId.TryParse(AtmId, out _))
        {
            throw new ConfigurationException($"{SectionName}:{nameof(AtmId)}", $"'{AtmId}' is not an ATM id (8 characters, A–Z and 0–9)");
        }

        if (!CardlessAtm.Currency.TryFromCode(Currency, out _))
        {
            throw new ConfigurationException($"{SectionName}:{nameof(Currency)}", $"'{Currency}' is not a known ISO 4217 code");
        }

        if (!Texts.CustomerTextCatalogue.Has(Language))
        {
            throw new ConfigurationException(
                $"{SectionName}:{nameof(Language)}",
                $"'{Language}' is not a language the terminal has customer texts for ({string.Join(", ", Texts.CustomerTextCatalogue.Languages)}).");
        }

        foreach (var (name, endpoint) in new[] { (nameof(Host), Host), (nameof(Proxy), Proxy) })
        {
            if (string.IsNullOrWhiteSpace(endpoint.Address) || endpoint.Port is <= 0 or > 65535)
            {
                throw new ConfigurationException($"{SectionName}:{name}", $"must have an Address and a Port between 1 and 65535 (got '{endpoint}')");
            }

            endpoint.ValidateFailover($"{SectionName}:{name}");
        }

        ValidateLinkSecurity();
        ValidateProxyCertificate();
        ValidateQrImagePath();

        if (string.IsNullOrWhiteSpace(KeyStore))
        {
            throw new ConfigurationException($"{SectionName}:{nameof(KeyStore)}", $"must name the key-store directory that holds the terminal master key");
        }

        if (string.IsNullOrWhiteSpace(DataDirectory))
        {
            throw new ConfigurationException($"{SectionName}:{nameof(DataDirectory)}", $"must name a directory for the journal and the reversal queue");
        }

        if (ReversalMaxAttempts < 1)
        {
            throw new ConfigurationException($"{SectionName}:{nameof(ReversalMaxAttempts)}", $"must be at least 1 (got {ReversalMaxAttempts})");
        }

        ValidateRekey();
        if (StopTimeout <= TimeSpan.Zero)
        {
            throw new ConfigurationException($"{SectionName}:{nameof(StopTimeout)}", $"must be positive (got {StopTimeout})");
        }

        if (DispenseTimeout <= TimeSpan.Zero)
        {
            throw new ConfigurationException($"{SectionName}:{nameof(DispenseTimeout)}", $"must be positive (got {DispenseTimeout})");
        }

        if (PresentTimeout <= TimeSpan.Zero || PresentTimeout >= StopTimeout)
        {
            throw new ConfigurationException($"{SectionName}:{nameof(PresentTimeout)}", $"must be positive and below {SectionName}:{nameof(StopTimeout)} ({StopTimeout}; got {PresentTimeout})");
        }

        if (HostTimeout <= TimeSpan.Zero)
        {
            throw new ConfigurationException($"{SectionName}:{nameof(HostTimeout)}", $"must be positive (got {HostTimeout})");
        }

        if (MaxAmountMajor <= 0)
        {
            throw new ConfigurationException($"{SectionName}:{nameof(MaxAmountMajor)}", $"must be positive (got {MaxAmountMajor})");
        }

        if (ReversalRetryInitial <= TimeSpan.Zero)
        {
            throw new ConfigurationException($"{SectionName}:{nameof(ReversalRetryInitial)}", $"must be positive (got {ReversalRetryInitial})");
        }

        if (ReversalRetryMax < ReversalRetryInitial)
        {
            throw new ConfigurationException($"{SectionName}:{nameof(ReversalRetryMax)}", $"must be at least {SectionName}:{nameof(ReversalRetryInitial)} ({ReversalRetryInitial}; got {ReversalRetryMax})");
        }

        if (JournalMaxSegmentBytes < MinJournalSegmentBytes)
        {
            throw new ConfigurationException($"{SectionName}:{nameof(JournalMaxSegmentBytes)}", $"must be at least {MinJournalSegmentBytes} bytes (got {JournalMaxSegmentBytes})");
        }

        if (JournalRetentionDays < 1)
        {
            throw new ConfigurationException($"{SectionName}:{nameof(JournalRetentionDays)}", $"must be at least 1 day (got {JournalRetentionDays})");
        }
    }

    private void ValidateRekey()
    {
        const string section = SectionName + ":" + nameof(Rekey) + ":";
        if (Rekey is null)
        {
            throw new ConfigurationException(SectionName + ":" + nameof(Rekey), $"{SectionName}:{nameof(Rekey)} is required.");
        }

        if (Rekey.MaxAttempts < 1)
        {
            throw new ConfigurationException(section + nameof(TerminalRekeyOptions.MaxAttempts), $"{section}{nameof(TerminalRekeyOptions.MaxAttempts)} must be at least 1 (got {Rekey.MaxAttempts}).");
        }

        if (Rekey.RetryInitial <= TimeSpan.Zero)
        {
            throw new ConfigurationException(section + nameof(TerminalRekeyOptions.RetryInitial), $"{section}{nameof(TerminalRekeyOptions.RetryInitial)} must be positive (got {Rekey.RetryInitial}).");
        }

        if (Rekey.RetryMax < Rekey.RetryInitial)
        {
            throw new ConfigurationException(section + nameof(TerminalRekeyOptions.RetryMax), $"{section}{nameof(TerminalRekeyOptions.RetryMax)} must be at least {section}{nameof(TerminalRekeyOptions.RetryInitial)} (got {Rekey.RetryMax} < {Rekey.RetryInitial}).");
        }
    }

    // Secure by default: a link without TLS (or, to the proxy, without the ATM's certificate) must say Insecure = true.
    private void ValidateQrImagePath()
    {
        if (string.IsNullOrWhiteSpace(Display.QrImagePath))
        {
            return;
        }

        var path = Display.QrImagePath;
        var setting = $"{SectionName}:{nameof(Display)}:{nameof(TerminalDisplayOptions.QrImagePath)}";
        if (!Path.IsPathFullyQualified(path) || !path.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
        {
            throw new ConfigurationException(setting, $"'{path}' must be a full path of a .png file (e.g. /tmp/atm-qr.png)");
        }

        if (!Directory.Exists(Path.GetDirectoryName(path)))
        {
            throw new ConfigurationException(setting, $"'{path}': the directory {Path.GetDirectoryName(path)} does not exist");
        }
    }

    private void ValidateLinkSecurity()
    {
        const string host = SectionName + ":" + nameof(Host);
        const string proxy = SectionName + ":" + nameof(Proxy);
        if (!Host.Tls.Enabled && !Host.Insecure)
        {
            throw new ConfigurationException(
                host + ":Tls:ServerPin",
                $"{host}:Tls:ServerPin must be the pin of the host's TLS certificate (as 'cardless-atm keys tls' prints it); plain TCP to the host needs {host}:Insecure = true.");
        }

        if (!Proxy.Insecure && !(Proxy.Tls.Enabled && Proxy.Tls.HasClientCertificate))
        {
            var missing = Proxy.Tls.Enabled ? "ClientCertificatePath" : "ServerPin";
            throw new ConfigurationException(
                $"{proxy}:Tls:{missing}",
                $"{proxy}:Tls needs ServerPin (the proxy's ATM-port certificate pin) and this ATM's certificate (ClientCertificatePath, ClientPrivateKeyPath, from 'cardless-atm keys tls-client'); {proxy}:Tls:{missing} is not set. Plain TCP or no ATM certificate needs {proxy}:Insecure = true.");
        }
    }

    // The proxy accepts this ATM's sign-on only for the id its certificate names: a mismatch is found here, not as a 63 in a reconnect loop.
    private void ValidateProxyCertificate()
    {
        // The host link's settings get the same check (pin format, a whole client pair, no client certificate without
        // TLS); it presents no ATM certificate the host binds, so the loaded pair is only checked here.
        Host.Tls.Validate(SectionName + ":" + nameof(Host) + ":" + nameof(EndpointOptions.Tls))?.Dispose();

        const string section = SectionName + ":" + nameof(Proxy) + ":" + nameof(EndpointOptions.Tls);
        using var certificate = Proxy.Tls.Validate(section);
        if (certificate is not null && Security.AtmCertificates.ReadAtmId(certificate) is var named && !string.Equals(named, AtmId, StringComparison.Ordinal))
        {
            throw new ConfigurationException(
                section + ":ClientCertificatePath",
                $"{section}:ClientCertificatePath '{Proxy.Tls.ClientCertificatePath}' names ATM '{named ?? "(none)"}', but {SectionName}:{nameof(AtmId)} is '{AtmId}'; the proxy would refuse the sign-on (63).");
        }
    }
}
