using System.Diagnostics;
using CardlessAtm.Host.Server;

namespace CardlessAtm.Host.Tests.Support;

/// <summary>
/// A host running in its own OS process over a given database and key store, so a test can kill it
/// for real (SIGKILL) at a chosen moment. The child prints <c>LISTENING port</c> when ready and, with
/// <c>--hang-after-commit</c>, <c>COMMITTED stan</c> after a withdrawal decision is durable and then
/// never answers — the window between approval and response.
/// </summary>
public sealed class HostProcess : IDisposable
{
    private readonly Process _process;

    private HostProcess(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public static async Task<HostProcess> StartAsync(string databasePath, string keyStorePath, bool hangAfterCommit)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(typeof(HostProcess).Assembly.Location);
        info.ArgumentList.Add("--host-process");
        info.ArgumentList.Add(databasePath);
        info.ArgumentList.Add(keyStorePath);
        if (hangAfterCommit)
        {
            info.ArgumentList.Add("--hang-after-commit");
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start the host process.");
        process.ErrorDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var line = await process.StandardOutput.ReadLineAsync(timeout.Token);
        if (line is null || !line.StartsWith("LISTENING ", StringComparison.Ordinal))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"The host process did not start: '{line}'.");
        }

        return new HostProcess(process, int.Parse(line["LISTENING ".Length..], System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>Waits for the child's next <c>COMMITTED stan</c> line.</summary>
    public async Task<string> WaitForCommitAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var line = await _process.StandardOutput.ReadLineAsync(timeout.Token);
        return line is not null && line.StartsWith("COMMITTED ", StringComparison.Ordinal)
            ? line["COMMITTED ".Length..]
            : throw new InvalidOperationException($"Expected a COMMITTED line, got '{line}'.");
    }

    /// <summary>SIGKILL: no drain, no dispose, nothing flushed beyond what was committed.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            Kill();
        }

        _process.Dispose();
    }

    /// <summary>The child's main: <c>--host-process db keys [--hang-after-commit]</c>.</summary>
    internal static async Task<int> RunAsync(string[] args)
    {
        if (args.Length < 3 || args[0] != "--host-process")
        {
            await Console.Error.WriteLineAsync("usage: --host-process <database> <key store> [--hang-after-commit]");
            return 2;
        }

        var options = new HostServerOptions { DatabasePath = args[1], KeyVaultPath = args[2], Port = 0, Insecure = true };
        await using var host = await HostServer.StartAsync(options);
        if (args.Contains("--hang-after-commit"))
        {
            host.Processor.AfterWithdrawalCommitted = async (request, _) =>
            {
                Console.Out.WriteLine("COMMITTED " + request.GetString(11));
                Console.Out.Flush();
                await Task.Delay(Timeout.Infinite);
            };
        }

        Console.Out.WriteLine("LISTENING " + host.LocalEndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Console.Out.Flush();
        await Task.Delay(Timeout.Infinite);
        return 0;
    }
}
