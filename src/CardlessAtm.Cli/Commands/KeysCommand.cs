using System.CommandLine;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using CardlessAtm.Security;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace CardlessAtm.Cli.Commands;

/// <summary>
/// <c>cardless-atm keys …</c>: the key ceremony and key-store tools (see docs/security.md).
/// Exit codes: 0 done, 1 a security check failed (KCV mismatch, refused key file, …), 2 usage or configuration error.
/// </summary>
internal static class KeysCommand
{
    private static readonly Option<DirectoryInfo?> StoreOption = new("--store", "-s")
    {
        Description = "Key store directory (default: setting Security:KeyStore). Created with mode 0700; key files are 0600.",
        Recursive = true,
    };

    private static readonly Option<string?> ProfileOption = new("--profile")
    {
        Description = "Security profile, Aes or Legacy3Des (default: setting Security:Profile, else Aes).",
        Recursive = true,
    };

    public static Command Create()
    {
        var command = new Command("keys", "Key ceremony and key store: generate and split keys, load components with KCVs, enrol phones (DUKPT), make lab TLS pairs.");
        command.Options.Add(StoreOption);
        command.Options.Add(ProfileOption);
        command.Subcommands.Add(CreateGenerate());
        command.Subcommands.Add(CreateLoadComponents());
        command.Subcommands.Add(CreateCheck());
        command.Subcommands.Add(CreateList());
        command.Subcommands.Add(CreatePhoneEnroll());
        command.Subcommands.Add(CreateTls());
        command.Subcommands.Add(CreateTlsCa());
        command.Subcommands.Add(CreateTlsClient());
        return command;
    }

    private static Command CreateGenerate()
    {
        var name = new Option<string>("--name", "-n") { Description = "Key name, e.g. tmk-ATM00001, bdk-A1B2C3D4, pvk.", Required = true };
        var role = new Option<string>("--role") { Description = "tmk (terminal master key), bdk (phone base derivation key) or pvk (PIN verification key); decides the algorithm for the profile.", DefaultValueFactory = _ => "tmk" };
        var algorithm = new Option<string?>("--algorithm", "-a") { Description = "Override the algorithm: tdes2, tdes3, aes128, aes192, aes256." };
        var components = new Option<int>("--components") { Description = "Also print the key as 2 or 3 components with KCVs for the custodians (0 = do not split).", DefaultValueFactory = _ => 0 };
        var force = new Option<bool>("--force") { Description = "Replace an existing key of that name." };
        var command = new Command("generate", "Generate a random key into the store and print its KCV; with --components, print custodian components (each on its own line) for entry at the other end.")
        {
            name, role, algorithm, components, force,
        };
        command.SetAction(parse => Run(parse, context =>
        {
            var count = parse.GetValue(components);
            if (count is not (0 or 2 or 3))
            {
                throw new UsageException("--components must be 0, 2 or 3.");
            }

            var keyAlgorithm = ResolveAlgorithm(context.Profile, parse.GetValue(role)!, parse.GetValue(algorithm));
            using var key = SecretKey.Generate(keyAlgorithm);
            context.Store.SaveKey(parse.GetValue(name)!, key, parse.GetValue(force));
            Console.WriteLine($"Stored {parse.GetValue(name)} ({keyAlgorithm.DisplayName()}) in {context.Store.PathOf(parse.GetValue(name)!)}");
            Console.WriteLine($"Key check value: {key.CheckValue}");
            if (count > 0)
            {
                Console.WriteLine($"Components for {count} custodians. Give each custodian ONLY their own line; clear the screen afterwards.");
                var parts = KeyComponents.Split(key, count);
                for (var i = 0; i < parts.Count; i++)
                {
                    using var part = parts[i];
                    var bytes = part.ExportBytes();
                    Console.WriteLine($"  component {i + 1}: {Group(Convert.ToHexString(bytes))}   KCV {part.CheckValue}");
                    System.Security.Cryptography.CryptographicOperations.ZeroMemory(bytes);
                }
            }

            return 0;
        }));
        return command;
    }

    private static Command CreateLoadComponents()
    {
        var name = new Option<string>("--name", "-n") { Description = "Key name to store the combined key under, e.g. tmk-ATM00001.", Required = true };
        var role = new Option<string>("--role") { Description = "tmk, bdk or pvk (decides the algorithm for the profile).", DefaultValueFactory = _ => "tmk" };
        var algorithm = new Option<string?>("--algorithm", "-a") { Description = "Override the algorithm: tdes2, tdes3, aes128, aes192, aes256." };
        var count = new Option<int>("--components") { Description = "Number of components: 2 or 3.", DefaultValueFactory = _ => 2 };
        var kcv = new Option<string?>("--kcv") { Description = "KCV of the combined key as printed at generation; the load is refused if it differs." };
        var force = new Option<bool>("--force") { Description = "Replace an existing key of that name." };
        var command = new Command("load-components", "Key ceremony: each custodian types their component and its KCV (hidden input on a terminal; 'HEX KCV' lines on standard input otherwise). Each component and the combined key are checked against their KCVs before anything is stored.")
        {
            name, role, algorithm, count, kcv, force,
        };
        command.SetAction(parse => Run(parse, context =>
        {
            var keyAlgorithm = ResolveAlgorithm(context.Profile, parse.GetValue(role)!, parse.GetValue(algorithm));
            var n = parse.GetValue(count);
            if (n is not (2 or 3))
            {
                throw new UsageException("--components must be 2 or 3.");
            }

            var entries = new List<KeyComponentEntry>();
            for (var i = 1; i <= n; i++)
            {
                var hex = ReadSecretLine($"Custodian {i} of {n}: component ({keyAlgorithm.KeyLength() * 2} hex digits, not echoed): ");
                string check;
                if (Console.IsInputRedirected)
                {
                    var space = hex.LastIndexOf(' ');
                    if (space < 0)
                    {
                        throw new UsageException($"Standard input line {i} must be 'HEX KCV'.");
                    }

                    check = hex[(space + 1)..];
                    hex = hex[..space];
                }
                else
                {
                    Console.Write($"Custodian {i} of {n}: KCV printed beside the component: ");
                    check = Console.ReadLine() ?? string.Empty;
                }

                entries.Add(new KeyComponentEntry(hex.Trim(), check.Trim()));
            }

            using var key = KeyComponents.Combine(keyAlgorithm, entries, parse.GetValue(kcv));
            context.Store.SaveKey(parse.GetValue(name)!, key, parse.GetValue(force));
            Console.WriteLine($"All {n} component KCVs verified. Stored {parse.GetValue(name)} ({keyAlgorithm.DisplayName()}), KCV {key.CheckValue}, in {context.Store.PathOf(parse.GetValue(name)!)}");
            return 0;
        }));
        return command;
    }

    private static Command CreateCheck()
    {
        var name = new Option<string>("--name", "-n") { Description = "Key name.", Required = true };
        var kcv = new Option<string?>("--kcv") { Description = "Expected KCV; exit code 1 when it differs." };
        var command = new Command("check", "Load a key (refusing a file that group or others can read) and print its algorithm and KCV, or compare it with --kcv.") { name, kcv };
        command.SetAction(parse => Run(parse, context =>
        {
            using var key = context.Store.LoadKey(parse.GetValue(name)!);
            var expected = parse.GetValue(kcv);
            if (expected is not null)
            {
                KeyCheckValue.Parse(expected).Verify(key, parse.GetValue(name)!);
            }

            Console.WriteLine($"{parse.GetValue(name)}: {key.Algorithm.DisplayName()}, KCV {key.CheckValue}{(expected is null ? string.Empty : " (matches)")}");
            return 0;
        }));
        return command;
    }

    private static Command CreateList()
    {
        var command = new Command("list", "List the keys in the store with algorithm and KCV (each file's permissions are checked).");
        command.SetAction(parse => Run(parse, context =>
        {
            var failed = false;
            foreach (var keyName in context.Store.List())
            {
                try
                {
                    if (context.Store.TypeOf(keyName) == "dukpt-device")
                    {
                        using var device = context.Store.LoadDukptDevice(keyName);
                        Console.WriteLine($"{keyName,-28} {device.Kind} DUKPT device {device.InitialKeyId}, next KSN {device.NextKsn?.ToString() ?? "none (exhausted)"}");
                    }
                    else
                    {
                        using var key = context.Store.LoadKey(keyName);
                        Console.WriteLine($"{keyName,-28} {key.Algorithm.DisplayName(),-10} KCV {key.CheckValue}");
                    }
                }
                catch (SecurityException e)
                {
                    Console.Error.WriteLine(e.Message);
                    failed = true;
                }
            }

            return failed ? 1 : 0;
        }));
        return command;
    }

    private static Command CreatePhoneEnroll()
    {
        var bdkName = new Option<string?>("--bdk") { Description = "Name of the BDK in --store (default: bdk-<id from the KSN>)." };
        var ksn = new Option<string>("--ksn") { Description = "The phone's initial KSN with a zero counter: 24 hex digits (Aes: BDK id + derivation id + 00000000) or 20 (Legacy3Des).", Required = true };
        var phoneStore = new Option<DirectoryInfo>("--phone-store") { Description = "The phone's own key store directory, where its DUKPT state is written.", Required = true };
        var phoneKey = new Option<string>("--phone-key") { Description = "Name of the phone's DUKPT state file.", DefaultValueFactory = _ => "phone-dukpt" };
        var force = new Option<bool>("--force") { Description = "Replace an existing DUKPT state (re-enrolment)." };
        var command = new Command("phone-enroll", "Inject a phone: derive its DUKPT initial key from the BDK and its initial KSN, load it into a DUKPT device (future keys only; the initial key is not kept) and write the device state to the phone's key store.")
        {
            bdkName, ksn, phoneStore, phoneKey, force,
        };
        command.SetAction(parse => Run(parse, context =>
        {
            var initialKsn = KeySerialNumber.Parse(parse.GetValue(ksn)!);
            var name = parse.GetValue(bdkName) ?? KeyStoreBaseDerivationKeyProvider.KeyNameFor(initialKsn);
            using var bdk = context.Store.LoadKey(name);
            var target = new FileKeyStore(parse.GetValue(phoneStore)!.FullName);
            var stateName = parse.GetValue(phoneKey)!;
            if (target.Contains(stateName) && !parse.GetValue(force))
            {
                throw new UsageException($"{target.PathOf(stateName)} already exists; pass --force to re-enrol (the old DUKPT state is discarded).");
            }

            using var initialKey = context.Profile.DeriveInitialKey(bdk, initialKsn);
            using var device = context.Profile.LoadPhoneDevice(initialKey, initialKsn);
            target.SaveDukptDevice(stateName, device);
            Console.WriteLine($"Enrolled {context.Profile.Kind} phone {device.InitialKeyId} under {name}; first KSN {device.NextKsn}; state in {target.PathOf(stateName)}");
            Console.WriteLine($"Note: the host does not know device {device.InitialKeyId} from this command; its requests are declined 63 until the host records it for an account. 'cardless-atm host phones enroll -a ACCOUNT --export-to DIR' does both in one step.");
            return 0;
        }));
        return command;
    }

    private static Command CreateTls()
    {
        var name = new Option<string>("--name", "-n") { Description = "Common name and file stem, e.g. host, proxy, atm00001.", Required = true };
        var output = new Option<DirectoryInfo>("--out", "-o") { Description = "Directory for <name>.crt (0644) and <name>.key (0600).", Required = true };
        var days = new Option<int>("--days") { Description = "Validity in days.", DefaultValueFactory = _ => 365 };
        var command = new Command("tls", "Make a self-signed ECDSA P-256 certificate and key for a lab TLS 1.3 link and print the pin the peer configures.") { name, output, days };
        command.SetAction(parse => Run(parse, _ =>
        {
            var directory = parse.GetValue(output)!;
            FileKeyStore.CreatePrivateDirectory(directory.FullName);
            var stem = parse.GetValue(name)!;
            using var certificate = LabCertificates.CreateSelfSigned(stem, TimeProvider.System, TimeSpan.FromDays(parse.GetValue(days)));
            var certPath = Path.Combine(directory.FullName, stem + ".crt");
            var keyPath = Path.Combine(directory.FullName, stem + ".key");
            if (File.Exists(certPath) || File.Exists(keyPath))
            {
                throw new UsageException($"{certPath} or {keyPath} already exists; remove them first.");
            }

            var pin = LabCertificates.WritePem(certificate, certPath, keyPath);
            Console.WriteLine($"Certificate: {certPath}");
            Console.WriteLine($"Private key: {keyPath} (mode 0600)");
            Console.WriteLine($"Pin for peers: {pin}");
            return 0;
        }, needsStore: false));
        return command;
    }

    private static Command CreateTlsCa()
    {
        var output = new Option<DirectoryInfo>("--out", "-o") { Description = "Directory for atm-ca.crt (0644, give it to every proxy) and atm-ca.key (0600, keep it offline).", Required = true };
        var name = new Option<string>("--name", "-n") { Description = "The CA's common name.", DefaultValueFactory = _ => "CardlessAtm lab ATM CA" };
        var days = new Option<int>("--days") { Description = "Validity in days.", DefaultValueFactory = _ => 1825 };
        var command = new Command("tls-ca", "Make the lab ATM certificate authority (ECDSA P-256) that issues each ATM's TLS client certificate; the proxy pins its certificate (Proxy:Atm:Tls:ClientCaCertificatePath).") { output, name, days };
        command.SetAction(parse => Run(parse, _ =>
        {
            var directory = parse.GetValue(output)!;
            FileKeyStore.CreatePrivateDirectory(directory.FullName);
            var (certPath, keyPath) = PairPaths(directory, "atm-ca");
            using var authority = AtmCertificates.CreateAuthority(parse.GetValue(name)!, TimeProvider.System, Days(parse.GetValue(days)));
            LabCertificates.WritePem(authority, certPath, keyPath);
            Console.WriteLine($"ATM CA certificate: {certPath}  (set Proxy:Atm:Tls:ClientCaCertificatePath to it)");
            Console.WriteLine($"ATM CA private key: {keyPath} (mode 0600; only 'keys tls-client' needs it: keep it off the proxy)");
            Console.WriteLine($"CA fingerprint: {CertificatePin.ForCertificate(authority)}");
            return 0;
        }, needsStore: false));
        return command;
    }

    private static Command CreateTlsClient()
    {
        var atm = new Option<string>("--atm") { Description = "The ATM id the certificate names (its subject CN), e.g. ATM00001.", Required = true };
        var ca = new Option<FileInfo>("--ca") { Description = "The ATM CA certificate written by 'keys tls-ca' (atm-ca.crt).", Required = true };
        var caKey = new Option<FileInfo?>("--ca-key") { Description = "The ATM CA private key (default: the --ca path with .key for .crt)." };
        var output = new Option<DirectoryInfo>("--out", "-o") { Description = "Directory for <ATM id>.crt (0644) and <ATM id>.key (0600), installed on that ATM.", Required = true };
        var days = new Option<int>("--days") { Description = "Validity in days (never past the CA's).", DefaultValueFactory = _ => 365 };
        var command = new Command("tls-client", "Issue an ATM's TLS client certificate, signed by the ATM CA; the proxy accepts that ATM's sign-on only for the id it names. Prints the serial to put on the deny list if the ATM is lost.") { atm, ca, caKey, output, days };
        command.SetAction(parse => Run(parse, _ =>
        {
            var atmId = parse.GetValue(atm)!;
            if (!CardlessAtm.AtmId.TryParse(atmId, out var _))
            {
                throw new UsageException($"--atm '{atmId}' is not an ATM id (8 characters, A-Z and 0-9).");
            }

            var caPath = parse.GetValue(ca)!.FullName;
            var caKeyPath = parse.GetValue(caKey)?.FullName ?? Path.ChangeExtension(caPath, ".key");
            X509Certificate2 authority;
            try
            {
                authority = LabCertificates.LoadPem(caPath, caKeyPath);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
            {
                throw new UsageException($"--ca: cannot load the ATM CA '{caPath}' with its key '{caKeyPath}': {e.Message}");
            }

            using (authority)
            {
                var directory = parse.GetValue(output)!;
                FileKeyStore.CreatePrivateDirectory(directory.FullName);
                var (certPath, keyPath) = PairPaths(directory, atmId);
                X509Certificate2 issued;
                try
                {
                    issued = AtmCertificates.IssueAtmCertificate(authority, atmId, TimeProvider.System, Days(parse.GetValue(days)));
                }
                catch (ArgumentException e)
                {
                    throw new UsageException($"--ca: {e.Message}");
                }

                using (issued)
                {
                    LabCertificates.WritePem(issued, certPath, keyPath);
                    Console.WriteLine($"ATM {atmId} certificate: {certPath}  (Terminal:Proxy:Tls:ClientCertificatePath)");
                    Console.WriteLine($"ATM {atmId} private key: {keyPath} (mode 0600; Terminal:Proxy:Tls:ClientPrivateKeyPath)");
                    Console.WriteLine($"Valid until {issued.NotAfter.ToUniversalTime():yyyy-MM-dd} UTC. To revoke, add this line to the proxy's deny list: {AtmCertificates.SerialText(issued)}");
                }
            }

            return 0;
        }, needsStore: false));
        return command;
    }

    private static (string Certificate, string Key) PairPaths(DirectoryInfo directory, string stem)
    {
        var certPath = Path.Combine(directory.FullName, stem + ".crt");
        var keyPath = Path.Combine(directory.FullName, stem + ".key");
        if (File.Exists(certPath) || File.Exists(keyPath))
        {
            throw new UsageException($"{certPath} or {keyPath} already exists; remove them first.");
        }

        return (certPath, keyPath);
    }

    private static TimeSpan Days(int days) => days >= 1 ? TimeSpan.FromDays(days) : throw new UsageException($"--days must be at least 1 (got {days}).");

    private static KeyAlgorithm ResolveAlgorithm(ISecurityProfile profile, string role, string? algorithm)
    {
        if (algorithm is not null)
        {
            try
            {
                return KeyAlgorithms.Parse(algorithm);
            }
            catch (ArgumentException e)
            {
                throw new UsageException($"--algorithm: {e.Message}");
            }
        }

        return role.ToUpperInvariant() switch
        {
            "TMK" => profile.TerminalMasterKeyAlgorithm,
            "BDK" => profile.BaseDerivationKeyAlgorithm,
            "PVK" => KeyAlgorithm.Aes256,
            _ => throw new UsageException($"--role '{role}' is not tmk, bdk or pvk."),
        };
    }

    private static string ReadSecretLine(string prompt)
    {
        if (Console.IsInputRedirected)
        {
            return Console.ReadLine() ?? throw new UsageException("Standard input ended before all components were read.");
        }

        Console.Write(prompt);
        var buffer = new System.Text.StringBuilder();
        while (true)
        {
            var key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter)
            {
                Console.WriteLine();
                return buffer.ToString();
            }

            if (key.Key == ConsoleKey.Backspace)
            {
                if (buffer.Length > 0)
                {
                    buffer.Length--;
                }

                continue;
            }

            buffer.Append(key.KeyChar);
        }
    }

    private static string Group(string hex) =>
        string.Join(' ', Enumerable.Range(0, (hex.Length + 3) / 4).Select(i => hex.Substring(i * 4, Math.Min(4, hex.Length - (i * 4)))));

    private static int Run(ParseResult parse, Func<KeysContext, int> body, bool needsStore = true)
    {
        try
        {
            using var host = CliHost.Build(parse, _ => { });
            var configuration = host.Services.GetRequiredService<IConfiguration>();
            var options = SecurityProfiles.ReadOptions(configuration);
            var profileText = parse.GetValue(ProfileOption);
            var profile = SecurityProfiles.Create(profileText is null ? options.Profile : SecurityProfiles.ParseKind(profileText, "--profile"));
            FileKeyStore? store = null;
            if (needsStore)
            {
                var directory = parse.GetValue(StoreOption)?.FullName ?? options.KeyStore
                    ?? throw new UsageException("No key store: pass --store DIR or set Security:KeyStore.");
                store = new FileKeyStore(directory);
            }

            return body(new KeysContext(profile, store!));
        }
        catch (SecurityException e) when (e is not KeyFileRejectedException)
        {
            Console.Error.WriteLine($"Refused ({e.Failure}): {e.Message}");
            return 1;
        }
    }

    private sealed record KeysContext(ISecurityProfile Profile, FileKeyStore Store);
}
