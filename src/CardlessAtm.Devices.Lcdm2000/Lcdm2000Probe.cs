using System.Text.Json;
using System.Text.Json.Nodes;
using CardlessAtm.Devices.Lcdm2000.Protocol;
using CardlessAtm.Devices.Puloon;

namespace CardlessAtm.Devices.Lcdm2000;

/// <summary>Asks the operator at the unit to do something; returns false to stop the probe.</summary>
/// <param name="instruction">What to do, as one sentence (e.g. "Pull cassette 2 (lower) out, then press Enter.").</param>
/// <param name="cancellationToken">Cancels the wait.</param>
public delegate Task<bool> Lcdm2000ProbePrompt(string instruction, CancellationToken cancellationToken);

/// <summary>What the probe found out about one convention.</summary>
/// <typeparam name="T">The setting's type.</typeparam>
/// <param name="Value">The convention the unit uses, or null when the evidence did not decide.</param>
/// <param name="Evidence">What was seen, for the operator and the log.</param>
public sealed record Lcdm2000ProbeFinding<T>(T? Value, string Evidence)
    where T : struct, Enum;

/// <summary>The result of <see cref="Lcdm2000Probe.RunAsync"/>.</summary>
/// <param name="CombinedAnswerOrder">The field order of the 0x56 answer.</param>
/// <param name="CassetteSensorBit">The meaning of a set cassette bit.</param>
public sealed record Lcdm2000ProbeResult(
    Lcdm2000ProbeFinding<Lcdm2000CombinedAnswerOrder> CombinedAnswerOrder,
    Lcdm2000ProbeFinding<Lcdm2000CassetteSensorBit> CassetteSensorBit)
{
    /// <summary>Whether both conventions were determined.</summary>
    public bool IsComplete => CombinedAnswerOrder.Value is not null && CassetteSensorBit.Value is not null;

    /// <summary>The settings to configure, as an <c>appsettings.json</c> fragment (only those determined).</summary>
    public string SettingsJson()
    {
        var lcdm2000 = new JsonObject();
        if (CombinedAnswerOrder.Value is { } order)
        {
            lcdm2000[nameof(Lcdm2000Options.CombinedAnswerOrder)] = order.ToString();
        }

        if (CassetteSensorBit.Value is { } bit)
        {
            lcdm2000[nameof(Lcdm2000Options.CassetteSensorBit)] = bit.ToString();
        }

        var root = new JsonObject { ["Devices"] = new JsonObject { ["Dispenser"] = new JsonObject { ["Lcdm2000"] = lcdm2000 } } };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }
}

/// <summary>
/// Determines on a real unit the two protocol details public sources disagree on. The cassette bit: three status
/// answers, with both cassettes in, with cassette 2 pulled and with it back. The 0x56 field order: one combined
/// dispense of <see cref="UpperNotes"/> + <see cref="LowerNotes"/> notes, whose counts fit only one order. The answers
/// are read raw, so the driver's own settings do not matter.
/// </summary>
public static class Lcdm2000Probe
{
    /// <summary>Notes the probe dispenses from the upper cassette.</summary>
    public const int UpperNotes = 1;

    /// <summary>Notes the probe dispenses from the lower cassette (different from <see cref="UpperNotes"/>, so the two orders tell apart).</summary>
    public const int LowerNotes = 2;

    private const byte LowerCassetteBit = 0x04; // SENSOR1 bit 2

    /// <summary>Runs the probe; every step is announced through <paramref name="prompt"/>, progress goes to <paramref name="log"/>.</summary>
    public static async Task<Lcdm2000ProbeResult> RunAsync(Lcdm2000Dispenser dispenser, Lcdm2000ProbePrompt prompt, TextWriter log, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(dispenser);
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(log);
        var (rom, failure) = await dispenser.ReadRomVersionAsync(cancellationToken);
        if (failure is not null)
        {
            var reason = $"the unit does not answer: {failure.Detail}";
            return new(new(null, reason), new(null, reason));
        }

        await log.WriteLineAsync($"LCDM-2000 on {dispenser.Options.PortName} answers, ROM {rom}.");
        var bit = await ProbeCassetteBitAsync(dispenser, prompt, log, cancellationToken);
        await log.WriteLineAsync($"Cassette bit: {(bit.Value?.ToString() ?? "not determined")} — {bit.Evidence}");
        var order = await ProbeCombinedOrderAsync(dispenser, prompt, cancellationToken);
        await log.WriteLineAsync($"0x56 field order: {(order.Value?.ToString() ?? "not determined")} — {order.Evidence}");
        return new(order, bit);
    }

    private static async Task<Lcdm2000ProbeFinding<Lcdm2000CassetteSensorBit>> ProbeCassetteBitAsync(
        Lcdm2000Dispenser dispenser, Lcdm2000ProbePrompt prompt, TextWriter log, CancellationToken cancellationToken)
    {
        var steps = new[]
        {
            "Put both cassettes and the reject tray in place, then press Enter.",
            "Pull cassette 2 (the lower one) out, then press Enter.",
            "Put cassette 2 back in, then press Enter.",
        };
        var sensor1 = new byte[steps.Length];
        for (var i = 0; i < steps.Length; i++)
        {
            if (!await prompt(steps[i], cancellationToken))
            {
                return new(null, "stopped by the operator");
            }

            var exchange = await dispenser.ExchangeRawAsync(Lcdm2000Command.Status, [], dispenser.Options.StatusTimeout, repeatOnSilence: true, cancellationToken);
            if (exchange.Outcome != ExchangeOutcome.Answered)
            {
                return new(null, $"no status answer: {exchange.Detail}");
            }

            sensor1[i] = exchange.Answer[7];
            await log.WriteLineAsync($"  status {i + 1}: SENSOR1 0x{sensor1[i]:X2}");
        }

        var (inPlace, pulled, back) = ((sensor1[0] & LowerCassetteBit) != 0, (sensor1[1] & LowerCassetteBit) != 0, (sensor1[2] & LowerCassetteBit) != 0);
        var raw = $"SENSOR1 bit 2 was {Bit(inPlace)} with cassette 2 in, {Bit(pulled)} pulled, {Bit(back)} back in";
        if (inPlace == pulled)
        {
            return new(null, $"{raw}: it did not change — was cassette 2 really pulled? Repeat the probe");
        }

        if (back != inPlace)
        {
            return new(null, $"{raw}: it did not return when the cassette went back — is it seated? Repeat the probe");
        }

        return new(pulled ? Lcdm2000CassetteSensorBit.SetWhenMissing : Lcdm2000CassetteSensorBit.SetWhenPresent, raw);
    }

    private static async Task<Lcdm2000ProbeFinding<Lcdm2000CombinedAnswerOrder>> ProbeCombinedOrderAsync(
        Lcdm2000Dispenser dispenser, Lcdm2000ProbePrompt prompt, CancellationToken cancellationToken)
    {
        var notes = UpperNotes + LowerNotes;
        if (!await prompt(
                $"Next: a dispense of {UpperNotes} note from cassette 1 and {LowerNotes} from cassette 2 ({notes} notes leave through the exit; take them and count them back in). Press Enter to dispense.",
                cancellationToken))
        {
            return new(null, "stopped by the operator (nothing dispensed)");
        }

        var data = new byte[4];
        Lcdm2000Frame.WriteCount(data.AsSpan(0, 2), UpperNotes);
        Lcdm2000Frame.WriteCount(data.AsSpan(2, 2), LowerNotes);
        var exchange = await dispenser.ExchangeRawAsync(
            Lcdm2000Command.UpperAndLowerDispense, data, dispenser.Options.DispenseTimeout(notes), repeatOnSilence: false, cancellationToken);
        if (exchange.Outcome != ExchangeOutcome.Answered)
        {
            return new(null, $"no answer to the dispense ({exchange.Detail}); count the notes that came out before repeating");
        }

        var frame = exchange.Answer;
        var raw = $"counts {System.Text.Encoding.ASCII.GetString(frame, 4, 8)} for {UpperNotes:00}+{LowerNotes:00} asked";
        var error = Lcdm2000Errors.Describe(frame[12]);
        if (!error.IsSuccess)
        {
            return new(null, $"the dispense ended with {error} ({raw}): clear it and repeat the probe");
        }

        var fitting = Enum.GetValues<Lcdm2000CombinedAnswerOrder>().Where(order => Fits(Lcdm2000ResponseParser.ParseDispense(frame, order))).ToArray();
        return fitting.Length == 1
            ? new(fitting[0], raw)
            : new(null, $"{raw}: the counts fit {(fitting.Length == 0 ? "neither order" : "both orders")} (notes rejected or short?); repeat the probe");
    }

    /// <summary>Every asked note exited, and no cassette exited or rejected more than it picked.</summary>
    private static bool Fits(Lcdm2000DispenseReport? report) =>
        report is { Cassettes: [var upper, var lower] }
        && upper.Exited == UpperNotes && lower.Exited == LowerNotes
        && upper.Checked >= upper.Exited + upper.Rejected && lower.Checked >= lower.Exited + lower.Rejected;

    private static string Bit(bool set) => set ? "1" : "0";
}
