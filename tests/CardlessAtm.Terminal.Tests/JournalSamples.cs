using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Terminal.Journal;

namespace CardlessAtm.Terminal.Tests;

/// <summary>Typed journal entries as the terminal writes them, for tests that write a journal by hand.</summary>
internal static class JournalSamples
{
    public const string AtmId = "ATM00001";

    public static TerminalStarted Started() => new(AtmId);

    /// <summary>The 0200 about to leave for <paramref name="session"/>: this opens a withdrawal recovery must settle.</summary>
    public static AuthoriseRequested Asked(string session, int stan, long amountMinor = 8_000, string transmission = "1201100000") =>
        new($"63351{stan:D7}", transmission, new JournalAmount(amountMinor, "EUR")) { Session = session, Stan = stan };

    /// <summary>The host's answer: authentic and bound unless told otherwise.</summary>
    public static AuthoriseAnswered Answered(string session, int stan, string? response = "00", bool macVerified = true) =>
        new(response, macVerified, null, response == "00" ? "123456" : null, false, response is null ? "timeout" : null) { Session = session, Stan = stan };

    /// <summary>The dispense of <paramref name="mix"/> about to start, with the cash units' counts and the device's counters (none when null).</summary>
    public static DispenseStarted DispenseStart(string session, int stan, Mix mix, IEnumerable<CashUnit> units, DeviceCounters? counters = null, string transmission = "1201100000") =>
        new(JournalMixItem.Of(mix), units.ToDictionary(u => u.Id, u => u.Count, StringComparer.Ordinal), counters is null ? null : JournalDeviceCounter.Of(counters),
            $"{stan:D6}-{transmission}", $"63351{stan:D7}", transmission, JournalAmount.Of(mix.Amount))
        { Session = session, Stan = stan };

    public static DispenseEnded DispenseEnd(string session, int stan, DispenseResult result) => DispenseEnded.Of(result) with { Session = session, Stan = stan };

    public static WithdrawalEnded Ended(string session, string response = "00") =>
        new(response, new JournalAmount(0, "EUR"), "Done", "-") { Session = session };

    public static SensorChanged Sensor(string sensor = "SafeDoor", string? to = "Normal") => new(sensor, null, to, "Idle");
}
