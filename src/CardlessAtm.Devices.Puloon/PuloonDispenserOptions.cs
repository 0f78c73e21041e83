using System.IO.Ports;

namespace CardlessAtm.Devices.Puloon;

/// <summary>
/// The settings both Puloon drivers share: the serial line, the link's timing and retries, the dispense limits, the
/// driver's durable counter file and the device's name. Every serial setting comes from here: a pseudo-terminal cannot
/// carry parity, so nothing in code assumes the line settings. A model's options add what only that model has, and set
/// the defaults where the models differ (<see cref="PurgeTimeout"/>, <see cref="MaxNotesPerCommand"/>).
/// </summary>
public abstract class PuloonDispenserOptions
{
    /// <summary>Serial device, e.g. <c>/dev/ttyUSB0</c>, <c>/dev/serial0</c> or the emulator's pty path. Required.</summary>
    public string PortName { get; set; } = "";

    /// <summary>Line speed. Default 9600 (8N1 is what both models ship with).</summary>
    public int BaudRate { get; set; } = 9600;

    /// <summary>Data bits. Default 8.</summary>
    public int DataBits { get; set; } = 8;

    /// <summary>Parity. Default none.</summary>
    public Parity Parity { get; set; } = Parity.None;

    /// <summary>Stop bits. Default one.</summary>
    public StopBits StopBits { get; set; } = StopBits.One;

    /// <summary>How long the device has to answer a command frame with ACK/NAK (and to repeat a response after our NAK, or send EOT after our ACK). Default 0.5 s.</summary>
    public TimeSpan AckTimeout { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Longest silence allowed between two bytes of one response frame. Default 100 ms.</summary>
    public TimeSpan InterByteTimeout { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>How long status, ROM-version and last-status commands may take after the ACK. Default 3 s.</summary>
    public TimeSpan StatusTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>How long a purge may take after the ACK. The model's options set the default (LCDM-2000 20 s, LCDM-4000 60 s).</summary>
    public TimeSpan PurgeTimeout { get; set; }

    /// <summary>Fixed part of a dispense command's time limit. Default 10 s.</summary>
    public TimeSpan DispenseBaseTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Added to the dispense time limit for every note asked (rejects and retries included). Default 0.6 s.</summary>
    public TimeSpan DispensePerNoteTimeout { get; set; } = TimeSpan.FromMilliseconds(600);

    /// <summary>How often a refused (NAK) command or a corrupted response is repeated. Default 3.</summary>
    public int Retries { get; set; } = 3;

    /// <summary>
    /// Most notes one dispense command asks; larger amounts are split. The model's options set the default and its
    /// validator the limit (LCDM-2000: of one cassette, 1..60; LCDM-4000: of all cassettes together, 1..40).
    /// </summary>
    public int MaxNotesPerCommand { get; set; }

    /// <summary>Most notes one <c>DispenseAsync</c> may present in total. Default 100.</summary>
    public int MaxNotesPerDispense { get; set; } = 100;

    /// <summary>
    /// The driver's durable note counters, e.g. <c>/var/lib/cardless-atm/lcdm2000-counters.json</c>: presented / rejected /
    /// unknown per position and the command in flight, so that recovery after a crash mid-dispense is uncertain only
    /// about that command (the LCDM-4000's LAST_STATUS then settles it). A full path; created on first use; a corrupt
    /// file is an error, never reset. Null or empty: no counters.
    /// </summary>
    public string? CounterFile { get; set; }

    /// <summary>The name the device's status carries (journal, events). Default <c>Dispenser</c>.</summary>
    public string DeviceName { get; set; } = "Dispenser";

    /// <summary>The time limit of one dispense command for the given number of notes.</summary>
    public TimeSpan DispenseTimeout(int notes) => DispenseBaseTimeout + (DispensePerNoteTimeout * notes);

    /// <summary>The link's timing and retry settings.</summary>
    internal PuloonLinkSettings LinkSettings => new(PortName, AckTimeout, InterByteTimeout, Retries);
}
