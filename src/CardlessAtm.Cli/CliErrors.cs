using System.Net.Sockets;
using CardlessAtm.Security;
using Microsoft.Extensions.Options;

namespace CardlessAtm.Cli;

/// <summary>
/// The one place an exception that leaves a subcommand becomes an exit code and one line on standard error:
/// 2 for a configuration or usage error (the line names the setting, the bad value and what is allowed), 1 for
/// a failure at run time. Never a stack trace: an operator reads the line, a developer runs with a debugger.
/// </summary>
internal static class CliErrors
{
    /// <summary>Exit code of a configuration or usage error.</summary>
    public const int ConfigurationExit = 2;

    /// <summary>Exit code of a failure at run time.</summary>
    public const int RuntimeExit = 1;

    /// <summary>The exit code and the one line for <paramref name="error"/>.</summary>
    public static (int ExitCode, string Line) Describe(Exception error)
    {
        var e = Unwrap(error);
        return e switch
        {
            ConfigurationException or UsageException => (ConfigurationExit, e.Message),
            Panel.PanelRefusedException => (ConfigurationExit, $"The panel refuses to start: {e.Message}"),
            OptionsValidationException invalid => (ConfigurationExit, OneLine(invalid)),

            // Every text a command parses is a setting or an argument, so a FormatException that gets here
            // (Security:Profile, a certificate pin, a number) is a bad value; its message names the setting.
            FormatException => (ConfigurationExit, $"Configuration error: {e.Message}"),
            InvalidDataException when e.Message.StartsWith("Failed to load configuration", StringComparison.Ordinal) =>
                (ConfigurationExit, $"Configuration error in --config: {e.Message.TrimEnd('.')}: {Innermost(e).Message}"),
            InvalidOperationException when e.Message.StartsWith("Failed to convert configuration value", StringComparison.Ordinal) =>
                (ConfigurationExit, $"Configuration error: {e.Message}"),

            // A key file or directory that others can read, or that is malformed, is the operator's to fix.
            KeyFileRejectedException => (ConfigurationExit, $"Key store: {e.Message}"),
            SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse or SocketError.AddressNotAvailable or SocketError.AccessDenied } socket =>
                (ConfigurationExit, $"Configuration error: cannot listen ({socket.SocketErrorCode}): {socket.Message}"),
            OperationCanceledException => (RuntimeExit, "Stopped before finishing."),
            _ => (RuntimeExit, $"Error: {e.Message}"),
        };
    }

    /// <summary>
    /// One line for every failure of an options validator. The validators name the full setting path first
    /// (<c>Devices:Dispenser:Lcdm2000:PortName: must be set</c>), so the line reads like a <see cref="ConfigurationException"/>'s.
    /// </summary>
    private static string OneLine(OptionsValidationException invalid)
    {
        var failures = invalid.Failures.Select(f => f.ReplaceLineEndings(" ").TrimEnd('.')).Where(f => f.Length > 0).ToList();
        return failures.Count == 0 ? $"Configuration error: {invalid.Message}" : $"Configuration error in {string.Join("; ", failures)}.";
    }

    private static Exception Unwrap(Exception error) => error switch
    {
        AggregateException { InnerExceptions.Count: 1 } aggregate => Unwrap(aggregate.InnerExceptions[0]),
        System.Reflection.TargetInvocationException { InnerException: { } inner } => Unwrap(inner),
        _ => error,
    };

    private static Exception Innermost(Exception error)
    {
        while (error.InnerException is not null)
        {
            error = error.InnerException;
        }

        return error;
    }
}
