using System.CommandLine;
using CardlessAtm.Phone;
using CardlessAtm.Phone.Credentials;
using CardlessAtm.Phone.Enrolment;
using CardlessAtm.Phone.Scanning;
using CardlessAtm.Phone.Withdrawal;
using CardlessAtm.Security;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Cli.Commands;

/// <summary>
/// <c>cardless-atm phone withdraw|scan|status</c>: the customer's phone as a command. Settings come from the
/// <c>Phone</c> section (<c>Phone:Proxy</c>, <c>Phone:Enrolment</c>, <c>Phone:ConnectTimeout</c>,
/// <c>Phone:RequestTimeout</c>, <c>Phone:TlsServerPin</c>, <c>Phone:TlsTargetHost</c>, <c>Phone:Insecure</c>) and <c>Security:Profile</c>;
/// options override them. Exit codes: 0 approved (all or part dispensed), 1 declined or cancelled, 2 bad input,
/// 3 proxy unreachable or outcome unknown.
/// </summary>
internal static class PhoneCommand
{
    /// <summary>The proxy's phone port when nothing else is configured (the proxy's default).</summary>
    private const string DefaultProxy = "127.0.0.1:8585";

    private const int ExitApproved = 0;
    private const int ExitDeclined = 1;
    private const int ExitBadInput = 2;
    private const int ExitUnknown = 3;

    private static readonly Option<string?> EnrolmentOption = new("--enrolment", "-e")
    {
        Description = "The phone's enrolment file: the DUKPT state written by 'cardless-atm host phones enroll --export-to DIR' (DIR/phone-dukpt.key, mode 0600). Overrides Phone:Enrolment.",
    };

    public static Command Create()
    {
        var command = new Command("phone", "The customer's phone: scan the ATM's QR code, confirm, enter the PIN and withdraw through the proxy.");
        command.Subcommands.Add(CreateWithdraw());
        command.Subcommands.Add(CreateScan());
        command.Subcommands.Add(CreateStatus());
        return command;
    }

    private static Command CreateWithdraw()
    {
        var qr = new Option<string>("--qr", "-q") { Description = "The ATM's QR code: an image file (PNG/JPEG) or the payload text itself.", Required = true };
        var account = new Option<string>("--account", "-a") { Description = "Your account id (1-19 digits). Only its last 4 digits are ever shown.", Required = true };
        var pinStdin = new Option<bool>("--pin-stdin") { Description = "Read the PIN as one line from standard input (for scripts) instead of typing it at the terminal." };
        var yes = new Option<bool>("--yes", "-y") { Description = "Do not ask to confirm the ATM and amount." };
        var proxy = new Option<string?>("--proxy", "-p") { Description = $"The proxy's host:port for phones (overrides Phone:Proxy; default {DefaultProxy})." };
        var command = new Command(
            "withdraw",
            "Withdraw the amount shown on the ATM's QR code. Exit code 0 = approved (cash dispensed, all or part), 1 = declined or cancelled, 2 = bad input (nothing sent), 3 = proxy unreachable or outcome unknown.")
        {
            qr, account, pinStdin, yes, proxy, EnrolmentOption,
        };
        command.SetAction((parse, cancellationToken) => RunAsync(async () =>
        {
            using var host = CliHost.Build(parse, _ => { });
            var configuration = host.Services.GetRequiredService<IConfiguration>();
            var loggers = host.Services.GetRequiredService<ILoggerFactory>();
            var time = host.Services.GetRequiredService<TimeProvider>();
            var profile = ReadProfile(configuration);
            var settings = ReadSettings(configuration, parse.GetValue(proxy));
            var options = settings.ToClientOptions();
            var session = ScannedSession.FromImageFileOrText(parse.GetValue(qr)!);
            var accountId = AccountIds.Validate(parse.GetValue(account), "--account");
            var enrolment = PhoneEnrolment.Open(EnrolmentPath(parse, settings), profile, loggers.CreateLogger<PhoneEnrolment>());
            var readFromStdin = parse.GetValue(pinStdin);
            var confirmed = parse.GetValue(yes);
            if (!confirmed && Console.IsInputRedirected)
            {
                throw new PhoneInputException(PhoneInputError.InvalidSetting, "--yes", "standard input is not a terminal, so the ATM and amount cannot be confirmed; pass --yes to confirm in a script.");
            }

            if (!readFromStdin && Console.IsInputRedirected)
            {
                throw new PhoneInputException(PhoneInputError.InvalidSetting, "--pin-stdin", "standard input is not a terminal, so the PIN cannot be typed without echo; pass --pin-stdin to read it from standard input.");
            }

            var interaction = WithdrawalInteraction.FromCallbacks(
                (confirmation, ct) => ValueTask.FromResult(confirmed || Confirm(confirmation)),
                ct => ValueTask.FromResult(readFromStdin ? ReadPinLine(Console.In) : ReadPinFromTerminal()));

            var client = new CardlessWithdrawalClient(options, enrolment, profile, time, loggers);
            var progress = new StandardErrorProgress();
            var outcome = await client.WithdrawAsync(session, accountId, interaction, progress, cancellationToken);
            Console.WriteLine(outcome.Message);
            return outcome.Status switch
            {
                WithdrawalStatus.Approved or WithdrawalStatus.PartiallyDispensed => ExitApproved,
                WithdrawalStatus.Declined or WithdrawalStatus.Cancelled => ExitDeclined,
                _ => ExitUnknown,
            };
        }));
        return command;
    }

    private static Command CreateScan()
    {
        var qr = new Option<string>("--qr", "-q") { Description = "An image file (PNG/JPEG) or the payload text.", Required = true };
        var command = new Command("scan", "Read a QR code and print the ATM id, amount, expiry and the exact payload text, without sending anything. Exit code 0 = a valid session code, 2 = not one.")
        {
            qr,
        };
        command.SetAction((parse, cancellationToken) => RunAsync(() =>
        {
            var session = ScannedSession.FromImageFileOrText(parse.GetValue(qr)!);
            Console.WriteLine($"ATM:      {session.AtmId}");
            Console.WriteLine($"Amount:   {session.Amount}");
            var left = session.ExpiresAt - TimeProvider.System.GetUtcNow();
            Console.WriteLine($"Expires:  {session.ExpiresAt:yyyy-MM-dd HH:mm:ss} UTC ({(left > TimeSpan.Zero ? $"in {left.TotalSeconds:0} s" : $"expired {-left.TotalSeconds:0} s ago")})");
            Console.WriteLine($"Session:  {session.SessionId}");
            Console.WriteLine($"Payload:  {session.Text}");
            return Task.FromResult(0);
        }));
        return command;
    }

    private static Command CreateStatus()
    {
        var command = new Command("status", "Check the phone's enrolment (owner-only file, security profile, keys left) and print its device id and next KSN. Exit code 0 = usable, 2 = not.")
        {
            EnrolmentOption,
        };
        command.SetAction((parse, cancellationToken) => RunAsync(() =>
        {
            using var host = CliHost.Build(parse, _ => { });
            var configuration = host.Services.GetRequiredService<IConfiguration>();
            var profile = ReadProfile(configuration);
            var settings = ReadSettings(configuration, proxyOverride: null);
            var enrolment = PhoneEnrolment.Open(EnrolmentPath(parse, settings), profile);
            var status = enrolment.Inspect(profile);
            Console.WriteLine($"Enrolment: {enrolment.Path}");
            Console.WriteLine($"Device:    {status.DeviceId} ({status.Kind} DUKPT, {profile.Kind} profile)");
            Console.WriteLine($"Next KSN:  {status.NextKsn} (STAN {CardlessWithdrawalClient.StanFor(status.NextKsn)})");
            return Task.FromResult(0);
        }));
        return command;
    }

    private static async Task<int> RunAsync(Func<Task<int>> body) => await CliHost.RunAsync(async () =>
    {
        try
        {
            return await body();
        }
        catch (PhoneInputException e)
        {
            await Console.Error.WriteLineAsync($"Refused, nothing sent: {e.Message}");
            return ExitBadInput;
        }
        catch (FormatException e)
        {
            await Console.Error.WriteLineAsync(e.Message);
            return ExitBadInput;
        }
    });

    private static ISecurityProfile ReadProfile(IConfiguration configuration) => SecurityProfiles.FromConfiguration(configuration);

    private static PhoneSettings ReadSettings(IConfiguration configuration, string? proxyOverride)
    {
        var section = configuration.GetSection(PhoneSettings.SectionName);
        var settings = new PhoneSettings
        {
            Proxy = proxyOverride ?? section["Proxy"] ?? DefaultProxy,
            Enrolment = section["Enrolment"],
            TlsServerPin = section["TlsServerPin"],
            TlsTargetHost = section["TlsTargetHost"],
            Insecure = ReadBool(section, "Insecure"),
        };
        settings.ConnectTimeout = ReadTimeSpan(section, "ConnectTimeout", settings.ConnectTimeout);
        settings.RequestTimeout = ReadTimeSpan(section, "RequestTimeout", settings.RequestTimeout);
        return settings;
    }

    private static bool ReadBool(IConfigurationSection section, string key) =>
        section[key] switch
        {
            null or "" => false,
            var text when bool.TryParse(text, out var value) => value,
            var text => throw new PhoneInputException(PhoneInputError.InvalidSetting, $"{section.Path}:{key}", $"'{text}' is not true or false."),
        };

    private static TimeSpan ReadTimeSpan(IConfigurationSection section, string key, TimeSpan fallback)
    {
        var text = section[key];
        if (string.IsNullOrWhiteSpace(text))
        {
            return fallback;
        }

        return TimeSpan.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var value) && value > TimeSpan.Zero
            ? value
            : throw new PhoneInputException(PhoneInputError.InvalidSetting, $"Phone:{key}", $"'{text}' is not a positive time span such as 00:00:30.");
    }

    private static string EnrolmentPath(ParseResult parse, PhoneSettings settings) =>
        parse.GetValue(EnrolmentOption) ?? settings.Enrolment
        ?? throw new PhoneInputException(PhoneInputError.InvalidSetting, "--enrolment", "no enrolment file was given (--enrolment or Phone:Enrolment); enrol the phone at the host with 'cardless-atm host phones enroll -a ACCOUNT --export-to DIR'.");

    private static bool Confirm(WithdrawalConfirmation confirmation)
    {
        Console.Error.Write($"{confirmation.Prompt} Session expires {confirmation.ExpiresAt:HH:mm:ss} UTC. [y/N] ");
        // A whole line: reading one key left the Enter after "y" in the buffer, where the PIN prompt took it as an empty PIN.
        var answer = Console.ReadLine()?.Trim() ?? string.Empty;
        return answer.Equals("y", StringComparison.OrdinalIgnoreCase) || answer.Equals("yes", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Reads the PIN key by key without echo (a <c>*</c> per digit); Backspace erases, Enter ends, Escape cancels.</summary>
    private static PinEntry ReadPinFromTerminal()
    {
        Console.Error.Write("PIN: ");
        var buffer = new char[PinEntry.MaxLength + 1];
        var length = 0;
        try
        {
            while (true)
            {
                var key = Console.ReadKey(intercept: true);
                if (key.Key == ConsoleKey.Enter)
                {
                    break;
                }

                if (key.Key == ConsoleKey.Escape)
                {
                    length = 0;
                    break;
                }

                if (key.Key == ConsoleKey.Backspace)
                {
                    if (length > 0)
                    {
                        buffer[--length] = '\0';
                        Console.Error.Write("\b \b");
                    }

                    continue;
                }

                if (key.KeyChar != '\0' && length < buffer.Length)
                {
                    buffer[length++] = key.KeyChar;
                    Console.Error.Write('*');
                }
            }

            Console.Error.WriteLine();
            return PinEntry.FromChars(buffer.AsSpan(0, length));
        }
        finally
        {
            Array.Clear(buffer);
        }
    }

    /// <summary>Reads one line character by character (no string holds the PIN); a trailing CR is dropped.</summary>
    internal static PinEntry ReadPinLine(TextReader input)
    {
        var buffer = new char[PinEntry.MaxLength + 1];
        var length = 0;
        try
        {
            int c;
            while ((c = input.Read()) is not (-1 or '\n'))
            {
                if (length < buffer.Length)
                {
                    buffer[length++] = (char)c;
                }
            }

            if (length > 0 && buffer[length - 1] == '\r')
            {
                length--;
            }

            return PinEntry.FromChars(buffer.AsSpan(0, length));
        }
        finally
        {
            Array.Clear(buffer);
        }
    }

    /// <summary>Writes progress at once, in order (<see cref="Progress{T}"/> would post it to the thread pool).</summary>
    private sealed class StandardErrorProgress : IProgress<string>
    {
        public void Report(string value) => Console.Error.WriteLine(value);
    }
}
