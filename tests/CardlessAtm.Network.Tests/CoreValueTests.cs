namespace CardlessAtm.Network.Tests;

public class CoreValueTests
{
    [Theory]
    [InlineData("000001", 1)]
    [InlineData("999999", 999_999)]
    [InlineData("004711", 4711)]
    public void Stan_parses_six_digits_and_writes_them_back(string text, int value)
    {
        var stan = Stan.Parse(text);
        Assert.Equal(value, stan.Value);
        Assert.Equal(text, stan.ToString());
    }

    [Theory]
    [InlineData("000000", "000000")]
    [InlineData("12345", "6 digits")]
    [InlineData("12345X", "6 digits")]
    [InlineData("", "6 digits")]
    public void Stan_refuses_what_is_not_a_trace_number(string text, string problem)
    {
        var error = Assert.Throws<FormatException>(() => Stan.Parse(text));
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
        Assert.False(Stan.TryParse(text, out _));
    }

    [Fact]
    public void Stan_range_is_1_to_999999()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Stan(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Stan(1_000_000));
    }

    [Fact]
    public void Rrn_is_twelve_letters_or_digits()
    {
        Assert.Equal("123456ABCDEF", RetrievalReferenceNumber.Parse("123456ABCDEF").Value);
        Assert.Contains("12 characters", Assert.Throws<FormatException>(() => RetrievalReferenceNumber.Parse("12345")).Message, StringComparison.Ordinal);
        Assert.Contains("position 3", Assert.Throws<FormatException>(() => RetrievalReferenceNumber.Parse("123-56ABCDEF")).Message, StringComparison.Ordinal);
        Assert.False(RetrievalReferenceNumber.TryParse(null, out _));
    }
}
