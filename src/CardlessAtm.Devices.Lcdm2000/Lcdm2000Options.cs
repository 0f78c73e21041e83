using System.IO.Ports;
using CardlessAtm.Devices.Lcdm2000.Protocol;

namespace CardlessAtm.Devices.Lcdm2000;

/// <summary>
/// Settings of the Puloon LCDM-2000 driver (bound by <see cref="Lcdm2000Registration"/> and checked by <see cref="Lcdm2000OptionsValidator"/>).
/// Every serial setting comes from here: a pseudo-terminal cannot carry parity, so nothing in code
/// assumes the line settings.
/// </summary>
public sealed class Lcdm2000Options
{
    /// <summary>Serial device, e.g. <c>/dev/ttyUSB0</c>, <c>/dev/serial0</c> or the emulator's pty path. Required.</summary>
    public string PortName { get; set; } = "";

    /// <summary>Line speed (the dispenser's DIP switches choose 9600 or 38400). Default 9600.</summary>
    public int BaudRate { get; set; } = 9600;

    /// <summary>Data bits. Default 8.</summary>
    public int DataBits { get; set; } = 8;

    /// <summary>Parity. Default none.</summary>
    public Parity Parity { get; set; } = Parity.None;

    /// <summary>Stop bits. Default one.</summary>
    public StopBits StopBits { get; set; } = StopBits.One;

    /// <summary>How long the device has to answer a command frame with ACK/NAK, and to repeat a response after our NAK. Default 0.5 s.</summary>
    public TimeSpan AckTimeout { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Longest silence allowed between two bytes of one response frame. Default 100 ms.</summary>
    public TimeSpan InterByteTimeout { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>How long status and ROM-version commands may take after the ACK. Default 3 s.</summary>
    public TimeSpan StatusTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>How long a purge may take after the ACK. Default 20 s.</summary>
    public TimeSpan PurgeTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>Fixed part of a dispense command's time limit. Default 10 s.</summary>
    public TimeSpan DispenseBaseTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Added to the dispense time limit for every note asked (rejects and retries included). Default 0.6 s.</summary>
    public TimeSpan DispensePerNoteTimeout { get; set; } = TimeSpan.FromMilliseconds(600);

    /// <summary>How often a refused (NAK) command or a corrupted response is repeated. Default 3.</summary>
    public int Retries { get; set; } = 3;

    /// <summary>Most notes one dispense command asks of one cassette; larger amounts are split. 1..60, default 60.</summary>
    public int MaxNotesPerCommand { get; set; } = Lcdm2000Frame.MaxNotesPerCommand;

    /// <summary>Most notes one <c>DispenseAsync</c> may present in total. Default 100.</summary>
    public int MaxNotesPerDispense { get; set; } = 100;

    /// <summary>Use the combined upper-and-lower command (0x56) when both cassettes are asked. Default true.</summary>
    public bool UseCombinedDispense { get; set; } = true;

    /// <summary>
    /// The field order of the combined (0x56) dispense answer on this unit (public sources differ):
    /// <c>CassetteByCassette</c> (default) or <c>CountByCount</c>. <c>cardless-atm devices lcdm2000 probe</c> tells which.
    /// </summary>
    public Lcdm2000CombinedAnswerOrder CombinedAnswerOrder { get; set; } = Lcdm2000CombinedAnswerOrder.CassetteByCassette;

    /// <summary>
    /// What a set cassette bit of the status answer means on this unit (public sources differ):
    /// <c>SetWhenMissing</c> (default) or <c>SetWhenPresent</c>. <c>cardless-atm devices lcdm2000 probe</c> tells which.
    /// </summary>
    public Lcdm2000CassetteSensorBit CassetteSensorBit { get; set; } = Lcdm2000CassetteSensorBit.SetWhenMissing;

    /// <summary>
    /// The driver's own durable note counters (the LCDM-2000 keeps none), e.g. <c>/var/lib/cardless-atm/lcdm2000-counters.json</c>:
    /// presented / rejected / unknown per position and the command in flight, so that recovery after a crash
    /// mid-dispense is uncertain only about that command. A full path; created on first use; a corrupt file is an
    /// error, never reset. Null or empty: no counters (recovery then treats every note of the dispense as unknown).
    /// </summary>
    public string? CounterFile { get; set; }

    /// <summary>The name the device's status carries (journal, events). Default <c>Dispenser</c>.</summary>
    public string DeviceName { get; set; } = "Dispenser";

    /// <summary>The time limit of one dispense command for the given number of notes.</summary>
    public TimeSpan DispenseTimeout(int notes) => DispenseBaseTimeout + (DispensePerNoteTimeout * notes);

    /// <summary>A copy, so that later changes to a bound instance cannot change a running driver.</summary>
    public Lcdm2000Options Clone() => (Lcdm2000Options)MemberwiseClone();
}
