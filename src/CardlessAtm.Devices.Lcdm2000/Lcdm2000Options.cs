using System.IO.Ports;
using CardlessAtm.Devices.Lcdm2000.Protocol;

namespace CardlessAtm.Devices.Lcdm2000;

/// <summary>
/// Settings of the Puloon LCDM-2000 driver (bind from configuration section <see cref="SectionName"/>).
/// Every serial setting comes from here: a pseudo-terminal cannot carry parity, so nothing in code
/// assumes the line settings.
/// </summary>
public sealed class Lcdm2000Options
{
    /// <summary>The configuration section these options are bound from.</summary>
    public const string SectionName = "Devices:Dispenser:Lcdm2000";

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

    /// <summary>Every problem with these settings, each naming the setting; empty when they are valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        var p = SectionName + ":";
        if (string.IsNullOrWhiteSpace(PortName))
        {
            errors.Add($"{p}{nameof(PortName)} is required: the serial device of the LCDM-2000, e.g. /dev/ttyUSB0 or the emulator's pty path.");
        }

        int[] bauds = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200];
        if (!bauds.Contains(BaudRate))
        {
            errors.Add($"{p}{nameof(BaudRate)} is {BaudRate}; it must be one of {string.Join(", ", bauds)} (the LCDM-2000 uses 9600 or 38400).");
        }

        if (DataBits is < 5 or > 8)
        {
            errors.Add($"{p}{nameof(DataBits)} is {DataBits}; it must be 5..8 (the LCDM-2000 uses 8).");
        }

        if (!Enum.IsDefined(Parity))
        {
            errors.Add($"{p}{nameof(Parity)} is {(int)Parity}; it must be one of {string.Join(", ", Enum.GetNames<Parity>())}.");
        }

        if (!Enum.IsDefined(StopBits) || StopBits == StopBits.None)
        {
            errors.Add($"{p}{nameof(StopBits)} is {StopBits}; it must be One, OnePointFive or Two.");
        }

        Positive(errors, p + nameof(AckTimeout), AckTimeout, TimeSpan.FromSeconds(30));
        Positive(errors, p + nameof(InterByteTimeout), InterByteTimeout, TimeSpan.FromSeconds(10));
        Positive(errors, p + nameof(StatusTimeout), StatusTimeout, TimeSpan.FromMinutes(5));
        Positive(errors, p + nameof(PurgeTimeout), PurgeTimeout, TimeSpan.FromMinutes(5));
        Positive(errors, p + nameof(DispenseBaseTimeout), DispenseBaseTimeout, TimeSpan.FromMinutes(5));
        if (DispensePerNoteTimeout < TimeSpan.Zero || DispensePerNoteTimeout > TimeSpan.FromSeconds(30))
        {
            errors.Add($"{p}{nameof(DispensePerNoteTimeout)} is {DispensePerNoteTimeout}; it must be between 0 and 30 s.");
        }

        if (Retries is < 0 or > 10)
        {
            errors.Add($"{p}{nameof(Retries)} is {Retries}; it must be 0..10.");
        }

        if (MaxNotesPerCommand is < 1 or > Lcdm2000Frame.MaxNotesPerCommand)
        {
            errors.Add($"{p}{nameof(MaxNotesPerCommand)} is {MaxNotesPerCommand}; it must be 1..{Lcdm2000Frame.MaxNotesPerCommand} (the protocol's count has a tens digit of at most 6).");
        }

        if (MaxNotesPerDispense is < 1 or > 1000)
        {
            errors.Add($"{p}{nameof(MaxNotesPerDispense)} is {MaxNotesPerDispense}; it must be 1..1000.");
        }

        if (!Enum.IsDefined(CombinedAnswerOrder))
        {
            errors.Add($"{p}{nameof(CombinedAnswerOrder)} is {(int)CombinedAnswerOrder}; it must be one of {string.Join(", ", Enum.GetNames<Lcdm2000CombinedAnswerOrder>())} (run 'cardless-atm devices lcdm2000 probe' to tell).");
        }

        if (!Enum.IsDefined(CassetteSensorBit))
        {
            errors.Add($"{p}{nameof(CassetteSensorBit)} is {(int)CassetteSensorBit}; it must be one of {string.Join(", ", Enum.GetNames<Lcdm2000CassetteSensorBit>())} (run 'cardless-atm devices lcdm2000 probe' to tell).");
        }

        if (!string.IsNullOrEmpty(CounterFile))
        {
            if (CounterFile.Trim() != CounterFile || !Path.IsPathFullyQualified(CounterFile))
            {
                errors.Add($"{p}{nameof(CounterFile)} is '{CounterFile}'; it must be a full path, e.g. /var/lib/cardless-atm/lcdm2000-counters.json.");
            }
            else if (Directory.Exists(CounterFile) || CounterFile.EndsWith(Path.DirectorySeparatorChar) || CounterFile.EndsWith(Path.AltDirectorySeparatorChar))
            {
                errors.Add($"{p}{nameof(CounterFile)} is '{CounterFile}', a directory; it must name a file.");
            }
        }

        if (string.IsNullOrWhiteSpace(DeviceName))
        {
            errors.Add($"{p}{nameof(DeviceName)} must not be empty.");
        }

        return errors;
    }

    /// <summary>Throws <see cref="ArgumentException"/> listing every invalid setting.</summary>
    public void ThrowIfInvalid()
    {
        var errors = Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid LCDM-2000 settings: " + string.Join(" ", errors));
        }
    }

    /// <summary>A copy, so that later changes to a bound instance cannot change a running driver.</summary>
    public Lcdm2000Options Clone() => (Lcdm2000Options)MemberwiseClone();

    private static void Positive(List<string> errors, string name, TimeSpan value, TimeSpan max)
    {
        if (value <= TimeSpan.Zero || value > max)
        {
            errors.Add($"{name} is {value}; it must be more than 0 and at most {max}.");
        }
    }
}
