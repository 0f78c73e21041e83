using System.Globalization;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;

namespace CardlessAtm.Cli.Hosting;

/// <summary>
/// Keeps systemd's watchdog (<c>WatchdogSec=</c> in the unit) fed while the role is alive: every half interval it
/// sends <c>WATCHDOG=1</c>, but only if <paramref name="alive"/> says the role's main loop still runs. A hung thread
/// pool stops the pings too (the timer cannot fire), so systemd restarts a terminal that stopped working instead of
/// leaving it "active" and dead. Does nothing when the service manager asked for no watchdog.
/// </summary>
/// <param name="notifier">The sd_notify channel (only under systemd).</param>
/// <param name="interval">systemd's watchdog interval (<c>WATCHDOG_USEC</c>); null when none.</param>
/// <param name="alive">True while the role's main loop runs.</param>
/// <param name="time">The clock.</param>
internal sealed class SystemdWatchdog(ISystemdNotifier notifier, TimeSpan? interval, Func<bool> alive, TimeProvider time) : BackgroundService
{
    /// <summary>The message that feeds the watchdog.</summary>
    public static readonly ServiceState Ping = new("WATCHDOG=1");

    /// <summary>
    /// systemd's watchdog interval as sd_watchdog_enabled(3) reads it: <c>WATCHDOG_USEC</c>, for this process only when
    /// <c>WATCHDOG_PID</c> is unset or names it. Null when unset, malformed or for another process.
    /// </summary>
    public static TimeSpan? IntervalFrom(string? watchdogUsec, string? watchdogPid, int processId)
    {
        if (!long.TryParse(watchdogUsec, NumberStyles.None, CultureInfo.InvariantCulture, out var microseconds) || microseconds <= 0)
        {
            return null;
        }

        if (watchdogPid is not null && (!int.TryParse(watchdogPid, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid != processId))
        {
            return null;
        }

        return TimeSpan.FromMicroseconds(microseconds);
    }

    /// <summary>The interval this process was started with, from its environment.</summary>
    public static TimeSpan? IntervalFromEnvironment() =>
        IntervalFrom(Environment.GetEnvironmentVariable("WATCHDOG_USEC"), Environment.GetEnvironmentVariable("WATCHDOG_PID"), Environment.ProcessId);

    // Made here, not in ExecuteAsync (which .NET 10 runs on a pool thread later), so the first half interval counts from the start.
    private readonly PeriodicTimer? _timer = interval is { } every && notifier.IsEnabled ? new PeriodicTimer(every / 2, time) : null;

    public override void Dispose()
    {
        _timer?.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_timer is not { } timer)
        {
            return;
        }

        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                if (alive())
                {
                    notifier.Notify(Ping);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: systemd gets STOPPING=1 from the lifetime; no more pings are due.
        }
    }
}
