using CardlessAtm.Host.Storage.Postgres;

namespace CardlessAtm.Host.Tests.Storage;

/// <summary>
/// The pause between runs of a write PostgreSQL aborted: doubling from 4 ms, never above MaxRetryPause, never zero.
/// A pause that grew by 3 ms per attempt let two host processes' writers on hot accounts abort each other through all
/// 20 runs (the two-host soak, TwoHostSoakTests, answered 91 to valid withdrawals).
/// </summary>
public sealed class PostgresRetryPauseTests
{
    [Theory]
    [InlineData(1, 4)]
    [InlineData(2, 8)]
    [InlineData(3, 16)]
    [InlineData(5, 64)]
    [InlineData(7, 200)]
    [InlineData(19, 200)]
    public void The_pause_doubles_up_to_its_ceiling(int attempt, int ceilingMs)
    {
        var random = new Random(attempt);
        var pauses = Enumerable.Range(0, 2_000).Select(_ => PostgresHostStore.RetryPause(attempt, random).TotalMilliseconds).ToList();
        Assert.All(pauses, p => Assert.InRange(p, 1, ceilingMs));
        Assert.Equal(ceilingMs, pauses.Max());
    }

    [Fact]
    public void All_pauses_of_one_write_add_up_to_a_few_seconds_at_most()
    {
        var worst = Enumerable.Range(1, PostgresHostStore.MaxAttempts - 1).Sum(a => Math.Min(PostgresHostStore.MaxRetryPause.TotalMilliseconds, 2 << a));
        Assert.InRange(worst, 2_000, 4_000);
    }
}
