using System.Diagnostics;
using System.Globalization;

namespace CardlessAtm.EndToEnd.Tests;

/// <summary>POSIX signals to a child process (<see cref="Process.Kill()"/> only sends SIGKILL).</summary>
internal static class Signals
{
    /// <summary>Sends SIGTERM, as systemd's stop and a plain <c>kill</c> do.</summary>
    public static void Terminate(Process process)
    {
        using var kill = Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
        if (kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill -TERM {process.Id} failed with exit code {kill.ExitCode}");
        }
    }
}
