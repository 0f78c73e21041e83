using CardlessAtm.Cli.Demo;
using CardlessAtm.Host.Seeding;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Panel.Tests;

/// <summary>
/// The panel in a real browser (headless Chromium over WebDriver): each test clicks through one withdrawal on a fresh
/// demo network, asserts what the page shows and what the money did (host ledger, cash units), and keeps a screenshot
/// of its end state under the test output's <c>artifacts/panel/</c>.
/// </summary>
public sealed class PanelBrowserTests
{
    private static readonly DemoCustomer Ada = DemoSeed.Customers[0];
    private static readonly DemoCustomer Alan = DemoSeed.Customers[1];

    [BrowserFact]
    public async Task Approved_withdrawal_clicked_through_shows_the_outcome_and_debits_exactly_the_cash_presented()
    {
        await using var panel = await StartAsync();
        using var browser = Browser.Open(panel.Server.Url);
        EnterAmount(browser, "80");

        Scan(browser, 1, "80.00 EUR");
        browser.WaitForText("#screen-text", "Time left");
        browser.Screenshot("approved-qr-scanned"); // the picture in docs/images/panel.png
        Withdraw(browser, 1, Ada.AccountId, Ada.Pin);
        browser.WaitForText("#pane-1 .status", "approved");
        await SettledAsync(panel, browser);

        Assert.Equal(Ada.OpeningBalanceMinor - 8000, await BalanceAsync(panel, Ada));
        Assert.Equal(Money.Of(8000, "EUR"), panel.Atm.PresentedValue);
        await AssertLedgerBalancesAsync(panel);
        browser.WaitForText("#account-1", Money.Of(Ada.OpeningBalanceMinor - 8000, "EUR").ToString());
        browser.WaitForText("#journal", "dispense-end");
        browser.WaitForText("#pane-1 .atm", "ATM00001"); // waits, as above: the panes re-render while the state polls
        browser.WaitForText("#ledger-totals", "ledger balances");
        browser.WaitForText("#account-1", Phone.Credentials.AccountIds.Mask(Ada.AccountId));
        Assert.DoesNotContain(Ada.AccountId, browser.Text("body"), StringComparison.Ordinal); // only the field the customer typed it in holds it
        browser.Screenshot("approved");
    }

    [BrowserFact]
    public async Task Wrong_pin_is_declined_by_the_host_and_moves_no_money()
    {
        await using var panel = await StartAsync();
        using var browser = Browser.Open(panel.Server.Url);
        EnterAmount(browser, "80");

        Scan(browser, 1, "80.00 EUR");
        Withdraw(browser, 1, Ada.AccountId, "9999");
        browser.WaitForText("#pane-1 .status", "refused (55");
        await SettledAsync(panel, browser);

        Assert.Equal(Ada.OpeningBalanceMinor, await BalanceAsync(panel, Ada));
        Assert.Equal(Money.Of(0, "EUR"), panel.Atm.PresentedValue);
        await AssertLedgerBalancesAsync(panel);
        browser.WaitForText("#account-1", Money.Of(Ada.OpeningBalanceMinor, "EUR").ToString());
        browser.Screenshot("wrong-pin");
    }

    [BrowserFact]
    public async Task Safe_door_opened_while_the_qr_is_shown_refuses_the_phone_and_moves_no_money()
    {
        await using var panel = await StartAsync();
        using var browser = Browser.Open(panel.Server.Url);
        EnterAmount(browser, "80");
        Scan(browser, 1, "80.00 EUR");

        browser.Click("#fault-safe-door");
        browser.WaitForText("#verdict-reasons", "SafeDoorOpen");
        Assert.Contains("Not ready", browser.Text("#verdict"), StringComparison.Ordinal);
        Withdraw(browser, 1, Ada.AccountId, Ada.Pin);
        browser.WaitForText("#pane-1 .status", "refused");
        browser.WaitForText("#journal", "ready=false");

        Assert.Equal(Ada.OpeningBalanceMinor, await BalanceAsync(panel, Ada));
        Assert.Equal(Money.Of(0, "EUR"), panel.Atm.PresentedValue);
        Assert.Equal(0, panel.Atm.Dispenser.PresentedTotal);
        await AssertLedgerBalancesAsync(panel);
        Assert.True(browser.Find("#fault-safe-door").Selected);
        browser.Screenshot("door-open-while-qr-shown");
    }

    [BrowserFact]
    public async Task Jam_mid_dispense_pays_the_note_that_came_out_and_reverses_the_rest()
    {
        await using var panel = await StartAsync();
        using var browser = Browser.Open(panel.Server.Url);
        browser.Click("#fault-jam");
        browser.WaitFor(() => panel.Atm.Dispenser.Faults.JamAfterNotes == 1, "the jam switch to reach the simulated dispenser");
        EnterAmount(browser, "80");

        Scan(browser, 1, "80.00 EUR");
        Withdraw(browser, 1, Ada.AccountId, Ada.Pin);
        browser.WaitForText("#pane-1 .status", "partial");
        await SettledAsync(panel, browser);

        var presented = panel.Atm.PresentedValue;
        Assert.True(presented.MinorUnits is > 0 and < 8000, $"one note out before the jam, not {presented}");
        Assert.Equal(Ada.OpeningBalanceMinor - presented.MinorUnits, await BalanceAsync(panel, Ada));
        Assert.Equal(1, panel.Atm.Dispenser.RejectTray);
        await AssertLedgerBalancesAsync(panel);
        browser.WaitForText("#dispenser", "reject tray 1");
        browser.WaitForText("#account-1", Money.Of(Ada.OpeningBalanceMinor - presented.MinorUnits, "EUR").ToString());
        browser.Screenshot("jam-mid-dispense");
    }

    [BrowserFact]
    public async Task Two_phones_racing_for_one_qr_get_one_withdrawal_between_them()
    {
        await using var panel = await StartAsync();
        using var browser = Browser.Open(panel.Server.Url);
        EnterAmount(browser, "40");
        Scan(browser, 1, "40.00 EUR");
        Scan(browser, 2, "40.00 EUR");
        browser.Type("#pane-1 .account", Ada.AccountId);
        browser.Type("#pane-1 .pin", Ada.Pin);
        browser.Type("#pane-2 .account", Alan.AccountId);
        browser.Type("#pane-2 .pin", Alan.Pin);

        browser.Click("#pane-1 .withdraw");
        browser.Click("#pane-2 .withdraw");
        browser.WaitFor(() => Final(browser.Text("#pane-1 .status")) && Final(browser.Text("#pane-2 .status")), "both phones to finish");
        await SettledAsync(panel, browser);

        var statuses = new[] { browser.Text("#pane-1 .status"), browser.Text("#pane-2 .status") };
        Assert.Single(statuses, s => s.StartsWith("approved", StringComparison.Ordinal));
        Assert.Single(statuses, s => s.StartsWith("refused", StringComparison.Ordinal));
        var debited = (Ada.OpeningBalanceMinor - await BalanceAsync(panel, Ada)) + (Alan.OpeningBalanceMinor - await BalanceAsync(panel, Alan));
        Assert.Equal(4000, debited);
        Assert.Equal(Money.Of(4000, "EUR"), panel.Atm.PresentedValue);
        await AssertLedgerBalancesAsync(panel);
        browser.Screenshot("two-phones-race");
    }

    /// <summary>
    /// A jam, and the ATM blocked at the host while it dispenses: the reversal is refused 12 and sticks in the SAF queue.
    /// The page lists it (no account id), the operator unblocks the ATM and presses Retry: the queue empties, the host
    /// keeps only the note that came out, and the ledger balances.
    /// </summary>
    [BrowserFact]
    public async Task A_stuck_reversal_is_listed_and_the_retry_button_delivers_it_once_the_host_accepts_it()
    {
        await using var panel = await StartAsync();
        var admin = panel.Network.Host.Administration;
        panel.Atm.Terminal.Journal.Written += entry =>
        {
            if (entry is Terminal.Journal.DispenseStarted)
            {
                admin.SetAtmStatusAsync(DemoSeed.AtmId, Host.Storage.AtmStatus.Blocked).GetAwaiter().GetResult();
            }
        };
        using var browser = Browser.Open(panel.Server.Url);
        browser.WaitForText("#saf-summary", "Queue empty");
        browser.Click("#fault-jam");
        browser.WaitFor(() => panel.Atm.Dispenser.Faults.JamAfterNotes == 1, "the jam switch to reach the simulated dispenser");
        EnterAmount(browser, "80");
        Scan(browser, 1, "80.00 EUR");
        Withdraw(browser, 1, Ada.AccountId, Ada.Pin);
        browser.WaitForText("#pane-1 .status", "partial");

        browser.WaitForText("#saf tbody", "STUCK");
        var stuck = Assert.Single(panel.Atm.Terminal.Reversals.Stuck);
        var row = browser.Text($"#saf-{stuck.Id}");
        Assert.Contains("80.00 EUR", row, StringComparison.Ordinal);
        Assert.Contains(stuck.ReasonCode, row, StringComparison.Ordinal);
        Assert.Contains("12", row, StringComparison.Ordinal); // the host's answer: the ATM is blocked
        Assert.DoesNotContain(Ada.AccountId, browser.Text("#saf"), StringComparison.Ordinal);
        browser.WaitForText("#saf-summary", "1 stuck");
        browser.Screenshot("saf-stuck");

        await admin.SetAtmStatusAsync(DemoSeed.AtmId, Host.Storage.AtmStatus.Active);
        browser.Click($"#saf-{stuck.Id} .retry");
        browser.WaitForText("#saf-summary", "Queue empty");
        await SettledAsync(panel, browser);

        var presented = panel.Atm.PresentedValue;
        Assert.True(presented.MinorUnits is > 0 and < 8000, $"one note out before the jam, not {presented}");
        Assert.Equal(Ada.OpeningBalanceMinor - presented.MinorUnits, await BalanceAsync(panel, Ada));
        await AssertLedgerBalancesAsync(panel);
        Assert.Empty(browser.Driver.FindElements(OpenQA.Selenium.By.CssSelector("#saf tbody tr")));
        browser.WaitForText("#account-1", Money.Of(Ada.OpeningBalanceMinor - presented.MinorUnits, "EUR").ToString());
        browser.Screenshot("saf-retried");
    }

    private static bool Final(string status) =>
        status.StartsWith("approved", StringComparison.Ordinal) || status.StartsWith("refused", StringComparison.Ordinal)
        || status.StartsWith("failed", StringComparison.Ordinal) || status.StartsWith("partial", StringComparison.Ordinal);

    private static Task<DemoPanel> StartAsync() => DemoPanel.StartAsync(new PanelOptions(), NullLoggerFactory.Instance, CancellationToken.None);

    /// <summary>At the idle screen: Enter clicked, the digits typed on the computer keyboard, Enter clicked; then the QR is on screen.</summary>
    private static void EnterAmount(Browser browser, string digits)
    {
        browser.WaitForText("#terminal-state", "Idle");
        browser.Click("#key-enter");
        browser.WaitFor(() => !browser.Text("#terminal-state").StartsWith("Idle", StringComparison.Ordinal), "the amount screen");
        browser.Find("body").SendKeys(digits);
        browser.WaitForText("#screen-text", digits);
        browser.Click("#key-enter");
        browser.WaitForText("#screen-text", "[QR code]");
        browser.WaitForText("#terminal-state", "QrShown");
    }

    private static void Scan(Browser browser, int pane, string amount)
    {
        browser.Click($"#pane-{pane} .scan");
        browser.WaitForText($"#pane-{pane} .amount", amount);
        browser.WaitForText($"#pane-{pane} .atm", DemoSeed.AtmId);
    }

    private static void Withdraw(Browser browser, int pane, string account, string pin)
    {
        browser.Type($"#pane-{pane} .account", account);
        browser.Type($"#pane-{pane} .pin", pin);
        browser.Click($"#pane-{pane} .withdraw");
    }

    /// <summary>The terminal is idle again with no reversal waiting: the money has settled.</summary>
    private static async Task SettledAsync(DemoPanel panel, Browser browser)
    {
        browser.WaitFor(() => panel.Atm.Terminal.Flow.State == Terminal.Flow.TerminalState.Idle && panel.Atm.Terminal.Reversals.Store.Depth == 0, "the terminal to settle (idle, no reversal waiting)");
        browser.WaitForText("#terminal-state", "Idle");
        await Task.CompletedTask;
    }

    private static async Task<long> BalanceAsync(DemoPanel panel, DemoCustomer customer) =>
        (await panel.Network.Host.Administration.GetAccountAsync(customer.AccountId))!.BalanceMinor;

    private static async Task AssertLedgerBalancesAsync(DemoPanel panel)
    {
        var totals = await panel.Network.Host.Administration.GetLedgerTotalsAsync();
        Assert.True(totals.Balances, $"ledger does not balance: {totals}");
        Assert.Equal(panel.Atm.PresentedValue.MinorUnits, totals.ApprovedWithdrawalsMinor - totals.ReversalsMinor);
    }
}
