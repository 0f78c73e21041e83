using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Simulated;
using CardlessAtm.Iso8583;
using CardlessAtm.Security;
using CardlessAtm.Terminal.Flow;
using CardlessAtm.Terminal.Journal;
using CardlessAtm.Terminal.Links;
using CardlessAtm.Terminal.StoreAndForward;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace CardlessAtm.Terminal.Tests;

/// <summary>Journal segments, retention and recovery across segments, on real temporary files without a terminal.</summary>
public sealed class JournalRotationTests : IDisposable
{
    private static readonly JournalOptions Small = new() { MaxSegmentBytes = 1024, RetentionDays = 2 };
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("cardless-atm-rotation-");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2025, 3, 1, 10, 0, 0, TimeSpan.Zero));

    private string JournalPath => Path.Combine(_directory.FullName, "journal.log");

    [Fact]
    public async Task The_journal_rotates_by_size_and_by_utc_day_and_reads_across_segments_in_order()
    {
        using (var journal = new ElectronicJournal(JournalPath, _time, options: Small))
        {
            for (var i = 0; i < 40; i++)
            {
                await journal.WriteAsync(JournalSamples.Sensor(to: $"{i}"));
            }

            _time.Advance(TimeSpan.FromDays(1));
            await journal.WriteAsync(JournalSamples.Started());
        }

        var files = ElectronicJournal.Segments(JournalPath);
        var closed = files.Take(files.Count - 1).Select(Path.GetFileName).ToList();
        Assert.True(closed.Count >= 3, string.Join(", ", closed));
        Assert.Equal(closed.Select((_, i) => $"journal-20250301-{i + 1:D3}.log"), closed);
        Assert.All(files, f => Assert.InRange(new FileInfo(f).Length, 1, Small.MaxSegmentBytes));
        var read = ElectronicJournal.ReadAll(JournalPath);
        Assert.Empty(read.Skipped);
        Assert.Equal(Enumerable.Range(1, read.Count).Select(i => (long)i), read.Select(e => e.Sequence)); // no gap, no repeat
        Assert.Equal(40, read.Count(e => e.Event == JournalEvents.Sensor));
        var current = ElectronicJournal.ReadAll(JournalPath).Where(e => e.At.UtcDateTime.Date == new DateTime(2025, 3, 2)).ToList();
        Assert.Equal([JournalEvents.SegmentStarted, JournalEvents.Started], current.Select(e => e.Event)); // the new day began a segment
        Assert.Equal(closed[^1], Assert.IsType<SegmentStarted>(current[0]).Previous);
    }

    [Fact]
    public async Task A_withdrawal_that_straddles_rotations_is_recovered_and_its_segment_outlives_the_retention()
    {
        const string session = "ABCDEFGHJKLMNPQR";
        using (var journal = new ElectronicJournal(JournalPath, _time, options: Small))
        {
            await FinishedWithdrawalsAsync(journal, 8); // older history, nothing open
            await journal.WriteAsync(JournalSamples.Asked(session, 123, amountMinor: 5_000, transmission: "0301100000"));
            await FinishedWithdrawalsAsync(journal, 4); // other traffic: the segment rotates
            await journal.WriteAsync(JournalSamples.Answered(session, 123));
            await FinishedWithdrawalsAsync(journal, 8);
            _time.Advance(TimeSpan.FromDays(10)); // far past the retention; the power is cut before withdrawal-end
            await journal.WriteAsync(JournalSamples.Started());
        }

        var files = ElectronicJournal.Segments(JournalPath);
        var holding = files.Where(f => ElectronicJournal.ReadSegment(f).Entries.Any(e => e.Session == session && e.Event == JournalEvents.AuthoriseRequest)).ToList();
        var answered = files.Where(f => ElectronicJournal.ReadSegment(f).Entries.Any(e => e.Session == session && e.Event == JournalEvents.AuthoriseAnswer)).ToList();
        Assert.Single(holding); // kept although older than the retention, because the withdrawal is not finished
        Assert.NotEqual(holding, answered); // the withdrawal straddles a rotation
        Assert.False(File.Exists(Path.Combine(_directory.FullName, "journal-20250301-001.log"))); // older, finished history was deleted

        // The next start: a new journal instance and recovery.
        using var restarted = new ElectronicJournal(JournalPath, _time, options: Small);
        var (reversals, dispenser) = await RecoveryPartsAsync(restarted);
        var unfinished = restarted.ReadUnfinished();
        var settled = await new TerminalRecovery(restarted, dispenser, reversals, _time, NullLogger.Instance).RecoverAsync(CancellationToken.None);

        Assert.Equal(1, settled);
        Assert.Equal(1, reversals.Store.Depth);
        Assert.Equal(holding[0], unfinished.Files[0]); // read back exactly to where the withdrawal began
        Assert.All(unfinished.Entries, e => Assert.Equal(session, e.Session));
        var recovered = Assert.Single(ElectronicJournal.ReadAll(JournalPath), e => e.Event == JournalEvents.Recovered);
        Assert.Equal(("full", session), (Assert.IsType<Recovered>(recovered).Reversal, recovered.Session));
        Assert.Equal(0, await new TerminalRecovery(restarted, dispenser, reversals, _time, NullLogger.Instance).RecoverAsync(CancellationToken.None));
    }

    [Theory]
    [InlineData(100L, 90, "Terminal:JournalMaxSegmentBytes")]
    [InlineData(16_777_216L, 0, "Terminal:JournalRetentionDays")]
    public void Journal_settings_out_of_range_are_refused_by_name(long maxSegmentBytes, int retentionDays, string named)
    {
        var options = new TerminalOptions
        {
            AtmId = "ATM00001",
            DataDirectory = "d",
            KeyStore = "k",
            Host = new EndpointOptions { Port = 9, Insecure = true },
            Proxy = new EndpointOptions { Port = 9, Insecure = true },
            JournalMaxSegmentBytes = maxSegmentBytes,
            JournalRetentionDays = retentionDays,
        };
        Assert.Contains(named, Assert.Throws<ConfigurationException>(() => TerminalOptionsValidator.ThrowIfInvalid(options)).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("HostTimeout", "Configuration error in Terminal:HostTimeout: must be positive (got 00:00:00)")]
    [InlineData("MaxAmountMajor", "Configuration error in Terminal:MaxAmountMajor: must be positive (got 0)")]
    [InlineData("ReversalRetryInitial", "Configuration error in Terminal:ReversalRetryInitial: must be positive (got 00:00:00)")]
    [InlineData("ReversalRetryMax", "Configuration error in Terminal:ReversalRetryMax: must be at least Terminal:ReversalRetryInitial")]
    [InlineData("PresentTimeout", "Configuration error in Terminal:PresentTimeout: must be positive and below Terminal:StopTimeout (00:00:40; got 00:00:00)")]
    [InlineData("PresentTimeoutTooLong", "Configuration error in Terminal:PresentTimeout: must be positive and below Terminal:StopTimeout (00:00:40; got 00:00:40)")]
    public void Each_timeout_and_limit_out_of_range_is_refused_naming_that_one_setting(string setting, string message)
    {
        // Issue 13 item 6: one line naming the setting at fault, not a list of four that may be wrong.
        var options = new TerminalOptions
        {
            AtmId = "ATM00001",
            DataDirectory = "d",
            KeyStore = "k",
            Host = new EndpointOptions { Port = 9, Insecure = true },
            Proxy = new EndpointOptions { Port = 9, Insecure = true },
        };
        switch (setting)
        {
            case "HostTimeout": options.HostTimeout = TimeSpan.Zero; break;
            case "MaxAmountMajor": options.MaxAmountMajor = 0; break;
            case "ReversalRetryInitial": options.ReversalRetryInitial = TimeSpan.Zero; break;
            case "PresentTimeout": options.PresentTimeout = TimeSpan.Zero; break;
            case "PresentTimeoutTooLong": options.PresentTimeout = options.StopTimeout; break;
            default: options.ReversalRetryMax = options.ReversalRetryInitial - TimeSpan.FromSeconds(1); break;
        }

        Assert.StartsWith(message, Assert.Throws<ConfigurationException>(() => TerminalOptionsValidator.ThrowIfInvalid(options)).Message, StringComparison.Ordinal);
    }

    public void Dispose() => _directory.Delete(recursive: true);

    private static async Task FinishedWithdrawalsAsync(ElectronicJournal journal, int count)
    {
        for (var i = 0; i < count; i++)
        {
            var session = $"FINISHED{Guid.NewGuid():N}"[..16];
            await journal.WriteAsync(JournalSamples.Asked(session, i, amountMinor: 2_000));
            await journal.WriteAsync(JournalSamples.Ended(session));
        }
    }

    private async Task<(ReversalForwarder Reversals, ICashDispenser Dispenser)> RecoveryPartsAsync(ElectronicJournal journal)
    {
        var options = new TerminalOptions { AtmId = "ATM00001", DataDirectory = _directory.FullName, KeyStore = _directory.FullName, Host = new EndpointOptions { Port = 9, Insecure = true }, Proxy = new EndpointOptions { Port = 9, Insecure = true } };
        var key = SecretKey.FromHex(KeyAlgorithm.Aes128, "00112233445566778899AABBCCDDEEFF");
        var host = new HostLink(options, SecurityProfiles.Create(SecurityProfileKind.Aes), key, new StanGenerator(1), _time, NullLogger.Instance);
        var units = new List<CashUnit> { new("CASS1", 1, Money.FromMajor(10, "EUR"), 100, 100, 10, 2000, CashUnitCounters.None) };
        var device = new SimulatedDispenserDevice(units.ToDictionary(u => u.Position, u => u.Count), 40, _time);
        var cash = await CashDispenser.OpenAsync(device, CashUnitLayout.Create(units), new InMemoryCashUnitStore(), MixAlgorithm.MinimumNotes, SimulatedFaultSensors.Standard(3), NullLogger.Instance, CancellationToken.None);
        return (new ReversalForwarder(new ReversalStore(Path.Combine(_directory.FullName, "saf")), host, journal, options, _time, NullLogger.Instance), cash);
    }
}
