using System.CommandLine;
using System.Globalization;
using System.Net.Sockets;
using CardlessAtm.Cli.Hosting;
using CardlessAtm.Host.Administration;
using CardlessAtm.Host.Seeding;
using CardlessAtm.Host.Server;
using CardlessAtm.Host.Storage;
using CardlessAtm.Host.Storage.Postgres;
using CardlessAtm.Security;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CardlessAtm.Cli.Commands;

/// <summary>
/// <c>cardless-atm host …</c>: run the transaction-processing host, and the operator commands on its
/// ledger (accounts, ATMs, phone enrolments, the day's report). Settings: the <c>Host</c> section
/// (DatabasePath, KeyVaultPath, Address, Port, Tls, Insecure, and the connection limits MaxConnections,
/// MaxConnectionsBeforeSignOn, MaxConnectionsPerAddress, IdleTimeout, FirstMessageTimeout, HandshakeTimeout, SignOnTimeout),
/// <c>Host:Store</c>, <c>Host:Keys</c>, <c>Host:Policy</c> and <c>Security:Profile</c>, bound into
/// <see cref="HostServerOptions"/> by <see cref="HostServiceCollectionExtensions.AddHostServerOptions"/>; the options
/// below that stand for a setting are the top configuration layer (see <c>BuildHost</c>); see docs/host.md.
/// Exit codes: 0 done, 1 refused (the message says why; nothing changed), 2 usage or configuration error.
/// </summary>
internal static class HostCommand
{
    private static readonly Option<FileInfo?> DatabaseOption = new("--db")
    {
        Description = "The SQLite ledger file (default: setting Host:DatabasePath, else host.db). Created and migrated if needed.",
        Recursive = true,
    };

    private static readonly Option<DirectoryInfo?> KeysOption = new("--keys")
    {
        Description = "The host's key store directory (default: setting Host:KeyVaultPath, else host-keys). Mode 0700, key files 0600.",
        Recursive = true,
    };

    private static readonly Option<string?> ProfileOption = new("--profile")
    {
        Description = "Security profile, Aes or Legacy3Des (default: setting Security:Profile, else Aes).",
        Recursive = true,
    };

    public static Command Create()
    {
        var command = new Command("host", "The transaction-processing host: authorises ATMs' 0200 withdrawals, takes 0420/0421 reversals and 0800 network management, over an ISO 8583 TCP listener; plus operator commands.");
        command.Options.Add(DatabaseOption);
        command.Options.Add(KeysOption);
        command.Options.Add(ProfileOption);
        command.Subcommands.Add(CreateRun());
        command.Subcommands.Add(CreateAccounts());
        command.Subcommands.Add(CreateAtms());
        command.Subcommands.Add(CreatePhones());
        command.Subcommands.Add(CreateReport());
        command.Subcommands.Add(CreateSeedDemo());
        command.Subcommands.Add(CreateStatus());
        command.Subcommands.Add(CreateKeys());
        return command;
    }

    private static Command CreateRun()
    {
        var port = new Option<int?>("--port") { Description = "TCP port for ATM connections (default: Host:Port, else 8583; 0 picks a free one)." };
        var address = new Option<string?>("--address") { Description = "Address to listen on (default: Host:Address, else 127.0.0.1)." };
        var command = new Command("run", "Run the host until stopped (Ctrl+C, SIGTERM, systemd). Prints the listening endpoint on standard output.") { port, address };
        command.SetAction((parse, cancellationToken) => CliHost.RunAsync(async () =>
        {
            var commandLine = new Dictionary<string, string?>();
            if (parse.GetValue(port) is { } portNumber)
            {
                commandLine["Host:Port"] = portNumber.ToString(CultureInfo.InvariantCulture);
            }

            if (parse.GetValue(address) is { } text)
            {
                commandLine["Host:Address"] = text;
            }

            using var generic = BuildHost(parse, b => b.Services.AddSystemd(), commandLine);
            var options = Options(generic);

            var loggerFactory = generic.Services.GetRequiredService<ILoggerFactory>();
            return await Guard(async () =>
            {
                var statusSettings = StatusSettings.Read(generic.Services.GetRequiredService<IConfiguration>(), DefaultStatusPath(options));
                await using var host = await StartListeningAsync(options, loggerFactory, cancellationToken);
                HostKillPoint.Arm(host.Processor, loggerFactory.CreateLogger("CardlessAtm.KillPoint"));
                await generic.StartAsync(cancellationToken);
                var transport = Transport(options.Tls);
                await using (StatusFileWriter.Start(
                    statusSettings, () => Status(host, transport), generic.Services.GetRequiredService<LastProblemLog>(), TimeProvider.System, loggerFactory.CreateLogger("CardlessAtm.Status")))
                {
                    Console.WriteLine($"host: listening on {host.LocalEndPoint} with {transport} (ledger {Ledger(options)}, profile {host.Profile.Kind})");
                    await generic.WaitForShutdownAsync(cancellationToken);
                }

                Console.WriteLine("host: stopped");
                return 0;
            });
        }));
        return command;
    }

    private static Command CreateStatus()
    {
        var json = new Option<bool>("--json") { Description = "Print the status file as JSON (for a monitoring agent)." };
        var command = new Command("status", "Say whether the host runs: its listener, signed-on ATMs and last warning, from the status file 'host run' rewrites every Status:Interval (Status:Path, default next to the ledger). Exit code 0 = listening, 1 = not running, hung or stopped.") { json };
        command.SetAction(parse => CliHost.RunAsync(() =>
        {
            using var generic = BuildHost(parse);
            var settings = StatusSettings.Read(generic.Services.GetRequiredService<IConfiguration>(), DefaultStatusPath(Options(generic)));
            return Task.FromResult(StatusReport.Print(settings.Path, TimeProvider.System.GetUtcNow(), Console.Out, parse.GetValue(json)));
        }));
        return command;
    }

    /// <summary>Where the ledger is, for the start-up line: the SQLite file, or "PostgreSQL" (never the connection string: it may hold the password).</summary>
    private static string Ledger(HostServerOptions options) =>
        options.Store.Kind == HostStoreKind.Postgres ? "PostgreSQL (Host:Store:ConnectionString)" : Path.GetFullPath(options.DatabasePath);

    /// <summary>host-status.json next to the ledger, so several hosts on one machine do not share it.</summary>
    private static string DefaultStatusPath(HostServerOptions options) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(options.DatabasePath))!, "host-status.json");

    private static RoleStatus Status(HostServer host, string transport) => new()
    {
        Role = "host",
        Name = host.LocalEndPoint.ToString(),
        Healthy = true,
        State = "listening",
        Links = [new StatusItem("ATMs", "listening", $"{host.LocalEndPoint} with {transport}")],
        Figures = [new StatusItem("signed-on ATMs", host.SignedOnConnectionCount.ToString(System.Globalization.CultureInfo.InvariantCulture))],
    };

    private static Command CreateAccounts()
    {
        var accounts = new Command("accounts", "Customer accounts: add, show, credit, block/unblock, unlock PIN.");

        var id = new Option<string>("--account", "-a") { Description = "Account id, 1-19 digits.", Required = true };
        var name = new Option<string>("--name") { Description = "Holder's name.", Required = true };
        var currency = new Option<int>("--currency") { Description = "ISO 4217 numeric currency (978 EUR, 840 USD, 826 GBP).", DefaultValueFactory = _ => 978 };
        var balance = new Option<long>("--balance") { Description = "Opening balance in minor units (e.g. 25000 = 250.00).", DefaultValueFactory = _ => 0 };
        var dailyAmount = new Option<long>("--daily-limit") { Description = "Daily withdrawal amount limit in minor units.", DefaultValueFactory = _ => 100_000 };
        var dailyCount = new Option<int>("--daily-count") { Description = "Daily withdrawal count limit.", DefaultValueFactory = _ => 10 };
        var add = new Command("add", "Open an account. The PIN (4-12 digits) is read from the first line of standard input, so it stays out of shell history and process lists.")
        {
            id, name, currency, balance, dailyAmount, dailyCount,
        };
        add.SetAction((parse, cancellationToken) => Operate(parse, async host =>
        {
            var pin = (await Console.In.ReadLineAsync(cancellationToken))?.Trim() ?? "";
            var account = await host.Administration.AddAccountAsync(
                new NewAccount(parse.GetValue(id)!, parse.GetValue(name)!, parse.GetValue(currency), parse.GetValue(balance), parse.GetValue(dailyAmount), parse.GetValue(dailyCount)),
                pin,
                cancellationToken);
            Print(account);
        }));

        var showId = new Option<string>("--account", "-a") { Description = "Account id.", Required = true };
        var show = new Command("show", "Show an account: balance, status, limits, PIN try counter (never the PIN).") { showId };
        show.SetAction((parse, cancellationToken) => Operate(parse, async host =>
        {
            var accountId = parse.GetValue(showId)!;
            var account = await host.Administration.GetAccountAsync(accountId, cancellationToken)
                ?? throw new HostAdministrationException($"Account '{accountId}' does not exist.");
            Print(account);
            var pin = await host.Store.ReadAsync(r => r.GetPinRecord(accountId), cancellationToken);
            Console.WriteLine(pin is null ? "  PIN: none" : $"  PIN: {pin.FailedTries} wrong tries{(pin.Locked ? ", LOCKED" : "")}");
        }));

        var creditId = new Option<string>("--account", "-a") { Description = "Account id.", Required = true };
        var amount = new Option<long>("--amount") { Description = "Amount in minor units.", Required = true };
        var credit = new Command("credit", "Credit an account (operator deposit), posted to the ledger and the audit trail.") { creditId, amount };
        credit.SetAction((parse, cancellationToken) => Operate(parse, async host =>
            Print(await host.Administration.CreditAsync(parse.GetValue(creditId)!, parse.GetValue(amount), cancellationToken))));

        var statusId = new Option<string>("--account", "-a") { Description = "Account id.", Required = true };
        var status = new Option<AccountStatus>("--status") { Description = "Active, Blocked or Closed.", Required = true };
        var setStatus = new Command("status", "Block, close or re-activate an account.") { statusId, status };
        setStatus.SetAction((parse, cancellationToken) => Operate(parse, async host =>
            Print(await host.Administration.SetAccountStatusAsync(parse.GetValue(statusId)!, parse.GetValue(status), cancellationToken))));

        var unlockId = new Option<string>("--account", "-a") { Description = "Account id.", Required = true };
        var unlock = new Command("unlock-pin", "Clear the wrong-PIN counter and unlock the PIN.") { unlockId };
        unlock.SetAction((parse, cancellationToken) => Operate(parse, async host =>
        {
            await host.Administration.UnlockPinAsync(parse.GetValue(unlockId)!, cancellationToken);
            Console.WriteLine("PIN unlocked.");
        }));

        accounts.Subcommands.Add(add);
        accounts.Subcommands.Add(show);
        accounts.Subcommands.Add(credit);
        accounts.Subcommands.Add(setStatus);
        accounts.Subcommands.Add(unlock);
        return accounts;
    }

    private static Command CreateAtms()
    {
        var atms = new Command("atms", "ATMs known to the host: add, list.");
        var id = new Option<string>("--atm") { Description = "ATM id, 8 characters A-Z 0-9 (field 41), e.g. ATM00001.", Required = true };
        var location = new Option<string>("--location") { Description = "Where it stands.", DefaultValueFactory = _ => "" };
        var currency = new Option<int>("--currency") { Description = "ISO 4217 numeric currency it dispenses.", DefaultValueFactory = _ => 978 };
        var exportTo = new Option<DirectoryInfo?>("--export-to")
        {
            Description = "The ATM's own key store directory: its generated terminal master key is written there as tmk-<ATM id> (0600) for the terminal to load. Required unless --ceremony-key.",
        };
        var ceremonyKey = new Option<bool>("--ceremony-key")
        {
            Description = "Register the ATM with the master key the key ceremony put in the host's key store (tmk-<ATM id>) instead of generating one; the custodians load its components at the ATM.",
        };
        var add = new Command("add", "Add an ATM: with the key ceremony's master key (--ceremony-key), or generating one (printed as a KCV only; the key goes to --export-to and the host's key store).")
        {
            id, location, currency, exportTo, ceremonyKey,
        };
        add.SetAction((parse, cancellationToken) => Operate(parse, async host =>
        {
            if (parse.GetValue(ceremonyKey))
            {
                if (parse.GetValue(exportTo) is not null)
                {
                    throw new UsageException("--export-to and --ceremony-key exclude each other: with the ceremony's key the custodians load its components at the ATM, nothing is exported.");
                }

                var (atm, checkValue) = await host.Administration.AddAtmWithCeremonyKeyAsync(parse.GetValue(id)!, parse.GetValue(location)!, parse.GetValue(currency), cancellationToken);
                Console.WriteLine($"ATM {atm.AtmId} added with the key ceremony's master key {atm.MasterKeyRef}, KCV {checkValue} (the custodians' KCV at the ATM must match)");
                return;
            }

            if (parse.GetValue(exportTo) is null)
            {
                throw new UsageException("host atms add needs --export-to DIR (the ATM's key store, for a generated key) or --ceremony-key (the key ceremony's tmk-<ATM id>).");
            }

            var provisioning = await host.Administration.AddAtmAsync(parse.GetValue(id)!, parse.GetValue(location)!, parse.GetValue(currency), cancellationToken);
            using (provisioning.MasterKey)
            {
                var target = new FileKeyStore(parse.GetValue(exportTo)!.FullName);
                target.SaveKey(provisioning.Atm.MasterKeyRef, provisioning.MasterKey, overwrite: false);
                Console.WriteLine($"ATM {provisioning.Atm.AtmId} added; terminal master key {provisioning.Atm.MasterKeyRef} KCV {provisioning.MasterKey.CheckValue} written to {target.PathOf(provisioning.Atm.MasterKeyRef)}");
            }
        }));

        var list = new Command("list", "List ATMs: status, sign-on, session key version and KCV.");
        list.SetAction((parse, cancellationToken) => Operate(parse, async host =>
        {
            foreach (var atm in await host.Administration.ListAtmsAsync(cancellationToken))
            {
                Console.WriteLine($"{atm.AtmId}  {atm.Status,-7} {(atm.SignedOn ? "signed-on " : "signed-off")}  currency {atm.CurrencyNumeric:D3}  session keys v{atm.SessionKeyVersion} KCV {atm.SessionKeyCheckValue ?? "-"}  {atm.Location}");
            }
        }));
        atms.Subcommands.Add(add);
        atms.Subcommands.Add(list);
        return atms;
    }

    private static Command CreateKeys()
    {
        var keys = new Command("keys", "The host's key vault: make the key-encryption key of a database vault, import a key directory into the vault, list key names.");
        var kek = Aes256KeyFileCommand.Create(
            "kek",
            "Generate a key-encryption key (AES-256) for the database key vault (Host:Store:Kind = Postgres). Prints its check value only.",
            "The KEK file to write (name ending .key; mode 0600, its directory 0700). Copy it to every host of the database as Host:Keys:KekPath.",
            (path, kcv) => $"Key-encryption key written to {path} (mode 0600), KCV {kcv}; set Host:Keys:KekPath to it on every host");

        var from = new Option<DirectoryInfo>("--from") { Description = "A host key directory (the file vault of Host:KeyVaultPath) whose keys to copy into the configured vault.", Required = true };
        var force = new Option<bool>("--force") { Description = "Replace keys the vault already holds (otherwise the import refuses before writing any)." };
        var import = new Command("import", "Copy every key of a host key directory into the configured vault (the database vault when Host:Store:Kind = Postgres), each checked against its KCV; prints names and KCVs only.")
        {
            from, force,
        };
        import.SetAction(parse => CliHost.RunAsync(async () =>
        {
            using var generic = BuildHost(parse);
            var options = Options(generic);

            // The vault without the host: a host's first start generates a PIN verification key, and the imported pvk
            // (which the accounts' PIN records were made under) must be the one the vault holds.
            var vault = await HostServer.OpenVaultOnlyAsync(options);
            try
            {
                var source = new FileKeyStore(parse.GetValue(from)!.FullName);
                var names = source.List().Where(n => source.TypeOf(n) == "key").ToList();
                var replace = parse.GetValue(force);
                var existing = names.Where(vault.Contains).ToList();
                if (existing.Count > 0 && !replace)
                {
                    throw new UsageException($"The {vault} already holds {string.Join(", ", existing)}; nothing imported (pass --force to replace them).");
                }

                foreach (var name in names)
                {
                    using var key = source.LoadKey(name);
                    vault.SaveKey(name, key, overwrite: replace);
                    Console.WriteLine($"{name}  KCV {key.CheckValue}  imported into the {vault}");
                }

                return 0;
            }
            finally
            {
                (vault as IDisposable)?.Dispose();
            }
        }));

        var list = new Command("list", "List the names of the keys in the configured vault (never their values).");
        list.SetAction((parse, cancellationToken) => Operate(parse, host =>
        {
            foreach (var name in host.Vault.List())
            {
                Console.WriteLine(name);
            }

            return Task.CompletedTask;
        }));
        var newKek = new Option<FileInfo>("--new-kek") { Description = "The new KEK file (from 'host keys kek'); Host:Keys:KekPath names the current one.", Required = true };
        var rewrap = new Command("rewrap", "Rotate the database vault's key-encryption key: every key re-wrapped under --new-kek in one transaction. Then replace Host:Keys:KekPath's file on every host and restart them (hosts with the old KEK are refused).") { newKek };
        rewrap.SetAction(parse => CliHost.RunAsync(async () =>
        {
            using var generic = BuildHost(parse);
            var options = Options(generic);
            if (options.Store.Kind != HostStoreKind.Postgres)
            {
                throw new UsageException("host keys rewrap is for the database vault (Host:Store:Kind = Postgres); a SQLite host's keys are files, not wrapped.");
            }

            using var replacement = PostgresKeyVault.LoadKek(parse.GetValue(newKek)!.FullName);
            using var vault = (PostgresKeyVault)await HostServer.OpenVaultOnlyAsync(options);
            var count = vault.Rewrap(replacement);
            Console.WriteLine($"{count} keys re-wrapped under the KEK with KCV {replacement.CheckValue}; install that KEK file as Host:Keys:KekPath on every host and restart them");
            return 0;
        }));
        keys.Subcommands.Add(kek);
        keys.Subcommands.Add(rewrap);
        keys.Subcommands.Add(import);
        keys.Subcommands.Add(list);
        return keys;
    }

    private static Command CreatePhones()
    {
        var phones = new Command("phones", "Phone enrolments (DUKPT devices).");
        var account = new Option<string>("--account", "-a") { Description = "The account the phone may withdraw from.", Required = true };
        var bdkId = new Option<string?>("--bdk-id") { Description = "BDK id in hex: 8 digits (Aes profile, default 0000B001) or 10 (Legacy3Des, default 0000B00100). Created in the host's key store if missing." };
        var exportTo = new Option<DirectoryInfo>("--export-to") { Description = "The phone's key store directory: its DUKPT device state is written there.", Required = true };
        var name = new Option<string>("--name") { Description = "Name of the phone's DUKPT state file in --export-to.", DefaultValueFactory = _ => "phone-dukpt" };
        var enroll = new Command("enroll", "Enrol a phone for an account: a fresh DUKPT device id under the BDK, its initial key loaded into a device state file for the phone.")
        {
            account, bdkId, exportTo, name,
        };
        enroll.SetAction((parse, cancellationToken) => Operate(parse, async host =>
        {
            var provisioning = await host.Administration.EnrolPhoneAsync(parse.GetValue(account)!, parse.GetValue(bdkId), cancellationToken);
            using (provisioning.InitialKey)
            using (var device = host.Profile.LoadPhoneDevice(provisioning.InitialKey, provisioning.InitialKsn))
            {
                var target = new FileKeyStore(parse.GetValue(exportTo)!.FullName);
                target.SaveDukptDevice(parse.GetValue(name)!, device);
                Console.WriteLine($"Phone {provisioning.Phone.DeviceId} enrolled (initial KSN {provisioning.InitialKsn}); DUKPT state written to {target.PathOf(parse.GetValue(name)!)}");
            }
        }));
        var device = new Option<string>("--device") { Description = "The phone's DUKPT device id (printed by enroll; the KSN without its counter).", Required = true };
        var revoke = new Command("revoke", "Revoke a phone (lost or stolen): its requests are declined from now on.") { device };
        revoke.SetAction((parse, cancellationToken) => Operate(parse, async host =>
        {
            var phone = await host.Administration.SetPhoneStatusAsync(parse.GetValue(device)!, PhoneStatus.Revoked, cancellationToken);
            Console.WriteLine($"Phone {phone.DeviceId} revoked.");
        }));
        phones.Subcommands.Add(enroll);
        phones.Subcommands.Add(revoke);
        return phones;
    }

    private static Command CreateReport()
    {
        var day = new Option<string?>("--day") { Description = "UTC business day, yyyy-MM-dd (default: today)." };
        var command = new Command("report", "The day's transactions per ATM for reconciliation: approved count and amount, declines, reversals, net to have been dispensed; plus the ledger check.") { day };
        command.SetAction((parse, cancellationToken) => Operate(parse, async host =>
        {
            DateOnly? businessDay = null;
            if (parse.GetValue(day) is { } text)
            {
                businessDay = DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var parsed)
                    ? parsed
                    : throw new ConfigurationException("--day", $"'{text}' is not a date yyyy-MM-dd");
            }

            Console.WriteLine("ATM       currency  approved        amount  declined  reversed      credited  unmatched   net dispensed  suspect  suspect amount");
            var suspects = new List<AtmDayReport>();
            foreach (var line in await host.Administration.GetDayReportAsync(businessDay, cancellationToken))
            {
                Console.WriteLine($"{line.AtmId}  {line.CurrencyNumeric:D3}       {line.ApprovedCount,8} {line.ApprovedMinor,13} {line.DeclinedCount,9} {line.ReversedCount,9} {line.ReversedMinor,13} {line.UnmatchedReversals,10} {line.NetDispensedMinor,15} {line.SuspectCount,8} {line.SuspectMinor,15}");
                if (line.SuspectCount > 0)
                {
                    suspects.Add(line);
                }
            }

            foreach (var line in suspects)
            {
                // Credited to the customers, but the dispenser could not say what it presented: the
                // cash count settles it (that much over the expected cassette total means nothing was taken).
                Console.WriteLine($"suspect: {line.AtmId} {line.SuspectCount} reversal(s), {line.SuspectMinor} credited without knowing what was presented; settle with the ATM's cash count");
            }

            var totals = await host.Administration.GetLedgerTotalsAsync(cancellationToken);
            Console.WriteLine($"ledger: balances {totals.SumOfBalancesMinor} + approved {totals.ApprovedWithdrawalsMinor} - reversed {totals.ReversalsMinor} = {totals.SumOfBalancesMinor + totals.ApprovedWithdrawalsMinor - totals.ReversalsMinor}; opening + credits {totals.OpeningAndCreditsMinor}: {(totals.Balances ? "BALANCED" : "OUT OF BALANCE")}");
            if (!totals.Balances)
            {
                throw new HostAdministrationException("The ledger does not balance; see the audit trail.");
            }
        }));
        return command;
    }

    private static Command CreateSeedDemo()
    {
        var atmKeys = new Option<DirectoryInfo>("--atm-keys") { Description = "The demo ATM's key store directory: receives its master key as 'tmk', the name the terminal loads (Terminal:MasterKeyName).", Required = true };
        var phoneKeys = new Option<DirectoryInfo>("--phone-keys") { Description = "Directory receiving one phone enrolment per demo customer, named by the phone's device id (<device id>.key, as 'phone withdraw --enrolment' takes it).", Required = true };
        var force = new Option<bool>("--force") { Description = "Replace keys that already exist (the host's tmk-ATM00001, the ATM's tmk, the phone files). Without it an existing key is refused and nothing is changed." };
        var command = new Command("seed-demo", "Seed an empty ledger with the demo data: three accounts with known balances and PINs, ATM00001 and a phone per account (keys generated now). Refuses to replace existing keys unless --force.")
        {
            atmKeys, phoneKeys, force,
        };
        command.SetAction((parse, cancellationToken) => Operate(parse, async host =>
        {
            var replace = parse.GetValue(force);
            var atmStore = new FileKeyStore(parse.GetValue(atmKeys)!.FullName);
            const string terminalKeyName = "tmk";
            var phoneDirectory = parse.GetValue(phoneKeys)!.FullName;
            FileKeyStore.CreatePrivateDirectory(phoneDirectory);

            // Everything that would be replaced is checked before the ledger or any key file is touched.
            host.Administration.EnsureMasterKeyReplaceable(DemoSeed.AtmId, replace);
            if (!replace && atmStore.Contains(terminalKeyName))
            {
                throw new HostAdministrationException($"The ATM's key store already holds {atmStore.PathOf(terminalKeyName)}; refusing to replace it (the ATM would no longer match the host's key). Remove it or use --force.");
            }

            using var seed = await DemoSeed.SeedAsync(host, replace, cancellationToken);
            atmStore.SaveKey(terminalKeyName, seed.Atm.MasterKey, overwrite: true);
            Console.WriteLine($"ATM {seed.Atm.Atm.AtmId}: master key {atmStore.PathOf(terminalKeyName)} (KCV {seed.Atm.MasterKey.CheckValue}; the host holds the same as {seed.Atm.Atm.MasterKeyRef})");
            for (var i = 0; i < seed.Customers.Count; i++)
            {
                var customer = seed.Customers[i];
                var provisioning = seed.Phones[i];
                var path = Path.Combine(phoneDirectory, provisioning.Phone.DeviceId + ".key");
                Phone.Enrolment.PhoneEnrolment.Create(path, host.Profile, provisioning.InitialKey, provisioning.InitialKsn, overwrite: true);
                Console.WriteLine($"account {MaskAccount(customer.AccountId)} ({customer.HolderName}) balance {customer.OpeningBalanceMinor} PIN {customer.Pin} (demo data): phone enrolment {path}");
            }
        }));
        return command;
    }

    /// <summary>An account id as operators see it in output: the last four digits only.</summary>
    private static string MaskAccount(string accountId) => accountId.Length <= 4 ? accountId : new string('*', accountId.Length - 4) + accountId[^4..];

    /// <summary>What the start-up line says of the listener: TLS 1.3 and the pin terminals configure, or plain TCP.</summary>
    private static string Transport(Network.TlsListenerOptions tls)
    {
        if (!tls.Enabled)
        {
            return "plain TCP (Host:Insecure = true)";
        }

        using var certificate = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(File.ReadAllText(tls.CertificatePath!));
        return $"TLS 1.3, certificate pin {CertificatePin.ForPublicKey(certificate)} (Terminal:Host:Tls:ServerPin)";
    }

    private static async Task<HostServer> StartListeningAsync(HostServerOptions options, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        try
        {
            return await HostServer.StartAsync(options, loggerFactory, cancellationToken: cancellationToken);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.AddressAlreadyInUse or SocketError.AddressNotAvailable or SocketError.AccessDenied)
        {
            throw new ConfigurationException(
                "Host:Port", $"cannot listen on {options.Address}:{options.Port} ({e.SocketErrorCode}); choose a free port (0 picks one), an address of this machine, or a port above 1023 without root");
        }
    }

    /// <summary>
    /// The generic host of a <c>host</c> command: the command-line options that set a host setting (<c>--db</c>,
    /// <c>--keys</c>, <c>--profile</c>, and <paramref name="commandLine"/>: <c>host run</c>'s <c>--port</c> and
    /// <c>--address</c>) as the top configuration layer, above <c>--set</c>; <see cref="HostServerOptions"/> bound from it
    /// and checked by <see cref="HostServerOptionsValidator"/> on start, as every role's settings are.
    /// </summary>
    private static IHost BuildHost(ParseResult parse, Action<HostApplicationBuilder>? configureServices = null, Dictionary<string, string?>? commandLine = null)
    {
        var settings = commandLine ?? [];
        if (parse.GetValue(DatabaseOption) is { } database)
        {
            settings["Host:DatabasePath"] = database.FullName;
        }

        if (parse.GetValue(KeysOption) is { } keys)
        {
            settings["Host:KeyVaultPath"] = keys.FullName;
        }

        if (parse.GetValue(ProfileOption) is { } profile)
        {
            settings["Security:Profile"] = profile;
        }

        return CliHost.Build(parse, b =>
        {
            b.Configuration.AddInMemoryCollection(settings);
            b.Services.AddHostServerOptions(b.Configuration);
            configureServices?.Invoke(b);
        });
    }

    /// <summary>The settings a <c>host</c> command line runs with, bound and checked as the command binds them (for tests).</summary>
    /// <exception cref="ConfigurationException">A value cannot be read; the message names the setting.</exception>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">A value is out of range; each failure names the setting.</exception>
    internal static HostServerOptions ReadOptions(ParseResult parse)
    {
        using var generic = BuildHost(parse);
        return Options(generic);
    }

    /// <summary>The bound and checked settings.</summary>
    /// <exception cref="ConfigurationException">A value cannot be read; the message names the setting.</exception>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">A value is out of range; each failure names the setting.</exception>
    private static HostServerOptions Options(IHost generic) => generic.Services.GetRequiredService<IOptions<HostServerOptions>>().Value;

    private static Task<int> Operate(ParseResult parse, Func<HostServer, Task> body) => CliHost.RunAsync(async () =>
    {
        using var generic = BuildHost(parse);
        var options = Options(generic);
        var loggerFactory = generic.Services.GetRequiredService<ILoggerFactory>();
        return await Guard(async () =>
        {
            await using var host = await HostServer.OpenAsync(options, loggerFactory);
            await body(host);
            return 0;
        });
    });

    /// <summary>The operator-facing refusals (exit 1, message only); everything else goes to <see cref="CliErrors"/>.</summary>
    private static async Task<int> Guard(Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (Exception e) when (e is HostAdministrationException or StoreUnavailableException or (SecurityException and not KeyFileRejectedException))
        {
            await Console.Error.WriteLineAsync(e.Message);
            return 1;
        }
    }

    private static void Print(AccountRecord account) =>
        Console.WriteLine($"account {account.AccountId} ({account.HolderName}): balance {account.BalanceMinor} {account.CurrencyNumeric:D3}, {account.Status}, daily limit {account.DailyAmountLimitMinor} / {account.DailyCountLimit} withdrawals");
}
