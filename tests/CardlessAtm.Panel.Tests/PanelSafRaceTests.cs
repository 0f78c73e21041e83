using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using CardlessAtm.Cli.Demo;
using CardlessAtm.Host.Seeding;
using CardlessAtm.Terminal.StoreAndForward;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Panel.Tests;

/// <summary>
/// The panel's <c>POST /api/saf/retry</c> racing the terminal's own store-and-forward forwarder for one queued reversal,
/// on the demo network's real host and the terminal's real SAF store (files under its data directory): whichever gets
/// there first, the reversal is settled once — the host credits it once, the queue ends empty.
/// </summary>
public sealed class PanelSafRaceTests
{
    private static readonly DemoCustomer Ada = DemoSeed.Customers[0];
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_retry_from_the_panel_racing_the_forwarder_settles_the_reversal_exactly_once()
    {
        await using var panel = await DemoPanel.StartAsync(new PanelOptions(), NullLoggerFactory.Instance, CancellationToken.None);
        using var client = new HttpClient { BaseAddress = panel.Server.Url, Timeout = Patience };
        var admin = panel.Network.Host.Administration;
        var terminal = panel.Atm.Terminal;
        var forwarder = terminal.Reversals;

        // A jam while the ATM is blocked at the host: the partial reversal is answered 12 and waits for an operator.
        terminal.Journal.Written += entry =>
        {
            if (entry is Terminal.Journal.DispenseStarted)
            {
                admin.SetAtmStatusAsync(DemoSeed.AtmId, Host.Storage.AtmStatus.Blocked).GetAwaiter().GetResult();
            }
        };
        await PostOkAsync(client, "/api/faults", """{"name":"jam","on":true}""");
        await WaitForAsync(() => terminal.Flow.State == Terminal.Flow.TerminalState.Idle, "the idle screen");
        foreach (var key in new[] { "enter", "8", "0", "enter" })
        {
            await PostOkAsync(client, "/api/keys", $$"""{"key":"{{key}}"}""");
        }

        await WaitForAsync(() => terminal.Flow.State == Terminal.Flow.TerminalState.QrShown, "the QR state");
        await WaitForAsync(() => ((SimulatedPanelRig)panel.PanelAtm.Rig).Display.Current?.Qr is not null, "the QR on screen"); // the state moves before the screen is drawn
        await PostOkAsync(client, "/api/phones/1/scan", "{}");
        using (var withdraw = await client.PostAsync("/api/phones/1/withdraw", Json($$"""{"phone":0,"account":"{{Ada.AccountId}}","pin":"{{Ada.Pin}}"}""")))
        {
            Assert.Equal(HttpStatusCode.Accepted, withdraw.StatusCode);
        }

        await WaitForAsync(() => forwarder.Stuck.Count == 1 && terminal.Flow.State == Terminal.Flow.TerminalState.Idle, "the reversal stuck (12) and the terminal idle");
        var stuck = Assert.Single(forwarder.Stuck);
        Assert.Equal(ReversalStatus.NeedsOperator, stuck.Status);
        var presented = panel.Atm.PresentedValue.MinorUnits;
        Assert.True(presented is > 0 and < 8000, $"one note out before the jam, not {presented}");
        var appliedBefore = (await admin.GetRecentAuditAsync(500)).Count(a => a.Event == "reversal.applied");

        // The host takes reversals again, and the reversal becomes what the forwarder repeats by itself while it is
        // still stuck (past Terminal:ReversalMaxAttempts, due now): the forwarder may send it on its next pass, and
        // the operator presses Retry at the same time — again and again, before, during and after the forwarder's send.
        await admin.SetAtmStatusAsync(DemoSeed.AtmId, Host.Storage.AtmStatus.Active);
        var answers = new List<HttpStatusCode>();
        Assert.True(forwarder.Store.Update(stuck.Id, r => r with { Status = ReversalStatus.Pending, Attempts = terminal.Options.ReversalMaxAttempts, NextAttemptAt = DateTimeOffset.UtcNow }));
        Assert.Contains(forwarder.Stuck, r => r.Id == stuck.Id); // stuck, so the panel's retry is allowed, and due, so the forwarder sends it
        using var deadline = new CancellationTokenSource(Patience);
        async Task HammerAsync()
        {
            while (forwarder.Store.Find(stuck.Id) is not null && !deadline.IsCancellationRequested)
            {
                using var retry = await client.PostAsync("/api/saf/retry", Json($$"""{"id":"{{stuck.Id}}"}"""));
                lock (answers)
                {
                    answers.Add(retry.StatusCode);
                }
            }
        }

        await Task.WhenAll(HammerAsync(), HammerAsync());

        Assert.Null(forwarder.Store.Find(stuck.Id));
        Assert.Equal(0, forwarder.Store.Depth);
        Assert.NotEmpty(answers);
        Assert.All(answers, a => Assert.Contains(a, new[] { HttpStatusCode.OK, HttpStatusCode.Conflict, HttpStatusCode.NotFound }));

        // Credited once: the balance keeps only the note that came out, the ledger balances, one reversal applied.
        Assert.Equal(Ada.OpeningBalanceMinor - presented, (await admin.GetAccountAsync(Ada.AccountId))!.BalanceMinor);
        var totals = await admin.GetLedgerTotalsAsync();
        Assert.True(totals.Balances, $"ledger does not balance: {totals}");
        Assert.Equal(8000 - presented, totals.ReversalsMinor);
        Assert.Equal(presented, totals.ApprovedWithdrawalsMinor - totals.ReversalsMinor);
        Assert.Equal(appliedBefore + 1, (await admin.GetRecentAuditAsync(500)).Count(a => a.Event == "reversal.applied"));

        // Nothing comes back later: a retry after settlement finds no reversal, and the queue stays empty.
        using var late = await client.PostAsync("/api/saf/retry", Json($$"""{"id":"{{stuck.Id}}"}"""));
        Assert.Equal(HttpStatusCode.NotFound, late.StatusCode);
        var state = await client.GetFromJsonAsync<JsonElement>("/api/state");
        Assert.Equal(0, state.GetProperty("saf").GetArrayLength());
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static async Task PostOkAsync(HttpClient client, string path, string body)
    {
        using var response = await client.PostAsync(path, Json(body));
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        using var deadline = new CancellationTokenSource(Patience);
        while (!condition())
        {
            Assert.False(deadline.IsCancellationRequested, $"timed out waiting for {what}");
            await Task.Delay(50, CancellationToken.None);
        }
    }
}
