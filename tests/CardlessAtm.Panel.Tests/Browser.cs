using System.Text;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;

namespace CardlessAtm.Panel.Tests;

/// <summary>
/// Headless Chromium driven over WebDriver with Selenium, pointed at the system's chromium and chromedriver
/// (CHROMIUM_BIN and CHROMEDRIVER override the paths). Selenium Manager is never asked to download anything.
/// </summary>
internal sealed class Browser : IDisposable
{
    private static readonly string[] ChromiumCandidates = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];
    private static readonly string[] DriverCandidates = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"];

    private readonly ChromeDriver _driver;

    private Browser(ChromeDriver driver) => _driver = driver;

    /// <summary>True when the environment says this is CI (<c>CI=true</c>).</summary>
    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>The driver.</summary>
    public IWebDriver Driver => _driver;

    /// <summary>Why no browser can run here, or null.</summary>
    public static string? WhyMissing()
    {
        if (DriverPath() is null)
        {
            return "chromedriver is not installed (looked in " + string.Join(", ", DriverCandidates) + " and $CHROMEDRIVER).";
        }

        return ChromiumPath() is null ? "chromium is not installed (looked in " + string.Join(", ", ChromiumCandidates) + " and $CHROMIUM_BIN)." : null;
    }

    /// <summary>Starts headless Chromium on <paramref name="url"/>.</summary>
    public static Browser Open(Uri url)
    {
        if (WhyMissing() is { } reason)
        {
            throw new InvalidOperationException($"CI=true and no browser to test the panel with: {reason} .ci/run installs chromium and chromium-driver.");
        }

        var driverPath = DriverPath()!;
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(driverPath)!, Path.GetFileName(driverPath));
        service.HideCommandPromptWindow = true;
        service.SuppressInitialDiagnosticInformation = true;
        var options = new ChromeOptions { BinaryLocation = ChromiumPath()! };
        options.AddArguments("--headless=new", "--window-size=1500,1300", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run", "--disable-extensions");
        if (Environment.UserName == "root")
        {
            options.AddArgument("--no-sandbox"); // Chromium refuses to run its sandbox as root
        }

        var driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(120));
        var browser = new Browser(driver);
        driver.Navigate().GoToUrl(url);
        return browser;
    }

    /// <summary>An element by CSS selector.</summary>
    public IWebElement Find(string css) => _driver.FindElement(By.CssSelector(css));

    /// <summary>The visible text of an element (empty when it is not there yet).</summary>
    public string Text(string css)
    {
        // The page re-renders its panes as the state changes: an element found just before it is replaced goes stale,
        // and a single read would see "" — find it again (the replacement is there by then) rather than report nothing.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return _driver.FindElement(By.CssSelector(css)).Text;
            }
            catch (NoSuchElementException)
            {
                return string.Empty;
            }
            catch (StaleElementReferenceException) when (attempt < 5)
            {
            }
            catch (StaleElementReferenceException)
            {
                return string.Empty;
            }
        }
    }

    /// <summary>Clicks an element.</summary>
    public void Click(string css) => WaitFor(() => Try(() => Find(css).Click()), $"click {css}");

    /// <summary>Types into a text field.</summary>
    public void Type(string css, string text)
    {
        var field = Find(css);
        field.Clear();
        field.SendKeys(text);
    }

    /// <summary>Waits until <paramref name="condition"/> holds (generous timeout; the page polls every 250 ms).</summary>
    /// <exception cref="TimeoutException">It did not; the message has what the page showed.</exception>
    public void WaitFor(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            bool met;
            try
            {
                met = condition();
            }
            catch (Exception e) when (e is NoSuchElementException or StaleElementReferenceException)
            {
                met = false;
            }

            if (met)
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting for {what}. The page shows:\n{Text("body")}");
            }

            Thread.Sleep(50); // polling a condition, not timing the ATM
        }
    }

    /// <summary>Waits until the element's text contains <paramref name="text"/>.</summary>
    public void WaitForText(string css, string text, TimeSpan? timeout = null) =>
        WaitFor(() => Text(css).Contains(text, StringComparison.Ordinal), $"'{text}' in {css}", timeout);

    /// <summary>Saves a screenshot of the page under the test output's <c>artifacts/panel/</c>; returns its path.</summary>
    public string Screenshot(string name)
    {
        var directory = Path.Combine(AppContext.BaseDirectory, "artifacts", "panel");
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, name + ".png");
        _driver.GetScreenshot().SaveAsFile(path);
        return path;
    }

    /// <summary>The page's text, for assertion messages.</summary>
    public string Describe()
    {
        var text = new StringBuilder();
        text.AppendLine(Text("body"));
        return text.ToString();
    }

    public void Dispose()
    {
        _driver.Quit();
        _driver.Dispose();
    }

    private static bool Try(Action action)
    {
        try
        {
            action();
            return true;
        }
        catch (Exception e) when (e is ElementClickInterceptedException or ElementNotInteractableException)
        {
            return false;
        }
    }

    private static string? DriverPath() => FirstExisting(Environment.GetEnvironmentVariable("CHROMEDRIVER"), DriverCandidates);

    private static string? ChromiumPath() => FirstExisting(Environment.GetEnvironmentVariable("CHROMIUM_BIN"), ChromiumCandidates);

    private static string? FirstExisting(string? overridePath, string[] candidates) =>
        !string.IsNullOrEmpty(overridePath) ? (File.Exists(overridePath) ? overridePath : null) : candidates.FirstOrDefault(File.Exists);
}
