using System.IO.Ports;
using CardlessAtm.Devices.Lcdm4000.Protocol;

namespace CardlessAtm.Devices.Lcdm4000;

/// <summary>
/// Settings of the Puloon LCDM-4000 driver (bound by <see cref="Lcdm4000Registration"/> and checked by <see cref="Lcdm4000OptionsValidator"/>).
/// Every serial setting comes from here: a pseudo-terminal cannot carry parity, so nothing in code assumes the line settings.
/// </summary>
public sealed class Lcdm4000Options
{
    /// <summary>Serial device, e.g. <c>/dev/ttyUSB0</c> or the emulator's pty path. Required.</summary>
    public string PortName { get; set; } = "";

    /// <summary>Line speed. Default 9600 (both public drivers use 9600 8N1).</summary>
    public int BaudRate { get; set; } = 9600;

    /// <summary>Data bits. Default 8.</summary>
    public int DataBits { get; set; } = 8;

    /// <summary>Parity. Default none.</summary>
    public Parity Parity { get; set; } = Parity.None;

    /// <summary>Stop bits. Default one.</summary>
    public StopBits StopBits { get; set; } = StopBits.One;

    /// <summary>How long the device has to answer a command frame with ACK/NAK (and to send EOT after our ACK). Default 0.5 s.</summary>
    public TimeSpan AckTimeout { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Longest silence allowed between two bytes of one response frame. Default 100 ms.</summary>
    public TimeSpan InterByteTimeout { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>How long status and last-status commands may take after the ACK. Default 3 s.</summary>
    public TimeSpan StatusTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>How long a purge may take after the ACK. Default 60 s.</summary>
    public TimeSpan PurgeTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Fixed part of a dispense command's time limit. Default 10 s.</summary>
    public TimeSpan DispenseBaseTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Added to the dispense time limit for every note asked. Default 0.6 s.</summary>
    public TimeSpan DispensePerNoteTimeout { get; set; } = TimeSpan.FromMilliseconds(600);

    /// <summary>How often a refused (NAK) command or a corrupted response is repeated. Default 3.</summary>
    public int Retries { get; set; } = 3;

    /// <summary>Most notes one dispense command asks in total (all cassettes); larger amounts are split. 1..40, default 40.</summary>
    public int MaxNotesPerCommand { get; set; } = Lcdm4000Frame.MaxNotesPerCommand;

    /// <summary>Most notes one <c>DispenseAsync</c> may present in total. Default 100.</summary>
    public int MaxNotesPerDispense { get; set; } = 100;

    /// <summary>
    /// The driver's durable lifetime note counters, e.g. <c>/var/lib/cardless-atm/lcdm4000-counters.json</c>: presented /
    /// rejected / unknown per position and the command in flight. A command whose answer never came stays in flight
    /// until LAST_STATUS settles it (<c>ReadCountersAsync</c>, the next dispense, or a new driver after a restart).
    /// A full path; null or empty: no counters (<c>ReadCountersAsync</c> then returns null).
    /// </summary>
    public string? CounterFile { get; set; }

    /// <summary>The name the device's status carries (journal, events). Default <c>Dispenser</c>.</summary>
    public string DeviceName { get; set; } = "Dispenser";

    /// <summary>The time limit of one dispense command for the given number of notes.</summary>
    public TimeSpan DispenseTimeout(int notes) => DispenseBaseTimeout + (DispensePerNoteTimeout * notes);

    /// <summary>A copy, so that later changes to a bound instance cannot change a running driver.</summary>
    public Lcdm4000Options Clone() => (Lcdm4000Options)MemberwiseClone();
}
