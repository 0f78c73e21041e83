using CardlessAtm.Network;

namespace CardlessAtm.Terminal;

/// <summary>
/// The rules for <see cref="TerminalOptions"/> (section <c>Terminal</c>): registered by
/// <see cref="TerminalServiceCollectionExtensions.AddTerminalOptions"/> and run at host start, and by
/// <see cref="AtmTerminal.Create"/> for a terminal built without DI. Every failure names the full setting.
/// </summary>
public sealed class TerminalOptionsValidator : ConfigurationValidator<TerminalOptions>
{
    /// <inheritdoc/>
    protected override void Check(TerminalOptions options) => ThrowIfInvalid(options);

    /// <summary>Checks the settings, then the links' certificate pins; throws naming the first setting at fault.</summary>
    /// <exception cref="ConfigurationException">A setting is missing or out of range; <see cref="ConfigurationException.Setting"/> names it.</exception>
    public static void ThrowIfInvalid(TerminalOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!CardlessAtm.AtmId.TryParse(options.AtmId, out _))
        {
            throw new ConfigurationException($"{TerminalOptions.SectionName}:{nameof(options.AtmId)}", $"'{options.AtmId}' is not an ATM id (8 characters, A–Z and 0–9)");
        }

        if (!CardlessAtm.Currency.TryFromCode(options.Currency, out _))
        {
            throw new ConfigurationException($"{TerminalOptions.SectionName}:{nameof(options.Currency)}", $"'{options.Currency}' is not a known ISO 4217 code");
        }

        if (!Texts.CustomerTextCatalogue.Has(options.Language))
        {
            throw new ConfigurationException(
                $"{TerminalOptions.SectionName}:{nameof(options.Language)}",
                $"'{options.Language}' is not a language the terminal has customer texts for ({string.Join(", ", Texts.CustomerTextCatalogue.Languages)}).");
        }

        foreach (var (name, endpoint) in new[] { (nameof(options.Host), options.Host), (nameof(options.Proxy), options.Proxy) })
        {
            if (string.IsNullOrWhiteSpace(endpoint.Address) || endpoint.Port is <= 0 or > 65535)
            {
                throw new ConfigurationException($"{TerminalOptions.SectionName}:{name}", $"must have an Address and a Port between 1 and 65535 (got '{endpoint}')");
            }

            endpoint.ValidateFailover($"{TerminalOptions.SectionName}:{name}");
        }

        ValidateLinkSecurity(options);
        ValidateProxyCertificate(options);
        ValidateQrImagePath(options);

        if (string.IsNullOrWhiteSpace(options.KeyStore))
        {
            throw new ConfigurationException($"{TerminalOptions.SectionName}:{nameof(options.KeyStore)}", $"must name the key-store directory that holds the terminal master key");
        }

        if (string.IsNullOrWhiteSpace(options.DataDirectory))
        {
            throw new ConfigurationException($"{TerminalOptions.SectionName}:{nameof(options.DataDirectory)}", $"must name a directory for the journal and the reversal queue");
        }

        if (options.ReversalMaxAttempts < 1)
        {
            throw new ConfigurationException($"{TerminalOptions.SectionName}:{nameof(options.ReversalMaxAttempts)}", $"must be at least 1 (got {options.ReversalMaxAttempts})");
        }

        ValidateRekey(options);
        if (options.StopTimeout <= TimeSpan.Zero)
        {
            throw new ConfigurationException($"{TerminalOptions.SectionName}:{nameof(options.StopTimeout)}", $"must be positive (got {options.StopTimeout})");
        }

        if (options.DispenseTimeout <= TimeSpan.Zero)
        {
            throw new ConfigurationException($"{TerminalOptions.SectionName}:{nameof(options.DispenseTimeout)}", $"must be positive (got {options.DispenseTimeout})");
        }

        if (options.PresentTimeout <= TimeSpan.Zero || options.PresentTimeout >= options.StopTimeout)
        {
            throw new ConfigurationException($"{TerminalOptions.SectionName}:{nameof(options.PresentTimeout)}", $"must be positive and below {TerminalOptions.SectionName}:{nameof(options.StopTimeout)} ({options.StopTimeout}; got {options.PresentTimeout})");
        }

        if (options.HostTimeout <= TimeSpan.Zero)
        {
            throw new ConfigurationException($"{TerminalOptions.SectionName}:{nameof(options.HostTimeout)}", $"must be positive (got {options.HostTimeout})");
        }

        if (options.MaxAmountMajor <= 0)
        {
            throw new ConfigurationException($"{TerminalOptions.SectionName}:{nameof(options.MaxAmountMajor)}", $"must be positive (got {options.MaxAmountMajor})");
        }

        if (options.ReversalRetryInitial <= TimeSpan.Zero)
        {
            throw new ConfigurationException($"{TerminalOptions.SectionName}:{nameof(options.ReversalRetryInitial)}", $"must be positive (got {options.ReversalRetryInitial})");
        }

        if (options.ReversalRetryMax < options.ReversalRetryInitial)
        {
            throw new ConfigurationException($"{TerminalOptions.SectionName}:{nameof(options.ReversalRetryMax)}", $"must be at least {TerminalOptions.SectionName}:{nameof(options.ReversalRetryInitial)} ({options.ReversalRetryInitial}; got {options.ReversalRetryMax})");
        }

        if (options.JournalMaxSegmentBytes < TerminalOptions.MinJournalSegmentBytes)
        {
            throw new ConfigurationException($"{TerminalOptions.SectionName}:{nameof(options.JournalMaxSegmentBytes)}", $"must be at least {TerminalOptions.MinJournalSegmentBytes} bytes (got {options.JournalMaxSegmentBytes})");
        }

        if (options.JournalRetentionDays < 1)
        {
            throw new ConfigurationException($"{TerminalOptions.SectionName}:{nameof(options.JournalRetentionDays)}", $"must be at least 1 day (got {options.JournalRetentionDays})");
        }

        // The pins are checked here, before any device opens (the links parse them again when they dial).
        _ = options.Host.Tls.ReadServerPin(TlsClientSettingNames.Under($"{TerminalOptions.SectionName}:Host:Tls"));
        _ = options.Proxy.Tls.ReadServerPin(TlsClientSettingNames.Under($"{TerminalOptions.SectionName}:Proxy:Tls"));
    }

    private static void ValidateRekey(TerminalOptions options)
    {
        const string section = TerminalOptions.SectionName + ":" + nameof(options.Rekey) + ":";
        if (options.Rekey is null)
        {
            throw new ConfigurationException(TerminalOptions.SectionName + ":" + nameof(options.Rekey), $"{TerminalOptions.SectionName}:{nameof(options.Rekey)} is required.");
        }

        if (options.Rekey.MaxAttempts < 1)
        {
            throw new ConfigurationException(section + nameof(TerminalRekeyOptions.MaxAttempts), $"{section}{nameof(TerminalRekeyOptions.MaxAttempts)} must be at least 1 (got {options.Rekey.MaxAttempts}).");
        }

        if (options.Rekey.RetryInitial <= TimeSpan.Zero)
        {
            throw new ConfigurationException(section + nameof(TerminalRekeyOptions.RetryInitial), $"{section}{nameof(TerminalRekeyOptions.RetryInitial)} must be positive (got {options.Rekey.RetryInitial}).");
        }

        if (options.Rekey.RetryMax < options.Rekey.RetryInitial)
        {
            throw new ConfigurationException(section + nameof(TerminalRekeyOptions.RetryMax), $"{section}{nameof(TerminalRekeyOptions.RetryMax)} must be at least {section}{nameof(TerminalRekeyOptions.RetryInitial)} (got {options.Rekey.RetryMax} < {options.Rekey.RetryInitial}).");
        }
    }

    // Secure by default: a link without TLS (or, to the proxy, without the ATM's certificate) must say Insecure = true.
    private static void ValidateQrImagePath(TerminalOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.Display.QrImagePath))
        {
            return;
        }

        var path = options.Display.QrImagePath;
        var setting = $"{TerminalOptions.SectionName}:{nameof(options.Display)}:{nameof(TerminalDisplayOptions.QrImagePath)}";
        if (!Path.IsPathFullyQualified(path) || !path.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
        {
            throw new ConfigurationException(setting, $"'{path}' must be a full path of a .png file (e.g. /tmp/atm-qr.png)");
        }

        if (!Directory.Exists(Path.GetDirectoryName(path)))
        {
            throw new ConfigurationException(setting, $"'{path}': the directory {Path.GetDirectoryName(path)} does not exist");
        }
    }

    private static void ValidateLinkSecurity(TerminalOptions options)
    {
        const string host = TerminalOptions.SectionName + ":" + nameof(options.Host);
        const string proxy = TerminalOptions.SectionName + ":" + nameof(options.Proxy);
        if (!options.Host.Tls.Enabled && !options.Host.Insecure)
        {
            throw new ConfigurationException(
                host + ":Tls:ServerPin",
                $"{host}:Tls:ServerPin must be the pin of the host's TLS certificate (as 'cardless-atm keys tls' prints it); plain TCP to the host needs {host}:Insecure = true.");
        }

        if (!options.Proxy.Insecure && !(options.Proxy.Tls.Enabled && options.Proxy.Tls.HasClientCertificate))
        {
            var missing = options.Proxy.Tls.Enabled ? "ClientCertificatePath" : "ServerPin";
            throw new ConfigurationException(
                $"{proxy}:Tls:{missing}",
                $"{proxy}:Tls needs ServerPin (the proxy's ATM-port certificate pin) and this ATM's certificate (ClientCertificatePath, ClientPrivateKeyPath, from 'cardless-atm keys tls-client'); {proxy}:Tls:{missing} is not set. Plain TCP or no ATM certificate needs {proxy}:Insecure = true.");
        }
    }

    // The proxy accepts this ATM's sign-on only for the id its certificate names: a mismatch is found here, not as a 63 in a reconnect loop.
    private static void ValidateProxyCertificate(TerminalOptions options)
    {
        // The host link's settings get the same check (pin format, a whole client pair, no client certificate without
        // TLS); it presents no ATM certificate the host binds, so the loaded pair is only checked here.
        options.Host.Tls.Validate(TerminalOptions.SectionName + ":" + nameof(options.Host) + ":" + nameof(EndpointOptions.Tls))?.Dispose();

        const string section = TerminalOptions.SectionName + ":" + nameof(options.Proxy) + ":" + nameof(EndpointOptions.Tls);
        using var certificate = options.Proxy.Tls.Validate(section);
        if (certificate is not null && Security.AtmCertificates.ReadAtmId(certificate) is var named && !string.Equals(named, options.AtmId, StringComparison.Ordinal))
        {
            throw new ConfigurationException(
                section + ":ClientCertificatePath",
                $"{section}:ClientCertificatePath '{options.Proxy.Tls.ClientCertificatePath}' names ATM '{named ?? "(none)"}', but {TerminalOptions.SectionName}:{nameof(options.AtmId)} is '{options.AtmId}'; the proxy would refuse the sign-on (63).");
        }
    }
}
