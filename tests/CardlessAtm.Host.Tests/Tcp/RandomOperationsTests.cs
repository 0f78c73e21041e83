using CardlessAtm.Host.Administration;
using CardlessAtm.Host.Tests.Support;
using CardlessAtm.Iso8583;
using CardlessAtm.Network;

namespace CardlessAtm.Host.Tests.Tcp;

/// <summary>
/// 10,000 random operations through TCP over one ATM link, many at once — withdrawals (good, wrong PIN,
/// too large, replayed), full, partial, repeated and unknown reversals, operator credits — against a
/// model of what each response says. At the end: every balance matches the model, and
/// sum of balances + approved withdrawals − reversals = opening balances + credits.
/// </summary>
public sealed class RandomOperationsTests : IAsyncLifetime
{
    private const int Operations = 10_000;
    private const int Workers = 8;
    private HostHarness _h = null!;

    public async Task InitializeAsync() => _h = await HostHarness.StartAsync();

    public async Task DisposeAsync() => await _h.DisposeAsync();

    private sealed class Customer(string accountId, string pin, SimulatedPhone phone, long balance)
    {
        public string AccountId { get; } = accountId;

        public string Pin { get; } = pin;

        public SimulatedPhone Phone { get; } = phone;

        public long ExpectedBalance { get; set; } = balance;

        public List<(IsoMessage Request, long Amount, bool Reversed)> Approved { get; } = [];
    }

    [Fact]
    public async Task Ten_thousand_random_operations_keep_the_money_invariant()
    {
        var seed = Environment.TickCount;
        var maxWithdrawal = new Host.Authorisation.HostPolicy().MaxWithdrawalMinor;
        var customers = new List<Customer>();
        for (var i = 0; i < Workers; i++)
        {
            var id = (200_000_000_000 + i).ToString(System.Globalization.CultureInfo.InvariantCulture);
            var opening = 1_000_000L + (i * 10_000);
            await _h.Host.Administration.AddAccountAsync(new NewAccount(id, "Random " + i, 978, opening, DailyAmountLimitMinor: 50_000_000, DailyCountLimit: 100_000), "1357");
            var provisioning = await _h.Host.Administration.EnrolPhoneAsync(id);
            using (provisioning.InitialKey)
            {
                customers.Add(new Customer(id, "1357", new SimulatedPhone(_h.Host.Profile, provisioning.InitialKey, provisioning.InitialKsn), opening));
            }
        }

        var startTotals = await _h.TotalsAsync();
        long credits = 0;
        // One link: an ATM is signed on over one connection at most (a second sign-on supersedes the first), and the
        // link carries many requests at once.
        var links = new List<SimulatedAtm> { _h.Atm };

        // Each worker owns one customer (a phone sends one request at a time) and shares the ATM link.
        var results = await Task.WhenAll(customers.Select((customer, index) => Task.Run(async () =>
        {
            var random = new Random(seed + index);
            var link = links[index % links.Count];
            long workerCredits = 0;
            for (var op = 0; op < Operations / Workers; op++)
            {
                var roll = random.Next(100);
                if (roll < 55)
                {
                    var amount = random.Next(1, 3) == 1 ? random.Next(1, 60_000) : random.Next(1, 2_000_000);
                    var wrongPin = random.Next(50) == 0;
                    var qr = link.IssueSession(amount);
                    var request = link.Withdrawal(customer.Phone.Request(qr, customer.AccountId, wrongPin ? "9999" : customer.Pin));
                    var response = await link.SendCheckedAsync(request);
                    if (response.ResponseCode == ResponseCodes.Approved)
                    {
                        Assert.False(wrongPin);
                        Assert.True(amount <= customer.ExpectedBalance && amount <= maxWithdrawal, "approved beyond the balance or the per-withdrawal maximum");
                        customer.ExpectedBalance -= amount;
                        customer.Approved.Add((request, amount, false));
                    }
                    else if (amount > maxWithdrawal)
                    {
                        Assert.Equal(ResponseCodes.InvalidAmount, response.ResponseCode);
                    }
                    else if (!wrongPin && amount <= customer.ExpectedBalance)
                    {
                        // A right PIN and enough money is declined only while the PIN is locked.
                        Assert.Equal(ResponseCodes.PinTriesExceeded, response.ResponseCode);
                        await _h.Host.Administration.UnlockPinAsync(customer.AccountId);
                    }
                }
                else if (roll < 65 && customer.Approved.Count > 0)
                {
                    // Replay an earlier request, byte for byte: never a second debit.
                    var (request, _, _) = customer.Approved[random.Next(customer.Approved.Count)];
                    Assert.Equal(ResponseCodes.DuplicateTransmission, (await link.SendCheckedAsync(request)).ResponseCode);
                }
                else if (roll < 85 && customer.Approved.Count > 0)
                {
                    var index2 = random.Next(customer.Approved.Count);
                    var (request, amount, reversed) = customer.Approved[index2];
                    var partial = random.Next(3) == 0;
                    var dispensed = partial ? random.NextInt64(0, amount) : 0;
                    var response = await link.SendCheckedAsync(link.Reversal(request, partial ? dispensed : null, repeat: random.Next(2) == 0));
                    Assert.Equal(ResponseCodes.Approved, response.ResponseCode);
                    if (!reversed)
                    {
                        customer.ExpectedBalance += amount - dispensed;
                        customer.Approved[index2] = (request, amount, true);
                    }
                }
                else if (roll < 92)
                {
                    // A reversal for something the host never saw.
                    var ghost = link.Withdrawal(customer.Phone.Request(link.IssueSession(500), customer.AccountId, customer.Pin));
                    Assert.Equal(ResponseCodes.Approved, (await link.SendCheckedAsync(link.Reversal(ghost))).ResponseCode);
                }
                else
                {
                    var credit = random.Next(1, 100_000);
                    await _h.Host.Administration.CreditAsync(customer.AccountId, credit);
                    customer.ExpectedBalance += credit;
                    workerCredits += credit;
                }
            }

            return workerCredits;
        })));
        credits = results.Sum();

        foreach (var customer in customers)
        {
            Assert.Equal(customer.ExpectedBalance, (await _h.Host.Store.ReadAsync(r => r.GetAccount(customer.AccountId)))!.BalanceMinor);
            customer.Phone.Dispose();
        }

        var totals = await _h.TotalsAsync();
        Assert.True(totals.LedgerEntriesMatchBalances);
        Assert.Equal(startTotals.OpeningAndCreditsMinor + credits, totals.OpeningAndCreditsMinor);
        Assert.Equal(totals.OpeningAndCreditsMinor, totals.SumOfBalancesMinor + totals.ApprovedWithdrawalsMinor - totals.ReversalsMinor);
        Assert.True(totals.Balances);
        Assert.True(totals.ApprovedWithdrawalsMinor > 0 && totals.ReversalsMinor > 0, $"seed {seed}: the run exercised too little");

        foreach (var link in links.Skip(1))
        {
            await link.DisposeAsync();
        }
    }
}
