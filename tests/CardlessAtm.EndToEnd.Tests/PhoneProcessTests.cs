using System.Diagnostics;
using CardlessAtm.Cli.Demo;
using CardlessAtm.Phone.Enrolment;

namespace CardlessAtm.EndToEnd.Tests;

/// <summary>
/// Issue 13: the phone as a real <c>cardless-atm phone withdraw</c> process. On SIGTERM while it waits for the ATM
/// it says it stopped waiting and that the outcome is unknown, and exits 3 (docs/phone.md), never with a stack trace.
/// </summary>
[Collection("processes")]
public class PhoneProcessTests
{
    [Fact]
    public async Task Sigterm_while_the_phone_waits_for_the_atm_exits_3_saying_the_outcome_is_unknown()
    {
        await using var network = await Network.StartAsync();

        // One 20 EUR note that takes a minute: the ATM has the request, the phone waits for its answer.
        var terminal = await network.StartTerminalAsync(noteDelay: TimeSpan.FromSeconds(60));
        var qr = await Network.ShowQrAsync(terminal, 20);
        var provisioning = network.Seed.Phones[0];
        var enrolmentPath = Path.Combine(network.Directory.FullName, "cli-phone", "phone-dukpt.key");
        _ = PhoneEnrolment.Create(enrolmentPath, network.Host.Profile, provisioning.InitialKey, provisioning.InitialKsn);

        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = network.Directory.FullName,
        };
        foreach (var arg in new[]
        {
            Cli.Path, "phone", "withdraw", "--qr", qr, "--account", network.Seed.Customers[0].AccountId, "--yes", "--pin-stdin",
            "--enrolment", enrolmentPath, "--proxy", $"127.0.0.1:{network.Proxy.PhoneEndPoint.Port}",
            "--set", $"Phone:TlsServerPin={network.Pki.PhonePortPin}", "--set", $"Phone:TlsTargetHost={DemoAtmPki.PhonePortName}",
        })
        {
            start.ArgumentList.Add(arg);
        }

        using var phone = Process.Start(start)!;
        var output = new System.Collections.Concurrent.ConcurrentQueue<string>();
        phone.OutputDataReceived += (_, e) => { if (e.Data is not null) { output.Enqueue(e.Data); } };
        phone.ErrorDataReceived += (_, e) => { if (e.Data is not null) { output.Enqueue(e.Data); } };
        phone.BeginOutputReadLine();
        phone.BeginErrorReadLine();
        await phone.StandardInput.WriteLineAsync(network.Seed.Customers[0].Pin);
        phone.StandardInput.Close();
        try
        {
            using (var waiting = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
            {
                while (!terminal.Output.Any(l => l.Contains("Dispensing", StringComparison.Ordinal)))
                {
                    Assert.False(phone.HasExited, "The phone ended before the ATM dispensed:\n" + string.Join('\n', output));
                    await Task.Delay(50, waiting.Token);
                }
            }

            Signals.Terminate(phone);
            using (var stopped = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
            {
                await phone.WaitForExitAsync(stopped.Token);
            }

            var log = string.Join('\n', output);
            Assert.True(phone.ExitCode == 3, $"exit {phone.ExitCode}:\n{log}");
            Assert.Contains("stopped waiting", log, StringComparison.Ordinal);
            Assert.Contains("Outcome unknown", log, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", log, StringComparison.Ordinal);
            Assert.DoesNotContain(network.Seed.Customers[0].AccountId, log, StringComparison.Ordinal);
        }
        finally
        {
            if (!phone.HasExited)
            {
                phone.Kill(entireProcessTree: true);
            }
        }
    }
}
