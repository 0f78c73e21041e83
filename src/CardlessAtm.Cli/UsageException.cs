namespace CardlessAtm.Cli;

/// <summary>A command-line argument or its combination with others is wrong; exit code 2 with the message (see <see cref="CliErrors"/>).</summary>
/// <param name="message">What is wrong, naming the option, and what is allowed.</param>
internal sealed class UsageException(string message) : Exception(message);
