using System.Diagnostics;

namespace CardlessAtm.EndToEnd.Tests;

/// <summary><c>cardless-atm</c> run to its end: exit code and everything it printed (standard output, then standard error).</summary>
internal static class CliRun
{
    /// <summary>Starts a long-running role (host, proxy) and returns it with its output collected line by line.</summary>
    public static (Process Process, System.Collections.Concurrent.ConcurrentQueue<string> Output) Start(string workingDirectory, params string[] args) =>
        Start(workingDirectory, new Dictionary<string, string?>(), args);

    /// <summary>As <see cref="Start(string, string[])"/>, with <paramref name="environment"/> set in the child only (e.g. a crash-test hook).</summary>
    public static (Process Process, System.Collections.Concurrent.ConcurrentQueue<string> Output) Start(string workingDirectory, IReadOnlyDictionary<string, string?> environment, params string[] args)
    {
        var start = StartInfo(workingDirectory, args, redirectInput: false);
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        var output = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start cardless-atm.");
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                output.Enqueue(e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                output.Enqueue("stderr: " + e.Data);
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return (process, output);
    }

    public static async Task<(int ExitCode, string Output)> RunAsync(string workingDirectory, params string[] args)
    {
        var start = StartInfo(workingDirectory, args, redirectInput: true);

        using var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start cardless-atm.");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"cardless-atm {string.Join(' ', args)} did not end within 60 s. Output so far:\n{await stdout}{await stderr}");
        }

        return (process.ExitCode, (await stdout) + (await stderr));
    }

    private static ProcessStartInfo StartInfo(string workingDirectory, string[] args, bool redirectInput)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = redirectInput,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        start.ArgumentList.Add(Cli.Path);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        return start;
    }
}
