using System.Globalization;
using CardlessAtm.Cli.Rigs;
using CardlessAtm.Devices.Keypad;
using CardlessAtm.Iso8583;
using CardlessAtm.Network;
using CardlessAtm.Phone;
using CardlessAtm.Phone.Scanning;
using CardlessAtm.Phone.Withdrawal;
using CardlessAtm.Qr.Payload;
using CardlessAtm.Qr.Rendering;
using CardlessAtm.Qr.Sessions;
using CardlessAtm.Qr.Symbols;
using CardlessAtm.Security;
using CardlessAtm.Terminal.Flow;
using CardlessAtm.Terminal.Journal;
using Microsoft.Extensions.Logging;
using WithdrawalOutcome = CardlessAtm.Terminal.Flow.WithdrawalOutcome;

namespace CardlessAtm.Cli.Demo;

/// <summary>The paths <c>cardless-atm demo --scenario</c> can run.</summary>
internal enum DemoScenarioKind
{
    /// <summary>An approved withdrawal, end to end.</summary>
    Approved,

    /// <summary>The customer types a wrong PIN on the phone: 55.</summary>
    WrongPin,

    /// <summary>The account has too little money: 51.</summary>
    InsufficientFunds,

    /// <summary>A note jams after the first: partial dispense, partial reversal.</summary>
    DispenserJam,

    /// <summary>The QR expires before the phone sends: refused, nothing happens.</summary>
    ExpiredQr,

    /// <summary>The safe door is open: the fault check refuses before any QR.</summary>
    DoorOpen,

    /// <summary>The host is down when the ATM asks: the customer is told, a reversal waits until the host is back.</summary>
    HostDown,

    /// <summary>A jam; the host's write fails on the first 0430 (91), the 0421 repeat is accepted (00).</summary>
    ReversalRefused,

    /// <summary>A jam; an operator blocks the ATM at the host mid-dispense: the reversal is refused 12, waits for an operator, who unblocks and retries.</summary>
    AtmBlockedAfterApproval,

    /// <summary>The 50s cassette is pulled while the host approves: the mix is invalid after approval; full reversal, next customer.</summary>
    ExceptionAfterApproval,

    /// <summary>Hundreds of forwarded 0200s for no session on screen, then a real withdrawal: all refused, summarised, the customer served.</summary>
    UnmatchedRequestFlood,

    /// <summary>Before the real ATM dials in, impostors try to sign on as it (no certificate; another ATM's certificate): refused, the real ATM serves.</summary>
    ImpostorAtm,

    /// <summary>The journal has a torn line in the middle and one at the end before start-up: both reported, the ATM serves.</summary>
    TornJournal,

    /// <summary>The terminal process is SIGKILLed while notes are moving; restarted, it settles from the device's counters.</summary>
    TerminalKilledMidDispense,

    /// <summary>A jam, and the terminal process is SIGKILLed right after journalling the dispense, before the reversal file exists.</summary>
    TerminalKilledBeforeReversalFile,

    /// <summary>An attacker between ATM and host answers a second withdrawal with the first one's approval: no cash, reversed.</summary>
    ReplayedApproval,

    /// <summary>About 2,000 idle and keep-alive sockets held against each listener while a customer withdraws: approved, limits counted.</summary>
    ConnectionFlood,

    /// <summary>An attacker's own connection to the host sends a forged 0800/101 for ATM00001 and a replay of a recorded one: 63, keys unchanged.</summary>
    ForgedKeyChange,

    /// <summary>The customer walks away from the notes: retracted after Terminal:PresentTimeout into the retract bin, reversed (18).</summary>
    NotesNotTaken,

    /// <summary>An LCDM-4000 (emulated on a pty, outliving the terminal) and the terminal lose power after the first note; powered on, recovery settles from LAST_STATUS.</summary>
    Lcdm4000PowerLossMidDispense,

    /// <summary>Two host processes on one PostgreSQL database; the one the ATMs are on is SIGKILLed mid-load: they move to the other, the ledger balances.</summary>
    HostFailover,

    /// <summary>Two proxy processes routed over NATS, phones at both; proxy A is SIGKILLed, the ATM dials B and the phones go on through B.</summary>
    ProxyFailover,
}

/// <summary>
/// Performs one withdrawal the way a person would — amount typed on the ATM keypad, the QR drawn in the
/// console, the phone scanning the QR image, the PIN — and narrates the patent's steps A–G as they happen,
/// then prints the journal and the balances and checks that the ledger balances.
/// </summary>
internal sealed partial class DemoScenario(DemoScenarioKind kind, SecurityProfileKind profile, FileInfo? saveQr, TextWriter output, ILoggerFactory loggers, DemoRigKind rig = DemoRigKind.Simulated, RigDispenserModel rigDispenser = RigDispenserModel.Lcdm2000)
{
    private const int AmountMajor = 80;
    private const int FloodRequests = 500;
    private TaskCompletionSource<WithdrawalOutcome> _atmOutcome = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The scenarios <c>--scenario all</c> runs, in order, with their command-line names.</summary>
    public static IReadOnlyList<DemoScenarioKind> All { get; } = Enum.GetValues<DemoScenarioKind>();

    /// <summary>A rig dispenser model as its maker writes it: LCDM-2000, LCDM-4000.</summary>
    public static string MakerName(RigDispenserModel model) => model == RigDispenserModel.Lcdm4000 ? "LCDM-4000" : "LCDM-2000";

    /// <summary>"dispenser-jam" for DispenserJam.</summary>
    public static string NameOf(DemoScenarioKind kind) =>
        string.Concat(kind.ToString().Select((c, i) => char.IsUpper(c) && i > 0 ? "-" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));

    /// <summary>The rig's dispenser as its maker writes it (LCDM-2000, LCDM-4000).</summary>
    private string Model => MakerName(rigDispenser);

    /// <summary>The last line of the report: how the scenario ended and whether the ledger balanced.</summary>
    public string? Summary { get; private set; }

    private int? _floodJournalLines;
    private bool? _tornLinesReported;
    private string? _impostorOutcome;
    private bool? _impostorRefused;
    private int _floodRefused;
    private bool? _replayRefused;

    /// <summary>door-open: whether the ATM refused before any QR and paid nothing (null for the other scenarios).</summary>
    private bool? _doorRefused;

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        if (kind == DemoScenarioKind.HostFailover)
        {
            return await RunHostFailoverAsync(cancellationToken);
        }

        var qrOptions = new QrSessionOptions { Lifetime = kind == DemoScenarioKind.ExpiredQr ? TimeSpan.FromSeconds(5) : TimeSpan.FromSeconds(90), ClockSkew = TimeSpan.Zero };
        Say($"Starting the network on loopback (security profile {profile}, rig {rig}{(rig == DemoRigKind.FirmwareSim ? $" with the {Model}" : string.Empty)}): host, proxy, terminal, phone…");
        await using var network = await DemoNetwork.StartAsync(profile, loggers, cancellationToken, plainHostLink: kind is DemoScenarioKind.ReplayedApproval or DemoScenarioKind.ForgedKeyChange, rig: rig, rigDispenser: rigDispenser);
        if (kind is DemoScenarioKind.TerminalKilledMidDispense or DemoScenarioKind.TerminalKilledBeforeReversalFile)
        {
            return await RunKilledTerminalAsync(network, cancellationToken);
        }

        if (kind == DemoScenarioKind.Lcdm4000PowerLossMidDispense)
        {
            return await RunLcdm4000PowerLossAsync(network, cancellationToken);
        }

        if (kind == DemoScenarioKind.ProxyFailover)
        {
            return await RunProxyFailoverAsync(network, cancellationToken);
        }

        if (kind == DemoScenarioKind.TornJournal)
        {
            await TearJournalAsync(network.JournalPathOf(Host.Seeding.DemoSeed.AtmId), cancellationToken);
        }

        if (kind == DemoScenarioKind.ImpostorAtm)
        {
            await ImpostorAsync(network, cancellationToken);
        }

        await using var relay = kind == DemoScenarioKind.ReplayedApproval ? ReplayingRelay.Start(network.HostPort) : null;
        await using var tap = kind == DemoScenarioKind.ForgedKeyChange ? await ForgedKeyChangeScenario.StartTapAsync(network.HostPort, cancellationToken) : null;
        var atm = await network.StartTerminalAsync(Host.Seeding.DemoSeed.AtmId, qrOptions, cancellationToken, hostPort: relay?.Port ?? tap?.Port);
        Say($"  host on 127.0.0.1:{network.HostPort}, proxy ATM side :{network.Proxy.AtmEndPoint.Port} phone side :{network.Proxy.PhoneEndPoint.Port}, terminal {Host.Seeding.DemoSeed.AtmId} signed on to both");
        Say($"  link terminal->host: {atm.Terminal.HostLinkSecurity}");
        Say($"  link terminal->proxy: {atm.Terminal.ProxyLinkSecurity}; {Host.Seeding.DemoSeed.AtmId} presents its certificate (CN={Host.Seeding.DemoSeed.AtmId}, issued by {network.Pki.AuthoritySubject}, which the proxy pins)");
        if (network.PlainHostLink)
        {
            Say("  (scenario: the terminal–host link runs plain TCP, Host:Insecure and Terminal:Host:Insecure = true, so that the attacker on that wire can read and replay its messages; TLS would have hidden them, and here the MACs alone must stop the attack)");
        }

        DemoConnectionFlood? flood = null;
        if (kind == DemoScenarioKind.ConnectionFlood)
        {
            flood = await StartConnectionFloodAsync(network, cancellationToken);
        }

        await using var floodScope = flood;
        var customerIndex = kind == DemoScenarioKind.InsufficientFunds ? 1 : 0;
        var customer = network.Seed.Customers[customerIndex];
        var before = (await network.Host.Administration.GetAccountAsync(customer.AccountId, cancellationToken))!.BalanceMinor;
        atm.Terminal.Journal.Written += Narrate;
        atm.Terminal.Flow.WithdrawalEnded += outcome => _atmOutcome.TrySetResult(outcome);

        Prepare(network, atm);
        if (tap is not null)
        {
            (_impostorRefused, _impostorOutcome) = await tap.AttackAsync(network, Say, cancellationToken);
        }
        if (kind == DemoScenarioKind.UnmatchedRequestFlood)
        {
            await FloodAsync(network, cancellationToken);
        }

        var expectedEnding = await ServeCustomerAsync(network, atm, customerIndex, cancellationToken);
        if (relay is not null)
        {
            expectedEnding = await ReplayAsync(network, atm, relay, customerIndex, cancellationToken);
        }

        Say(string.Empty);
        if (kind == DemoScenarioKind.HostDown)
        {
            Say("The host comes back; the terminal signs on again and delivers the reversal it kept on disk (0421 until 0430).");
            await network.RestartHostAsync(cancellationToken);
        }

        if (kind == DemoScenarioKind.AtmBlockedAfterApproval)
        {
            await ActAsOperatorAsync(network, atm, cancellationToken);
        }

        await WaitForReversalsAsync(atm, cancellationToken);
        return await ReportAsync(network, atm, customer, before, expectedEnding, cancellationToken);
    }

    private const string RefusedBeforeQr = "refused before any QR";

    /// <summary>
    /// The fault check reads the sensors' status: on the firmware-sim rig a reed switch reaches it only after the GPIO
    /// driver's debounce, so the customer steps up once the terminal itself reports the door open. The wait is a safety
    /// stop, not a speed requirement (a loaded CI machine once took more than 10 s): a rig whose sensor never reports the
    /// door within a minute ends the scenario with that reason instead of letting the customer step up to a closed door.
    /// </summary>
    private static void WaitUntilTheTerminalSeesTheDoorOpen(DemoAtm atm)
    {
        var sensors = atm.Terminal.Devices.Sensors.Status;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (sensors.StateOf(Devices.Sensors.SensorKind.SafeDoor) != Devices.Sensors.SensorState.Alert)
        {
            if (DateTime.UtcNow >= deadline)
            {
                throw new InvalidOperationException("The terminal's sensors never reported the safe door open within 60 s of opening it on the rig; the door-open scenario cannot run.");
            }

            Thread.Sleep(TimeSpan.FromMilliseconds(10));
        }
    }

    private void Prepare(DemoNetwork network, DemoAtm atm)
    {
        switch (kind)
        {
            case DemoScenarioKind.DispenserJam:
                atm.Hardware.JamAfterFirstNote();
                Say("(scenario: the dispenser will jam after the first note)");
                break;
            case DemoScenarioKind.DoorOpen:
                atm.Hardware.OpenSafeDoor();
                WaitUntilTheTerminalSeesTheDoorOpen(atm);
                Say("(scenario: the safe door is open)");
                break;
            case DemoScenarioKind.ReversalRefused:
                atm.Hardware.JamAfterFirstNote();
                var failed = 0;
                network.Host.Processor.BeforeReversalWritten = _ => Interlocked.Exchange(ref failed, 1) == 0
                    ? throw new Host.Storage.StoreUnavailableException("scenario: the host's database write fails once")
                    : ValueTask.CompletedTask;
                Say("(scenario: the dispenser will jam after the first note; the host's write of the first reversal fails: 91)");
                break;
            case DemoScenarioKind.AtmBlockedAfterApproval:
                atm.Hardware.JamAfterFirstNote();
                // Awaited by the host after the approval is committed and before the ATM has it: the ATM is blocked
                // before it dispenses (and so before its reversal), without blocking a thread on the store's write.
                network.Host.Processor.AfterWithdrawalCommitted = async (_, outcome) =>
                {
                    if (outcome.IsApproved)
                    {
                        await network.Host.Administration.SetAtmStatusAsync(Host.Seeding.DemoSeed.AtmId, Host.Storage.AtmStatus.Blocked, CancellationToken.None);
                        Say("   (scenario: an operator blocks the ATM at the host now)");
                    }
                };
                Say("(scenario: the dispenser will jam after the first note, and the ATM is blocked at the host while it dispenses)");
                break;
            case DemoScenarioKind.NotesNotTaken:
                atm.Dispenser.Faults.NotesNotTaken = true;
                Say($"(scenario: the customer will not take the notes; the ATM waits Terminal:PresentTimeout = {DemoNetwork.DemoPresentTimeout.TotalSeconds:0} s)");
                break;
            case DemoScenarioKind.ExceptionAfterApproval:
                atm.Terminal.Journal.Written += entry =>
                {
                    if (entry is AuthoriseRequested)
                    {
                        atm.Hardware.PullFiftiesCassette();
                        Say("   (scenario: the 50s cassette is pulled while the host decides)");
                    }
                };
                break;
        }
    }

    /// <summary>Steps A–G for one customer: amount on the keypad, QR, phone, PIN; what the phone saw, or why no QR was shown.</summary>
    private async Task<string> ServeCustomerAsync(DemoNetwork network, DemoAtm atm, int customerIndex, CancellationToken cancellationToken)
    {
        _atmOutcome = new TaskCompletionSource<WithdrawalOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
        Say(string.Empty);
        Say($"A  The customer presses ENTER on the ATM and types {AmountMajor} (EUR).");
        await WaitForAsync(atm, s => s == TerminalState.Idle, cancellationToken); // keys before the idle screen are discarded
        var qrShown = WaitForAsync(atm, s => s is TerminalState.QrShown or TerminalState.Terminated, cancellationToken);
        // On its own thread: a finger on the key matrix takes real time, and must not hold up a pool thread the
        // keypad driver's debounce timer needs.
        await Task.Factory.StartNew(
            () =>
            {
                atm.Hardware.Press(AtmKey.Enter);
                atm.Hardware.Type(AmountMajor.ToString(CultureInfo.InvariantCulture));
                atm.Hardware.Press(AtmKey.Enter);
            },
            cancellationToken,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
        if (await qrShown == TerminalState.Terminated)
        {
            var ended = await _atmOutcome.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
            Say($"   The ATM shows: {ended.CustomerMessage}");
            return RefusedBeforeQr;
        }

        return await WithdrawAsync(network, atm, customerIndex, cancellationToken);
    }

    /// <summary>
    /// replayed-approval, after a first approved withdrawal passed the relay: the same customer withdraws again and
    /// the attacker answers the ATM's 0200 with the recorded approval. The ATM must not dispense, and must reverse the
    /// real (dropped) approval the host gave.
    /// </summary>
    private async Task<string> ReplayAsync(DemoNetwork network, DemoAtm atm, ReplayingRelay relay, int customerIndex, CancellationToken cancellationToken)
    {
        await WaitForAsync(atm, s => s == TerminalState.Idle, cancellationToken);
        relay.ArmReplay();
        Say(string.Empty);
        Say($"(scenario: an attacker on the ATM–host wire recorded that approval — STAN {relay.RecordedStan:D6}, MACed by the host — and will answer the next 0200 with it, field 11 changed to match)");
        var presentedBefore = atm.PresentedValue;
        var ending = await ServeCustomerAsync(network, atm, customerIndex, cancellationToken);
        var refused = relay.Replayed == 1 && atm.PresentedValue == presentedBefore;
        _replayRefused = refused;
        Say(refused
            ? $"   The ATM refused the replayed approval: no note moved ({atm.PresentedValue} presented in all)."
            : $"   THE REPLAYED APPROVAL WAS NOT REFUSED: replayed {relay.Replayed}, presented {presentedBefore} → {atm.PresentedValue}.");
        return $"replay refused ({ending})";
    }

    /// <summary>
    /// The kill scenarios: the terminal runs as its own process, is SIGKILLed mid-dispense (or, by
    /// CARDLESSATM_KILL_AFTER, right after dispense-end of a jam), is started again and must settle by itself.
    /// </summary>
    /// <summary>
    /// Waits (60 s at most) until the terminal process is online at the proxy, then steps A to D: the customer types the
    /// amount, the QR code is shown, <paramref name="customer"/>'s phone scans it and sends the 0200. Returns the phone's
    /// withdrawal, still running.
    /// </summary>
    private async Task<Task<Phone.Withdrawal.WithdrawalOutcome>> StartPhoneWithdrawalAsync(DemoNetwork network, DemoTerminalProcess terminal, Host.Seeding.DemoCustomer customer, CancellationToken cancellationToken)
    {
        using (var online = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            online.CancelAfter(TimeSpan.FromSeconds(60));
            await network.Proxy.WaitForAtmStateAsync(Host.Seeding.DemoSeed.AtmId, Proxy.AtmLinkState.Online, online.Token);
        }

        Say($"A  The customer types {AmountMajor} on the ATM; B the QR code is shown; C the phone scans it; D it sends the 0200.");
        var qr = await terminal.ShowQrAsync(AmountMajor, cancellationToken);
        return network.Phone(0).WithdrawAsync(ScannedSession.FromText(qr), customer.AccountId, WithdrawalInteraction.Automatic(customer.Pin), null, cancellationToken);
    }

    private async Task<int> RunKilledTerminalAsync(DemoNetwork network, CancellationToken cancellationToken)
    {
        var midDispense = kind == DemoScenarioKind.TerminalKilledMidDispense;
        var customer = network.Seed.Customers[0];
        var before = (await network.Host.Administration.GetAccountAsync(customer.AccountId, cancellationToken))!.BalanceMinor;
        await using var terminal = DemoTerminalProcess.Start(
            network, Host.Seeding.DemoSeed.AtmId, midDispense ? TimeSpan.FromMilliseconds(400) : TimeSpan.Zero, midDispense ? null : 1, midDispense ? null : JournalEvents.DispenseEnd, rig);
        var devices = terminal.Rig == DemoRigKind.FirmwareSim
            ? $"on the firmware-sim rig: the {Model} driver into the rig's emulator on a pty, GPIO sensors; console display and keypad"
            : "on the Simulated devices";
        var jamWhere = terminal.Rig == DemoRigKind.FirmwareSim ? $"the {Model} emulator jams" : "the dispenser jams";
        Say(midDispense
            ? $"(scenario: the terminal runs as its own process, {devices}; it will be SIGKILLed while the notes are moving)"
            : $"(scenario: the terminal runs as its own process, {devices}; {jamWhere} after the first note, and the process SIGKILLs itself right after journalling dispense-end — before the reversal file is written)");
        var withdrawal = await StartPhoneWithdrawalAsync(network, terminal, customer, cancellationToken);
        if (midDispense)
        {
            while (!ElectronicJournal.ReadAll(terminal.JournalPath).Any(e => e.Event == JournalEvents.DispenseStart))
            {
                await Task.Delay(20, cancellationToken);
            }

            await Task.Delay(TimeSpan.FromMilliseconds(600), cancellationToken); // the first note is out, the second on its way
            terminal.Kill();
            Say("   SIGKILL: the terminal process dies mid-dispense.");
        }
        else
        {
            await terminal.WaitForExitAsync(cancellationToken);
            Say("   The terminal process SIGKILLed itself right after journalling dispense-end.");
        }

        try
        {
            var outcome = await withdrawal;
            Say($"   The phone shows: {outcome.Message}");
        }
        catch (PhoneInputException e)
        {
            Say($"   The phone shows: {e.Message}");
        }

        Say("The terminal is started again: recovery settles the unfinished withdrawal before it serves anyone.");
        await RestartAndSettleAsync(network, terminal, cancellationToken);

        Say(string.Empty);
        Say("Electronic journal of the ATM (both runs):");
        output.Write(ElectronicJournal.Export(ElectronicJournal.ReadAll(terminal.JournalPath)));
        var after = (await network.Host.Administration.GetAccountAsync(customer.AccountId, cancellationToken))!.BalanceMinor;
        var totals = await network.Host.Administration.GetLedgerTotalsAsync(cancellationToken);
        var report = await network.Host.Administration.GetDayReportAsync(cancellationToken: cancellationToken);
        var presented = await terminal.PresentedMinorAsync(cancellationToken);
        var netDebits = totals.ApprovedWithdrawalsMinor - totals.ReversalsMinor;
        var suspect = report.Sum(r => r.SuspectMinor);
        var recovered = ElectronicJournal.ReadAll(terminal.JournalPath).Any(e => e.Event == JournalEvents.Recovered);
        Say(string.Empty);
        Say($"Balance of {customer.HolderName}: {CardlessAtm.Money.Of(before, "EUR")} → {CardlessAtm.Money.Of(after, "EUR")}");
        Say($"Notes presented by the ATM: {CardlessAtm.Money.Of(presented, "EUR")}; approved debits − reversals at the host: {CardlessAtm.Money.Of(netDebits, "EUR")}; reversals waiting: {terminal.SafDepth}; suspect: {CardlessAtm.Money.Of(suspect, "EUR")}");
        var balanced = totals.Balances && recovered && presented == netDebits && terminal.SafDepth == 0 && before - after == netDebits;
        var ending = (recovered ? "recovered after SIGKILL" : "NOT recovered") + $", terminal process on the {terminal.Rig} rig";
        Summary = $"{ending}; cash out {CardlessAtm.Money.Of(presented, "EUR")}, debits − reversals {CardlessAtm.Money.Of(netDebits, "EUR")}, SAF {terminal.SafDepth}, suspect {CardlessAtm.Money.Of(suspect, "EUR")}"
            + (balanced ? "; ledger balanced" : "; LEDGER NOT BALANCED");
        Say(balanced
            ? $"Ledger balanced: cash out = money debited. Scenario {NameOf(kind)} ended: {ending}."
            : $"LEDGER NOT BALANCED after scenario {NameOf(kind)} ({ending}): ledger consistent={totals.Balances}.");
        return balanced ? 0 : 1;
    }

    /// <summary>A journal as a power cut mid-write leaves it, then a second one later: a torn line in the middle and a torn tail.</summary>
    private async Task TearJournalAsync(string path, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var at = DateTimeOffset.UtcNow.AddHours(-1).ToString("O", CultureInfo.InvariantCulture);
        await File.WriteAllTextAsync(
            path,
            $$$"""
            {"Sequence":1,"At":"{{{at}}}","Event":"terminal-started","Data":{"atm":"ATM00001"}}
            {"Sequence":2,"At":"{{{at}}}","Event":"amount-entered","Data":{"am
            {"Sequence":3,"At":"{{{at}}}","Event":"terminal-started","Data":{"atm":"ATM00001"}}
            {"Sequence":4,"At":"{{{at}}}","Event":"fault-ch
            """,
            cancellationToken);
        Say($"(scenario: the journal {path} has a torn line in the middle — line 2 — and a torn last line — line 4 — before start-up)");
    }

    /// <summary>Forwarded 0200s that match no session on screen, through the proxy's phone port, as an attacker would send them.</summary>
    private async Task FloodAsync(DemoNetwork network, CancellationToken cancellationToken)
    {
        Say($"(scenario: {FloodRequests} anonymous 0200s for sessions that are not on screen arrive through the proxy)");
        var linesBefore = ElectronicJournal.ReadAll(network.JournalPathOf(Host.Seeding.DemoSeed.AtmId)).Count;
        await using var client = new Iso8583.Channels.Iso8583Client(new Iso8583.Channels.Iso8583ClientOptions
        {
            Spec = NetworkSpec.Messages,
            Host = "127.0.0.1",
            Port = network.Proxy.PhoneEndPoint.Port,
            Tls = TlsSetup.ClientOptions(DemoAtmPki.PhonePortName, network.Pki.PhonePortPin),
            RequestTimeout = TimeSpan.FromSeconds(30),
        });
        await client.StartAsync(cancellationToken);
        await client.WaitUntilConnectedAsync(cancellationToken);
        var refused = 0;
        for (var i = 1; i <= FloodRequests; i++)
        {
            var request = new IsoMessage(NetworkSpec.Messages, Mti.FinancialRequest)
            {
                ProcessingCode = ProcessingCodes.CashWithdrawal,
                AmountMinor = 100_00,
                Stan = i,
                TerminalId = Host.Seeding.DemoSeed.AtmId,
                CurrencyCode = 978,
                SessionPayload = $"not-a-session-{i}",
            };
            request.SetTransmissionDateTime(DateTimeOffset.UtcNow);
            request.ProtectedData = [1, 2, 3];
            var answer = await client.SendRequestAsync(request, cancellationToken);
            refused += answer.ResponseCode == ResponseCodes.Approved ? 0 : 1;
        }

        var linesAfter = ElectronicJournal.ReadAll(network.JournalPathOf(Host.Seeding.DemoSeed.AtmId)).Count;
        _floodJournalLines = linesAfter - linesBefore;
        _floodRefused = refused;
        Say($"   {refused} of {FloodRequests} refused; the ATM's journal grew by {_floodJournalLines} line(s)");
    }

    /// <summary>
    /// The impostor-atm scenario: before the real ATM dials in, one connection without a certificate and one holding
    /// ATM00002's genuine certificate try to sign on as ATM00001. The proxy must refuse both and leave the id unclaimed.
    /// </summary>
    private async Task ImpostorAsync(DemoNetwork network, CancellationToken cancellationToken)
    {
        var target = Host.Seeding.DemoSeed.AtmId;
        Say($"(scenario: before {target} dials in, impostors try to sign on to the proxy as {target})");
        var bare = await TrySignOnAsync(network, null, target, cancellationToken);
        Say($"   impostor without a certificate: {Describe(bare)}");
        using var other = network.Pki.IssueInMemory("ATM00002");
        var borrowed = await TrySignOnAsync(network, other, target, cancellationToken);
        Say($"   impostor holding ATM00002's certificate, claiming {target}: {Describe(borrowed)}");
        var unclaimed = network.Proxy.GetAtmState(target) == Proxy.AtmLinkState.Unknown;
        Say($"   {target} at the proxy: {network.Proxy.GetAtmState(target)}");
        var refused = bare != ResponseCodes.Approved && borrowed == ResponseCodes.SecurityViolation && unclaimed;
        _impostorRefused = refused;
        _impostorOutcome = refused ? "impostor refused (no certificate: TLS refused; ATM00002's certificate: 63)" : "IMPOSTOR NOT REFUSED";

        static string Describe(string? code) => code is null ? "the TLS handshake refused it" : $"sign-on answered {code} ({ResponseCodes.Describe(code)})";
    }

    /// <summary>One sign-on attempt on the proxy's ATM port; the answer's response code, or null when the connection was refused first.</summary>
    private static async Task<string?> TrySignOnAsync(DemoNetwork network, System.Security.Cryptography.X509Certificates.X509Certificate2? certificate, string atmId, CancellationToken cancellationToken)
    {
        var answered = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = new Iso8583.Channels.Iso8583Client(new Iso8583.Channels.Iso8583ClientOptions
        {
            Spec = NetworkSpec.Messages,
            Host = "127.0.0.1",
            Port = network.Proxy.AtmEndPoint.Port,
            Tls = TlsSetup.ClientOptions(DemoAtmPki.ProxyName, network.Pki.ProxyPin, certificate),
            ReconnectInitialDelay = TimeSpan.FromHours(1),
            ReconnectMaxDelay = TimeSpan.FromHours(1),
            SignOn = async (connection, ct) =>
            {
                var signOn = new IsoMessage(NetworkSpec.Messages, Mti.NetworkManagementRequest) { Stan = 1, TerminalId = atmId, NetworkManagementCode = NetworkManagementCodes.SignOn };
                signOn.SetTransmissionDateTime(DateTimeOffset.UtcNow);
                answered.TrySetResult((await connection.SendRequestAsync(signOn, ct)).ResponseCode ?? "-");
            },
        });
        await client.StartAsync(cancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        while (!answered.Task.IsCompleted && client.ConsecutiveFailures == 0)
        {
            await Task.WhenAny(answered.Task, Task.Delay(10, timeout.Token));
        }

        return answered.Task.IsCompleted ? await answered.Task : null;
    }

    /// <summary>The operator's part of atm-blocked-after-approval: sees the stuck reversal, unblocks the ATM, retries it.</summary>
    private async Task ActAsOperatorAsync(DemoNetwork network, DemoAtm atm, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        while (atm.Terminal.Reversals.Store.ReadAll().Reversals.All(r => r.Status != Terminal.StoreAndForward.ReversalStatus.NeedsOperator))
        {
            await Task.Delay(50, timeout.Token);
        }

        Say("The reversal was refused (12: the ATM is blocked) and waits for an operator; 'cardless-atm terminal saf list' shows:");
        Commands.TerminalSafCommand.List(atm.Terminal.Reversals.Store, output);
        await network.Host.Administration.SetAtmStatusAsync(Host.Seeding.DemoSeed.AtmId, Host.Storage.AtmStatus.Active, cancellationToken);
        foreach (var stuck in atm.Terminal.Reversals.Stuck)
        {
            Terminal.StoreAndForward.ReversalForwarder.RequestRetry(atm.Terminal.Reversals.Store, stuck.Id, TimeProvider.System);
            Say($"The operator unblocks the ATM at the host and runs 'cardless-atm terminal saf retry {stuck.Id}'.");
        }
    }

    private async Task<string> WithdrawAsync(DemoNetwork network, DemoAtm atm, int customerIndex, CancellationToken cancellationToken)
    {
        var qrText = atm.Terminal.Flow.CurrentQrText!;
        var payload = QrPayloadFormat.Parse(qrText).Payload!;
        var symbol = QrSymbolEncoder.Encode(payload);
        Say($"B  The ATM encodes its id and the transaction into a QR code (version {symbol.Version}-{symbol.ErrorCorrection}) and shows it, valid until {payload.ExpiresAt:HH:mm:ss}:");
        output.WriteLine(ConsoleQrRenderer.Render(symbol.Modules));
        Say($"   payload: {qrText}");
        var png = await atm.Hardware.PhotographQrAsync(symbol.Modules, qrText, cancellationToken);
        if (saveQr is not null)
        {
            await File.WriteAllBytesAsync(saveQr.FullName, png, cancellationToken);
            Say($"   (saved as {saveQr.FullName})");
        }

        if (kind == DemoScenarioKind.HostDown)
        {
            await network.StopHostAsync();
            Say("(scenario: the host goes down now)");
        }

        var scanned = ScannedSession.FromImage(png, "the ATM screen");
        Say($"C  The phone photographs the QR and decodes it: ATM {scanned.AtmId}, {scanned.Amount}. The customer confirms.");
        if (kind == DemoScenarioKind.ExpiredQr)
        {
            Say("   (scenario: the customer waits until the QR has expired…)");
            await Task.Delay(payload.ExpiresAt - DateTimeOffset.UtcNow + TimeSpan.FromSeconds(1), cancellationToken);
        }

        var pin = kind == DemoScenarioKind.WrongPin ? "0000" : network.Seed.Customers[customerIndex].Pin;
        var phone = network.Phone(customerIndex);
        var progress = new Progress<string>(text => Say($"   phone: {text}"));
        try
        {
            Say("D  The phone sends the withdrawal request — ISO 8583 0200 over TCP, the account and PIN encrypted in field 127 — to the proxy.");
            var outcome = await phone.WithdrawAsync(scanned, network.Seed.Customers[customerIndex].AccountId, WithdrawalInteraction.Automatic(pin), progress, cancellationToken);
            Say($"   The phone shows: {outcome.Message}");
            Say($"  link phone->proxy: {phone.LinkSecurity ?? "not connected"}");
            var ended = await _atmOutcome.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
            Say($"   The ATM shows: {ended.CustomerMessage}");
            return outcome.ResponseCode ?? outcome.Status.ToString();
        }
        catch (PhoneInputException e)
        {
            Say($"   The phone refuses: {e.Message}");
            return e.Error.ToString();
        }
    }

    private async Task<int> ReportAsync(DemoNetwork network, DemoAtm atm, Host.Seeding.DemoCustomer customer, long before, string ending, CancellationToken cancellationToken)
    {
        atm.Terminal.Journal.Written -= Narrate;
        Say(string.Empty);
        if (kind == DemoScenarioKind.TornJournal)
        {
            Say("'cardless-atm terminal journal --check' reports the torn lines (kept in the file for the auditor):");
            _tornLinesReported = JournalCheck.Run(network.JournalPathOf(Host.Seeding.DemoSeed.AtmId), output) == JournalCheck.BadLines;
        }

        Say("Electronic journal of the ATM:");
        output.Write(ElectronicJournal.Export(atm.Terminal.Journal.ReadAllEntries()));
        var after = (await network.Host.Administration.GetAccountAsync(customer.AccountId, cancellationToken))!.BalanceMinor;
        var totals = await network.Host.Administration.GetLedgerTotalsAsync(cancellationToken);
        var presented = atm.PresentedValue;
        var netDebits = totals.ApprovedWithdrawalsMinor - totals.ReversalsMinor;
        Say(string.Empty);
        Say($"Balance of {customer.HolderName}: {CardlessAtm.Money.Of(before, "EUR")} → {CardlessAtm.Money.Of(after, "EUR")}");
        Say($"Notes presented by the ATM: {presented}; approved debits − reversals at the host: {CardlessAtm.Money.Of(netDebits, "EUR")}; reversals waiting: {atm.Terminal.Reversals.Store.Depth}");
        var report = await network.Host.Administration.GetDayReportAsync(cancellationToken: cancellationToken);
        var suspect = report.Sum(r => r.SuspectMinor);
        Say($"Suspect amounts at the host (the device could not say what it presented; settled at the cash count): {CardlessAtm.Money.Of(suspect, "EUR")}");
        var cassettesAgree = ReportRigCassettes(atm);
        if (kind == DemoScenarioKind.DoorOpen)
        {
            _doorRefused = ending == RefusedBeforeQr && !presented.IsPositive;
            Say(_doorRefused.Value ? "The ATM refused with the safe door open: no QR, no note." : $"THE ATM SERVED WITH THE SAFE DOOR OPEN ({ending}, {presented} presented).");
        }

        var connectionFlood = FinishConnectionFlood(ending);
        var retractBin = CheckRetractBin(atm);
        var floodContained = (_floodJournalLines is not { } lines || (lines <= 20 && _floodRefused == FloodRequests)) && _tornLinesReported != false
            && _impostorRefused != false && _replayRefused != false && _connectionFloodServed != false && _retractBinCounted != false && _doorRefused != false && cassettesAgree;
        var balanced = totals.Balances && presented.MinorUnits == netDebits && atm.Terminal.Reversals.Store.Depth == 0 && before - after == netDebits && floodContained;
        Summary = $"{ending}; cash out {presented}, debits − reversals {CardlessAtm.Money.Of(netDebits, "EUR")}, SAF {atm.Terminal.Reversals.Store.Depth}, suspect {CardlessAtm.Money.Of(suspect, "EUR")}"
            + (_floodJournalLines is { } grown ? $", {_floodRefused}/{FloodRequests} refused, journal +{grown} lines" : string.Empty)
            + (_impostorOutcome is { } impostor ? ", " + impostor : string.Empty)
            + (connectionFlood is { } floodSummary ? ", " + floodSummary : string.Empty)
            + (retractBin is { } bin ? ", " + bin : string.Empty)
            + (balanced ? "; ledger balanced" : "; LEDGER NOT BALANCED");
        Say(balanced
            ? $"Ledger balanced: cash out = money debited. Scenario {NameOf(kind)} ended: {ending}."
            : $"LEDGER NOT BALANCED after scenario {NameOf(kind)} ({ending}): ledger consistent={totals.Balances}.");
        return balanced ? 0 : 1;
    }

    /// <summary>
    /// On the firmware-sim rig: each cassette as the emulated firmware counts it next to the terminal's cash-unit count.
    /// False when the notes do not add up: the terminal's counts must be the firmware's plus the notes a jam left in the
    /// transport (picked, in no answer of the unit, so still counted in their cassette until the cash count finds them).
    /// </summary>
    private bool ReportRigCassettes(DemoAtm atm)
    {
        if (atm.Hardware is not FirmwareSimDemoHardware hardware)
        {
            return true;
        }

        var units = atm.Terminal.Devices.Dispenser.CashUnits;
        var counts = hardware.Dispenser.CashUnits
            .Select(u => (u.Id, u.Position, Firmware: hardware.Dispenser.CassetteCount(u.Position), Terminal: units.Single(c => c.Position == u.Position).Count))
            .ToList();
        var inPath = hardware.Dispenser.NotesInPath;
        var agree = counts.Sum(c => c.Terminal) == counts.Sum(c => c.Firmware) + inPath;
        Say($"Cassettes of the {Model} emulator (firmware / terminal): {string.Join(", ", counts.Select(c => $"{c.Id} {c.Firmware}/{c.Terminal}"))}; "
            + $"{inPath} note(s) in the transport{(agree ? string.Empty : " — THE COUNTS DO NOT ADD UP")}");
        return agree;
    }

    /// <summary>
    /// Starts the killed terminal process again and waits until it is online at the proxy and its reversal queue is empty
    /// (bounded at 60 s: the report then shows what is left).
    /// </summary>
    private static async Task RestartAndSettleAsync(DemoNetwork network, DemoTerminalProcess terminal, CancellationToken cancellationToken)
    {
        terminal.Restart();
        await terminal.WaitForStartsAsync(2, cancellationToken);
        using (var settled = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            settled.CancelAfter(TimeSpan.FromSeconds(60));
            await network.Proxy.WaitForAtmStateAsync(Host.Seeding.DemoSeed.AtmId, Proxy.AtmLinkState.Online, settled.Token);
            while (terminal.SafDepth > 0 && !settled.IsCancellationRequested)
            {
                await Task.Delay(50, CancellationToken.None);
            }
        }
    }

    private static async Task WaitForReversalsAsync(DemoAtm atm, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        while (atm.Terminal.Reversals.Store.Depth > 0 && !timeout.IsCancellationRequested)
        {
            await Task.Delay(50, CancellationToken.None);
        }
    }

    private static async Task<TerminalState> WaitForAsync(DemoAtm atm, Func<TerminalState, bool> predicate, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        return await atm.Terminal.Flow.WaitForStateAsync(predicate, timeout.Token);
    }

    /// <summary>Tells the steps the ATM journals, as they happen.</summary>
    private void Narrate(JournalEntry entry)
    {
        var line = entry switch
        {
            FaultChecked { Ready: true } check => $"   Fault check for {check.Amount}: the ATM can dispense it.",
            FaultChecked check => $"   Fault check for {check.Amount}: NOT ready — {string.Join("; ", check.Reasons)}",
            RequestReceived => $"E  The proxy forwards the request to {Host.Seeding.DemoSeed.AtmId}; it belongs to the session on screen.",
            RequestRefused refused => $"E  The ATM refuses the forwarded request: {refused.Reason} ({refused.Response}).",
            AuthoriseRequested => $"F  The ATM sends its own 0200 (MACed with its session key, STAN {entry.Stan:D6}) to the host.",
            AuthoriseAnswered { Response: null } answer => $"G  No answer from the host ({answer.Failure}).",
            AuthoriseAnswered { Response: ResponseCodes.Approved, IsAuthentic: false } answer
                => $"G  An answer claiming approval arrives (auth code {answer.AuthCode}), but it fails the ATM's checks (MAC verified: {answer.MacVerified}; bound to the request: {(answer.Mismatch is null ? "yes" : $"no, field(s) {answer.Mismatch}")}).",
            AuthoriseAnswered { Response: ResponseCodes.Approved } answer => $"G  The host authenticates the ATM, the phone, the QR and the PIN, checks the account, approves (auth code {answer.AuthCode}) and debits.",
            AuthoriseAnswered answer => $"G  The host declines: {answer.Response} {ResponseCodes.Describe(answer.Response)}.",
            DispenseStarted start => $"   The ATM verified the host's MAC and dispenses {string.Join(", ", start.Mix.Select(i => $"{i.Notes} x {i.Denomination}"))}.",
            DispenseEnded end => $"   Dispense {end.Completion}: {end.Presented} presented.",
            PresentStarted present => $"   The notes wait at the exit: {present.Presented}, for at most {present.Timeout.TotalSeconds:0} s.",
            NotesTaken taken => $"   Notes taken: {taken.How}.",
            NotesRetracted retracted => $"   Not taken in time: the ATM retracts {retracted.Value} ({retracted.Notes.Values.Sum()} notes) into its retract bin{(retracted.Counted ? string.Empty : ", uncounted")}.",
            ReversalQueued queued => $"   Reversal queued on disk ({queued.Kind}: dispensed {queued.Dispensed} of {queued.Amount}) — {queued.Reason}.",
            ReversalAcknowledged acknowledged => $"   The host acknowledged the reversal (0430, {acknowledged.Response}).",
            ReversalNotAcknowledged refused => $"   The reversal is not acknowledged ({refused.Problem}): {refused.Disposition}; it stays on disk.",
            WithdrawalFault fault => $"   The ATM failed after asking the host ({fault.Fault} at {fault.Stage}): it settles by a reversal.",
            _ => null,
        };
        if (line is not null)
        {
            Say(line);
        }
    }

    private void Say(string text)
    {
        lock (output)
        {
            output.WriteLine(text);
        }
    }
}
