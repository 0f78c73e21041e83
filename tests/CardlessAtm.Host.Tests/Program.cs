using CardlessAtm.Host.Tests.Support;

namespace CardlessAtm.Host.Tests;

/// <summary>
/// Entry point used only when the crash test runs this assembly as a separate host process
/// (<c>dotnet CardlessAtm.Host.Tests.dll --host-process …</c>); the test runner never calls it.
/// </summary>
public static class Program
{
    public static Task<int> Main(string[] args) => HostProcess.RunAsync(args);
}
