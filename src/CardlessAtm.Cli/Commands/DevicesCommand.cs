using System.CommandLine;
using System.Text;
using CardlessAtm.Devices.Configuration;
using CardlessAtm.Devices.Console;
using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Display;
using CardlessAtm.Devices.FaultCheck;
using CardlessAtm.Devices.Lcdm2000;
using CardlessAtm.Devices.Lcdm4000;
using CardlessAtm.Devices.RaspberryPi;
using CardlessAtm.Devices.RaspberryPi.Doctor;
using CardlessAtm.Devices.Simulated;
using CardlessAtm.Terminal.Flow;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace CardlessAtm.Cli.Commands;

/// <summary><c>cardless-atm devices status|selftest|doctor|lcdm2000 probe</c>.</summary>
internal static class DevicesCommand
{
    /// <summary>Registers every device kind this build knows. Driver projects add their kinds here.</summary>
    public static void AddDeviceKinds(AtmDevicesBuilder kinds) => kinds
        .AddSimulatedDevices()
        .AddConsoleDevices()
        .AddLcdm2000Dispenser()
        .AddLcdm4000Dispenser()
        .AddRaspberryPiDevices();

    public static Command Create()
    {
        var command = new Command("devices", "Show the ATM's devices and run their self-test.");
        command.Subcommands.Add(CreateStatus());
        command.Subcommands.Add(CreateSelfTest());
        command.Subcommands.Add(CreateDoctor());
        command.Subcommands.Add(CreateLcdm2000());
        return command;
    }

    /// <summary>Builds a host with the device layer and opens every device, so a bad setting fails here.</summary>
    public static async Task<(IHost Host, AtmDevices Devices)> OpenDevicesAsync(ParseResult parse, CancellationToken cancellationToken)
    {
        var host = CliHost.Build(parse, b =>
        {
            // Devices:Rig=FirmwareSim: the rig lives as long as the host (disposed with it).
            if (Rigs.FirmwareSimRig.AttachIfSelected(b, requested: false) is { } rig)
            {
                b.Services.AddSingleton(_ => rig);
            }

            b.Services.AddAtmDevices(b.Configuration, AddDeviceKinds);
        });
        host.Services.GetService<Rigs.FirmwareSimRig>(); // resolved, so that disposing the host stops the emulators
        return (host, await host.Services.OpenAtmDevicesAsync(cancellationToken));
    }

    private static Command CreateStatus()
    {
        var amount = new Option<string?>("--amount", "-a") { Description = "Also ask the fault check whether this amount (major units, e.g. 50 or 50.00) can be dispensed now." };
        var currency = new Option<string?>("--currency") { Description = "Currency of --amount (default: that of the first cash unit)." };
        var command = new Command("status", "Print every device's status and, with --amount, the fault-check verdict. Exit code 0 = ready, 1 = not ready, 2 = configuration error.")
        {
            amount,
            currency,
        };
        command.SetAction((parse, cancellationToken) => CliHost.RunAsync(async () =>
        {
            var (host, devices) = await OpenDevicesAsync(parse, cancellationToken);
            using (host)
            {
                await devices.Dispenser.RefreshStatusAsync(cancellationToken);
                Console.Write(DescribeDevices(devices));
                var amountText = parse.GetValue(amount);
                if (amountText is null)
                {
                    return 0;
                }

                var currencyCode = parse.GetValue(currency) ?? devices.Dispenser.CashUnits[0].Currency.Code;
                Money money;
                try
                {
                    money = Money.ParseMajor(amountText, Currency.FromCode(currencyCode));
                }
                catch (Exception e) when (e is FormatException or UnknownCurrencyException)
                {
                    await Console.Error.WriteLineAsync($"--amount/--currency: {e.Message}");
                    return 2;
                }

                var verdict = devices.FaultCheck.Check(money);
                Console.Write(DescribeVerdict(verdict));
                return verdict.IsReady ? 0 : 1;
            }
        }));
        return command;
    }

    private static Command CreateSelfTest()
    {
        var command = new Command("selftest", "Exercise each device once (show a test screen, read the keypad and sensors, reset the dispenser) and print what passed. Exit code 0 = all passed.");
        command.SetAction((parse, cancellationToken) => CliHost.RunAsync(async () =>
        {
            var (host, devices) = await OpenDevicesAsync(parse, cancellationToken);
            using (host)
            {
                var results = new List<(string Device, bool Passed, string Detail)>();
                try
                {
                    await devices.Display.ShowAsync(Screen.Text("Self-test", "Display OK", DateTime.UtcNow.ToString("u")), cancellationToken);
                    results.Add(("Display", devices.Display.Status.Device is Devices.Status.DeviceState.Online or Devices.Status.DeviceState.Unverified, $"{devices.Display.Capabilities.Name}: test screen shown, {devices.Display.Status.Device}"));
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    results.Add(("Display", false, e.Message));
                }

                results.Add(("Keypad", devices.Keypad.Status.Device == Devices.Status.DeviceState.Online, $"{devices.Keypad.Status.Device}"));
                var readings = devices.Sensors.Status.Readings;
                results.Add(("Sensors", devices.Sensors.Status.Device == Devices.Status.DeviceState.Online, $"{devices.Sensors.Status.Device}, {readings.Count} wired: {string.Join(", ", readings.Select(r => $"{r.Id}={r.State}"))}"));
                var reset = await devices.Dispenser.ResetAsync(cancellationToken);
                await devices.Dispenser.RefreshStatusAsync(cancellationToken);
                results.Add(("Dispenser", reset.Completion == DispenseCompletion.Ok && devices.Dispenser.Status.Device == Devices.Status.DeviceState.Online,
                    $"reset {reset.Completion}{(reset.Detail is null ? string.Empty : $" ({reset.Detail})")}, {devices.Dispenser.Status.Device}, {devices.Dispenser.Status.Dispenser}"));
                foreach (var (device, passed, detail) in results)
                {
                    Console.WriteLine($"{(passed ? "PASS" : "FAIL"),-5} {device,-10} {detail}");
                }

                return results.All(r => r.Passed) ? 0 : 1;
            }
        }));
        return command;
    }

    private static Command CreateDoctor()
    {
        var command = new Command(
            "doctor",
            "Check what the configured devices need of this Raspberry Pi without opening them: each device node and the group that opens it, the boot settings (overlays) that make it appear, the dispenser's UART and the kernel console, and libgpiod. Prints the fix for each problem. Exit code 0 = nothing to fix, 1 = something to fix, 2 = configuration error.");
        command.SetAction(parse => CliHost.RunAsync(() =>
        {
            using var host = CliHost.Build(parse, _ => { });
            var findings = RaspberryPiDoctor.Examine(host.Services.GetRequiredService<IConfiguration>(), PiMachine.Current);
            foreach (var finding in findings)
            {
                Console.WriteLine(finding);
            }

            var problems = findings.Count(f => !f.Ok);
            Console.WriteLine(problems == 0 ? "Nothing to fix." : $"{problems} thing(s) to fix.");
            return Task.FromResult(problems == 0 ? 0 : 1);
        }));
        return command;
    }

    private static Command CreateLcdm2000()
    {
        var port = new Option<string?>("--port") { Description = $"Serial device of the LCDM-2000 (default: the setting {Lcdm2000Registration.SectionPath}:{nameof(Lcdm2000Options.PortName)})." };
        var yes = new Option<bool>("--yes", "-y") { Description = "Do not wait for Enter at each step (for scripts and rigs; nobody pulls a cassette then, so the cassette bit stays undetermined on a real unit)." };
        var probe = new Command(
            "probe",
            $"Determine on a real unit the two protocol details public sources disagree on — the 0x56 answer's field order (one dispense of {Lcdm2000Probe.UpperNotes} + {Lcdm2000Probe.LowerNotes} notes) "
            + "and the meaning of a set cassette bit (a status with cassette 2 pulled) — and print the settings to use. Guides the operator step by step. Exit code 0 = both determined, 1 = not, 2 = configuration error.")
        {
            port,
            yes,
        };
        probe.SetAction((parse, cancellationToken) => CliHost.RunAsync(async () =>
        {
            using var host = CliHost.Build(parse, _ => { });
            var options = new Lcdm2000Options();
            AtmDevicesBuilder.Bind(host.Services.GetRequiredService<IConfiguration>().GetSection(Lcdm2000Registration.SectionPath), options);
            options.PortName = parse.GetValue(port) ?? options.PortName;
            return await ProbeLcdm2000Async(options, Console.In, Console.Out, parse.GetValue(yes), cancellationToken);
        }));
        var command = new Command("lcdm2000", "Puloon LCDM-2000 dispenser tools.");
        command.Subcommands.Add(probe);
        return command;
    }

    /// <summary>
    /// The probe on <paramref name="options"/>' port: each instruction goes to <paramref name="output"/> and waits for a line of
    /// <paramref name="input"/> (end of input or <c>q</c> stops), unless <paramref name="yes"/>. Ends with the settings JSON.
    /// </summary>
    /// <exception cref="OptionsValidationException">A setting is invalid (each failure names it).</exception>
    internal static async Task<int> ProbeLcdm2000Async(Lcdm2000Options options, TextReader input, TextWriter output, bool yes, CancellationToken cancellationToken)
    {
        var validation = new Lcdm2000OptionsValidator(Lcdm2000Registration.SectionPath).Validate(null, options);
        if (validation.Failed)
        {
            throw new OptionsValidationException(Lcdm2000Registration.SectionPath, typeof(Lcdm2000Options), validation.Failures);
        }

        using var dispenser = Lcdm2000Dispenser.Create(options);
        var result = await Lcdm2000Probe.RunAsync(dispenser, Prompt, output, cancellationToken);
        await output.WriteLineAsync(result.IsComplete ? "Settings to use:" : "Settings determined so far (repeat the probe for the rest):");
        await output.WriteLineAsync(result.SettingsJson());
        return result.IsComplete ? 0 : 1;

        async Task<bool> Prompt(string instruction, CancellationToken ct)
        {
            await output.WriteLineAsync($"> {instruction}");
            if (yes)
            {
                await output.WriteLineAsync("  (--yes: going on)");
                return true;
            }

            var answer = await input.ReadLineAsync(ct);
            return answer is not null && !answer.Trim().Equals("q", StringComparison.OrdinalIgnoreCase);
        }
    }

    internal static string DescribeDevices(AtmDevices devices)
    {
        var text = new StringBuilder();
        text.AppendLine($"Display    {devices.Display.Capabilities.Name}: {devices.Display.Status.Device}{(devices.Display.Capabilities.CanShowQr ? string.Empty : " (cannot show a QR code)")}");
        text.AppendLine($"Keypad     {devices.Keypad.Status.Device}");
        var dispenser = devices.Dispenser.Status;
        text.AppendLine($"Dispenser  {dispenser.Device}, {dispenser.Dispenser}; shutter {dispenser.Shutter}; transport {dispenser.Transport}; max {devices.Dispenser.MaxNotesPerDispense} notes per dispense{(dispenser.LastFault is null ? string.Empty : $"; last fault: {dispenser.LastFault}")}");
        text.AppendLine($"  present/retract: {devices.Dispenser.Presenting.Describe()}");
        foreach (var unit in devices.Dispenser.CashUnits)
        {
            text.AppendLine($"  {unit.Id,-8} pos {unit.Position}  {unit.Denomination,12}  {unit.Count,5} notes (initial {unit.InitialCount}, low ≤ {unit.LowThreshold})  {unit.Status,-11} presented {unit.Counters.Presented}, rejected {unit.Counters.Rejected}, unknown {unit.Counters.Unknown}, retracted {unit.Counters.Retracted}");
        }

        var retractBin = devices.Dispenser.CashUnits.Sum(u => u.Counters.Retracted);
        if (retractBin > 0)
        {
            text.AppendLine($"  retract bin: {retractBin} notes ({string.Join(", ", devices.Dispenser.CashUnits.Where(u => u.Counters.Retracted > 0).Select(u => $"{u.Counters.Retracted} x {u.Denomination}"))})");
        }

        text.AppendLine($"Sensors    {devices.Sensors.Status.Device}");
        foreach (var reading in devices.Sensors.Status.Readings)
        {
            text.AppendLine($"  {reading.Id,-12} {reading.Kind,-15} {reading.State}");
        }

        return text.ToString();
    }

    internal static string DescribeVerdict(FaultVerdict verdict)
    {
        var text = new StringBuilder();
        if (verdict.IsReady)
        {
            text.AppendLine($"Fault check for {verdict.Amount}: READY — would dispense {verdict.Mix}");
            return text.ToString();
        }

        text.AppendLine($"Fault check for {verdict.Amount}: NOT READY");
        foreach (var reason in verdict.Reasons)
        {
            text.AppendLine($"  {reason.Code}: {reason.LogText}");
            text.AppendLine($"    customer sees: {CustomerTexts.English.ForFault(reason.Code, verdict.Amount.Currency)}");
        }

        return text.ToString();
    }
}
