using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace CardlessAtm.EndToEnd.Tests;

/// <summary>One step of docs/operations.md that the guide marks with <c>&lt;!-- ops-test: KIND ARGS --&gt;</c>.</summary>
/// <param name="Kind"><c>run</c>, <c>start</c>, <c>keypad</c>, <c>wait</c> or <c>stop</c>.</param>
/// <param name="Arguments">What follows the kind on the marker line.</param>
/// <param name="Code">The fenced block after a <c>run</c> or <c>start</c> marker, else empty.</param>
/// <param name="Line">The marker's line number in the guide (1-based), for messages.</param>
internal sealed record GuideStep(string Kind, string Arguments, string Code, int Line)
{
    /// <summary>The <c>#&gt;</c> lines of the block: output the guide promises.</summary>
    public IReadOnlyList<string> Expected =>
        Code.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("#>", StringComparison.Ordinal)).Select(l => l[2..].Trim()).ToList();

    /// <summary>The block without its comment lines (what a background role is started with).</summary>
    public string Command =>
        string.Join('\n', Code.Split('\n').Where(l => !l.TrimStart().StartsWith('#') && l.Trim().Length > 0));

    /// <summary>Parses the guide: every marker in order, with the fenced block that follows a <c>run</c> or <c>start</c> marker.</summary>
    public static IReadOnlyList<GuideStep> Parse(string markdown)
    {
        var lines = markdown.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        var steps = new List<GuideStep>();
        for (var i = 0; i < lines.Length; i++)
        {
            var marker = Regex.Match(lines[i], @"^<!-- ops-test: (\w+)\s*(.*?)\s*-->$");
            if (!marker.Success)
            {
                continue;
            }

            var kind = marker.Groups[1].Value;
            var code = string.Empty;
            if (kind is "run" or "start")
            {
                var open = i + 1;
                if (open >= lines.Length || !lines[open].StartsWith("```sh", StringComparison.Ordinal))
                {
                    throw new FormatException($"docs/operations.md:{i + 1}: an ops-test {kind} marker must be followed by a ```sh block.");
                }

                var close = Array.FindIndex(lines, open + 1, l => l.StartsWith("```", StringComparison.Ordinal));
                if (close < 0)
                {
                    throw new FormatException($"docs/operations.md:{open + 1}: the block is not closed.");
                }

                code = string.Join('\n', lines[(open + 1)..close]);
                i = close;
            }

            steps.Add(new GuideStep(kind, marker.Groups[2].Value, code, i + 1));
        }

        return steps;
    }

    /// <summary>
    /// Whether <paramref name="output"/> has a line the promised <paramref name="expected"/> line describes: runs of
    /// white space are one space and <c>…</c> stands for anything.
    /// </summary>
    public static bool Matches(IEnumerable<string> output, string expected)
    {
        var parts = Collapse(expected).Split('…');
        return output.Select(Collapse).Any(line =>
        {
            var at = 0;
            for (var p = 0; p < parts.Length; p++)
            {
                var part = p == 0 ? parts[p].TrimEnd() : p == parts.Length - 1 ? parts[p].TrimStart() : parts[p].Trim();
                var found = line.IndexOf(part, at, StringComparison.Ordinal);
                if (found < 0)
                {
                    return false;
                }

                at = found + part.Length;
            }

            return true;
        });
    }

    private static string Collapse(string text) => Regex.Replace(text, @"\s+", " ").Trim();
}

/// <summary>
/// Runs docs/operations.md's marked steps in order: one <c>bash</c> (<c>set -euo pipefail</c>) for the
/// <c>run</c> blocks, a separate process per <c>start</c>ed role (its console is the ATM's screen and keypad for
/// the terminal), in a temporary prefix, with a <c>cardless-atm</c> wrapper on PATH that runs the built CLI.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // bash, POSIX signals and file modes
internal sealed class GuideRunner : IAsyncDisposable
{
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(120);

    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("cardless-atm-guide-");
    private readonly ConcurrentQueue<string> _shellOutput = new();
    private readonly Dictionary<string, (Process Process, ConcurrentQueue<string> Output)> _roles = [];
    private readonly Process _shell;
    private int _block;

    public GuideRunner()
    {
        var bin = Directory.CreateDirectory(Path.Combine(_directory.FullName, "bin")).FullName;
        var wrapper = Path.Combine(bin, "cardless-atm");
        File.WriteAllText(wrapper, $"#!/usr/bin/env bash\nexec dotnet '{Cli.Path}' \"$@\"\n");
        File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Directory.CreateDirectory(Path.Combine(_directory.FullName, "work"));
        Directory.CreateDirectory(Path.Combine(_directory.FullName, "blocks"));

        var start = new ProcessStartInfo("bash")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.Combine(_directory.FullName, "work"),
        };
        start.ArgumentList.Add("--noprofile");
        start.ArgumentList.Add("--norc");
        start.Environment["PREFIX"] = Prefix;
        start.Environment["HOST_PORT"] = FreePort();
        start.Environment["ATM_PORT"] = FreePort();
        start.Environment["PHONE_PORT"] = FreePort();
        start.Environment["PATH"] = bin + ":" + Environment.GetEnvironmentVariable("PATH");
        _shell = Process.Start(start) ?? throw new InvalidOperationException("Could not start bash.");
        Collect(_shell, _shellOutput);
        Send("set -euo pipefail; exec 2>&1");
    }

    /// <summary>The temporary prefix the guide's <c>PREFIX</c> is set to.</summary>
    public string Prefix => Path.Combine(_directory.FullName, "lab");

    /// <summary>Everything the started roles printed (for checks that no secret reached a log).</summary>
    public IEnumerable<string> RoleOutput(string role) => _roles[role].Output;

    public async Task RunAsync(GuideStep step)
    {
        switch (step.Kind)
        {
            case "run":
                await RunBlockAsync(step);
                break;
            case "start":
                await StartRoleAsync(step);
                break;
            case "keypad":
                await TypeAmountAsync(step);
                break;
            case "wait":
                {
                    var (role, text) = Split(step.Arguments);
                    await WaitForAsync(step, role, lines => lines.Any(l => l.Contains(text, StringComparison.Ordinal)), $"'{text}'");
                    break;
                }

            case "stop":
                await StopRoleAsync(step);
                break;
            default:
                throw new FormatException($"docs/operations.md:{step.Line}: unknown ops-test step '{step.Kind}'.");
        }
    }

    private async Task RunBlockAsync(GuideStep step)
    {
        var n = ++_block;
        var expectedExit = Regex.Match(step.Arguments, @"exit=(\d+)") is { Success: true } m ? int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        var file = Path.Combine(_directory.FullName, "blocks", $"{n}.sh");
        await File.WriteAllTextAsync(file, step.Code + "\n");
        var begin = $"::begin {n}";
        Send(expectedExit == 0
            ? $"echo '{begin}'; source '{file}' < /dev/null; echo \"::rc {n} $?\""
            : $"echo '{begin}'; set +e; source '{file}' < /dev/null; __rc=$?; set -e; echo \"::rc {n} $__rc\"");

        var rcLine = await WaitForShellAsync(step, $"::rc {n} ");
        var lines = _shellOutput.ToList();
        var output = lines.SkipWhile(l => l != begin).Skip(1).TakeWhile(l => !l.StartsWith($"::rc {n} ", StringComparison.Ordinal)).ToList();
        var exit = int.Parse(rcLine[$"::rc {n} ".Length..], CultureInfo.InvariantCulture);
        Assert.True(exit == expectedExit, $"docs/operations.md:{step.Line}: the block ended with exit code {exit}, the guide says {expectedExit}. Output:\n{string.Join('\n', output)}");
        foreach (var expected in step.Expected)
        {
            Assert.True(GuideStep.Matches(output, expected), $"docs/operations.md:{step.Line}: the guide promises '{expected}', the tool printed:\n{string.Join('\n', output)}");
        }
    }

    private async Task StartRoleAsync(GuideStep step)
    {
        var role = step.Arguments.Trim();
        var env = Path.Combine(_directory.FullName, $"env-{role}.sh");
        var n = ++_block;
        Send($"export -p > '{env}'; echo \"::rc {n} $?\"");
        await WaitForShellAsync(step, $"::rc {n} ");

        var start = new ProcessStartInfo("bash")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.Combine(_directory.FullName, "work"),
        };
        start.ArgumentList.Add("--noprofile");
        start.ArgumentList.Add("--norc");
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add($"source '{env}' && exec {step.Command}");
        var output = new ConcurrentQueue<string>();
        var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {role}.");
        _roles[role] = (process, output);
        Collect(process, output);
        foreach (var expected in step.Expected)
        {
            await WaitForAsync(step, role, lines => GuideStep.Matches(lines, expected), $"'{expected}'");
        }
    }

    /// <summary>The customer at the ATM: Enter on the idle screen, the amount, Enter; done when a new QR is on screen.</summary>
    private async Task TypeAmountAsync(GuideStep step)
    {
        var (role, amount) = Split(step.Arguments);
        var (process, _) = _roles[role];
        await WaitForAsync(step, role, IsIdle, "the idle screen");
        var shown = _roles[role].Output.Count(IsQr);
        await process.StandardInput.WriteAsync("\n" + amount + "\n");
        await process.StandardInput.FlushAsync();
        await WaitForAsync(step, role, lines => lines.Count(IsQr) > shown, "a new QR code");
    }

    private async Task StopRoleAsync(GuideStep step)
    {
        var (role, text) = Split(step.Arguments);
        var (process, output) = _roles[role];
        Signals.Terminate(process);
        using (var timeout = new CancellationTokenSource(StepTimeout))
        {
            await process.WaitForExitAsync(timeout.Token);
        }

        var log = string.Join('\n', output);
        Assert.True(process.ExitCode == 0, $"docs/operations.md:{step.Line}: {role} exited {process.ExitCode} on SIGTERM:\n{log}");
        Assert.Contains(text, log, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", log, StringComparison.Ordinal);
    }

    private async Task WaitForAsync(GuideStep step, string role, Func<IReadOnlyList<string>, bool> done, string what)
    {
        var (process, output) = _roles.TryGetValue(role, out var found)
            ? found
            : throw new InvalidOperationException($"docs/operations.md:{step.Line}: '{role}' was not started.");
        var deadline = Stopwatch.StartNew();
        while (!done(output.ToList()))
        {
            if (process.HasExited || deadline.Elapsed > StepTimeout)
            {
                await Task.Delay(200); // the last lines of an exited process
                Assert.Fail($"docs/operations.md:{step.Line}: {role} {(process.HasExited ? $"exited with code {process.ExitCode}" : $"ran {StepTimeout.TotalSeconds:0} s")} without printing {what}. Output:\n{string.Join('\n', output)}");
            }

            await Task.Delay(50);
        }
    }

    private async Task<string> WaitForShellAsync(GuideStep step, string prefix)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (_shellOutput.FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal)) is { } line)
            {
                return line;
            }

            if (_shell.HasExited || deadline.Elapsed > StepTimeout)
            {
                await Task.Delay(200);
                var exited = _shell.HasExited ? $"stopped the guide's shell (set -e) with exit code {_shell.ExitCode}" : $"did not end within {StepTimeout.TotalSeconds:0} s";
                Assert.Fail($"docs/operations.md:{step.Line}: the block {exited}. Shell output:\n{string.Join('\n', _shellOutput)}");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>Whether the ATM's console shows the idle screen as its latest screen (as <see cref="Network"/> reads it).</summary>
    private static bool IsIdle(IReadOnlyList<string> lines)
    {
        string[] otherScreens = ["  Amount (", "  Scan with", "  Authorising", "  Dispensing", "  Transaction terminated", "  Please take", "  Only "];
        var list = lines.ToList();
        var welcome = list.FindLastIndex(l => l.StartsWith("  Press ENTER", StringComparison.Ordinal));
        var other = list.FindLastIndex(l => otherScreens.Any(p => l.StartsWith(p, StringComparison.Ordinal)));
        return welcome > other;
    }

    private static bool IsQr(string line) => line.TrimStart().StartsWith("QR:", StringComparison.Ordinal);

    private static (string Role, string Text) Split(string arguments)
    {
        var space = arguments.IndexOf(' ', StringComparison.Ordinal);
        return space < 0 ? (arguments, string.Empty) : (arguments[..space], arguments[(space + 1)..].Trim());
    }

    private void Send(string line)
    {
        _shell.StandardInput.Write(line + "\n");
        _shell.StandardInput.Flush();
    }

    private static string FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port.ToString(CultureInfo.InvariantCulture);
    }

    private static void Collect(Process process, ConcurrentQueue<string> output)
    {
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
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (process, _) in _roles.Values.Append((_shell, _shellOutput)))
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }

            process.Dispose();
        }

        try
        {
            _directory.Delete(recursive: true);
        }
        catch (IOException)
        {
        }
    }

    internal static string Describe(IEnumerable<GuideStep> steps) =>
        steps.Aggregate(new StringBuilder(), (b, s) => b.Append(CultureInfo.InvariantCulture, $"{s.Line}: {s.Kind} {s.Arguments}\n")).ToString();
}

/// <summary>Files of this repository (the guide, the shipped configuration).</summary>
internal static class Repository
{
    /// <summary>The repository's file at <paramref name="relativePath"/> (the guide itself).</summary>
    public static string File(string relativePath)
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !System.IO.File.Exists(Path.Combine(root.FullName, "CardlessAtm.Devices.sln")))
        {
            root = root.Parent;
        }

        return Path.Combine(root?.FullName ?? throw new InvalidOperationException("Repository root not found."), relativePath);
    }
}
