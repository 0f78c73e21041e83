using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using CardlessAtm.Terminal;
using CardlessAtm.Terminal.StoreAndForward;

namespace CardlessAtm.Cli.Commands;

/// <summary>
/// <c>cardless-atm terminal saf list | retry ID | export</c>: the operator's view of the store-and-forward
/// reversal queue in <c>Terminal:DataDirectory/saf</c>. Works on the files, beside a running terminal.
/// </summary>
internal static class TerminalSafCommand
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } };

    public static Command Create()
    {
        var list = new Command("list", "Each reversal waiting for the host: id, amounts, reason, status, attempts, the host's last answer. Exit 3 when any is stuck.");
        list.SetAction(parse => CliHost.RunAsync(() => Task.FromResult(List(OpenQueue(parse), Console.Out))));

        var id = new Argument<string>("id") { Description = "The reversal id as 'saf list' shows it (original STAN-transmission time)." };
        var retry = new Command("retry", "Make a reversal due at once: one an operator had to handle (e.g. after unblocking the ATM at the host), or past its attempt bound.") { id };
        retry.SetAction(parse => CliHost.RunAsync(async () =>
        {
            var queue = OpenQueue(parse);
            var reversalId = parse.GetValue(id)!;
            if (reversalId.Length == 0 || reversalId.Any(c => !char.IsAsciiLetterOrDigit(c) && c != '-'))
            {
                await Console.Error.WriteLineAsync($"saf retry: '{reversalId}' is not a reversal id (letters, digits and '-', as 'saf list' shows them).");
                return 2;
            }

            if (!ReversalForwarder.RequestRetry(queue, reversalId, TimeProvider.System))
            {
                await Console.Error.WriteLineAsync($"saf retry: no reversal '{reversalId}' in {queue.Directory} ('saf list' shows the ids).");
                return 2;
            }

            Console.WriteLine($"Reversal {reversalId} is due now; the running terminal sends it within Terminal:ReversalRetryMax.");
            return 0;
        }));

        var export = new Command("export", "Every reversal in the queue as JSON on standard output, for reconciliation.");
        export.SetAction(parse => CliHost.RunAsync(async () =>
        {
            var (reversals, unreadable) = OpenQueue(parse).ReadAll();
            Console.WriteLine(JsonSerializer.Serialize(new { reversals, unreadable }, Json));
            foreach (var problem in unreadable)
            {
                await Console.Error.WriteLineAsync($"unreadable: {problem}");
            }

            return unreadable.Count > 0 ? 3 : 0;
        }));

        return new Command("saf", "The store-and-forward reversal queue: list, retry, export.") { list, retry, export };
    }

    /// <summary>Prints the queue; 3 when a reversal is stuck or a file unreadable, else 0.</summary>
    public static int List(ReversalStore queue, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(output);
        var (reversals, unreadable) = queue.ReadAll();
        output.WriteLine($"{reversals.Count + unreadable.Count} reversal(s) in {queue.Directory}");
        var stuck = 0;
        foreach (var r in reversals)
        {
            var needsOperator = r.Status == ReversalStatus.NeedsOperator;
            stuck += needsOperator ? 1 : 0;
            output.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"{r.Id}  session={r.Session ?? "-"}  amount={r.AmountMinor}  dispensed={r.DispensedMinor}  reason={r.ReasonCode} ({r.Reason})  status={r.Status}  attempts={r.Attempts}  last={r.LastResponse ?? "-"}  next={(needsOperator ? "after 'saf retry'" : r.NextAttemptAt?.ToString("u", CultureInfo.InvariantCulture) ?? "now")}  problem={r.LastProblem ?? "-"}"));
        }

        foreach (var problem in unreadable)
        {
            output.WriteLine($"UNREADABLE {problem}");
        }

        return stuck + unreadable.Count > 0 ? 3 : 0;
    }

    private static ReversalStore OpenQueue(ParseResult parse)
    {
        using var host = CliHost.Build(parse, b => b.Services.AddTerminalOptions(b.Configuration));
        var options = TerminalCommand.ReadOptions(host.Services);
        return new ReversalStore(Path.Combine(options.DataDirectory, "saf"));
    }
}
