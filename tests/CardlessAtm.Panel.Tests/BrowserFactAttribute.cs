namespace CardlessAtm.Panel.Tests;

/// <summary>
/// A test that drives a real browser (Debian's <c>chromium</c> and <c>chromium-driver</c>): skipped, saying why, when
/// chromedriver is not installed — unless <c>CI=true</c>, where a missing browser is a failure, not a skip.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class BrowserFactAttribute : FactAttribute
{
    public BrowserFactAttribute()
    {
        if (Browser.WhyMissing() is { } reason && !Browser.InCi)
        {
            Skip = $"{reason} Install it with `apt-get install chromium chromium-driver` (CI=true turns this skip into a failure).";
        }
    }
}
