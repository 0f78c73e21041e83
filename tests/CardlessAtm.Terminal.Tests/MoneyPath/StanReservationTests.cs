using CardlessAtm.Terminal.Links;

namespace CardlessAtm.Terminal.Tests.MoneyPath;

/// <summary>STANs survive restarts: an answer to an earlier run's request can never carry a STAN of this run.</summary>
public sealed class StanReservationTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("cardless-atm-stan-");

    private string FilePath => Path.Combine(_directory.FullName, "stan");

    [Fact]
    public void A_restart_never_reissues_a_stan_of_an_earlier_run_even_after_a_crash_mid_block()
    {
        var issued = new HashSet<int>();
        for (var run = 0; run < 5; run++)
        {
            var stan = StanReservation.Open(FilePath); // each run "crashes" after 1,234 STANs (more than one block)
            for (var i = 0; i < 1_234; i++)
            {
                Assert.True(issued.Add(stan.Next()));
            }
        }

        Assert.Equal(5 * 1_234, issued.Count);
    }

    [Fact]
    public void The_reservation_is_written_once_per_block_not_once_per_stan()
    {
        var stan = StanReservation.Open(FilePath);
        Assert.Equal(1, stan.Next());
        Assert.Equal(StanReservation.BlockSize, StanReservation.Read(FilePath));
        for (var i = 2; i <= StanReservation.BlockSize; i++)
        {
            stan.Next();
        }

        Assert.Equal(StanReservation.BlockSize, StanReservation.Read(FilePath));
        Assert.Equal(StanReservation.BlockSize + 1, stan.Next());
        Assert.Equal(2 * StanReservation.BlockSize, StanReservation.Read(FilePath));
    }

    [Fact]
    public void The_cycle_wraps_after_999999_without_ever_issuing_0()
    {
        File.WriteAllText(FilePath, "999998\n");
        var stan = StanReservation.Open(FilePath);
        Assert.Equal([999_999, 1, 2], new[] { stan.Next(), stan.Next(), stan.Next() });
        Assert.Equal(StanReservation.BlockSize - 1, StanReservation.Read(FilePath));
    }

    [Theory]
    [InlineData("")]
    [InlineData("12ab")]
    [InlineData("0")]
    [InlineData("1000000")]
    public void A_corrupt_reservation_stops_the_terminal_with_the_path_rather_than_guessing(string content)
    {
        File.WriteAllText(FilePath, content);
        var error = Assert.Throws<StanFileException>(() => StanReservation.Open(FilePath));
        Assert.Contains(FilePath, error.Message, StringComparison.Ordinal);
    }

    public void Dispose() => _directory.Delete(recursive: true);
}
