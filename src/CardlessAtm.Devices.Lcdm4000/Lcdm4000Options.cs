using System.IO.Ports;
using CardlessAtm.Devices.Lcdm4000.Protocol;

namespace CardlessAtm.Devices.Lcdm4000;

/// <summary>
/// Settings of the Puloon LCDM-4000 driver (bind from configuration section <see cref="SectionName"/>).
/// Every serial setting comes from here: a pseudo-terminal cannot carry parity, so nothing in code assumes the line settings.
/// </summary>
public sealed class Lcdm4000Options
{
    /// <summary>The configuration section these options are bound from.</summary>
    public const string SectionName = "Devices:Dispenser:Lcdm4000";

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

    /// <summary>Every problem with these settings, each naming the setting; empty when they are valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        var p = SectionName + ":";
        if (string.IsNullOrWhiteSpace(PortName))
        {
            errors.Add($"{p}{nameof(PortName)} is required: the serial device of the LCDM-4000, e.g. /dev/ttyUSB0 or the emulator's pty path.");
        }

        int[] bauds = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200];
        if (!bauds.Contains(BaudRate))
        {
            errors.Add($"{p}{nameof(BaudRate)} is {BaudRate}; it must be one of {string.Join(", ", bauds)} (the LCDM-4000 uses 9600).");
        }

        if (DataBits is < 5 or > 8)
        {
            errors.Add($"{p}{nameof(DataBits)} is {DataBits}; it must be 5..8 (the LCDM-4000 uses 8).");
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

        if (MaxNotesPerCommand is < 1 or > Lcdm4000Frame.MaxNotesPerCommand)
        {
            errors.Add($"{p}{nameof(MaxNotesPerCommand)} is {MaxNotesPerCommand}; it must be 1..{Lcdm4000Frame.MaxNotesPerCommand} (notes per dispense command, all cassettes together).");
        }

        if (MaxNotesPerDispense is < 1 or > 1000)
        {
            errors.Add($"{p}{nameof(MaxNotesPerDispense)} is {MaxNotesPerDispense}; it must be 1..1000.");
        }

        if (!string.IsNullOrEmpty(CounterFile))
        {
            if (CounterFile.Trim() != CounterFile || !Path.IsPathFullyQualified(CounterFile))
            {
                errors.Add($"{p}{nameof(CounterFile)} is '{CounterFile}'; it must be a full path, e.g. /var/lib/cardless-atm/lcdm4000-counters.json.");
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

    /// <summary>Throws <see cref="ConfigurationException"/> naming the section and every invalid setting.</summary>
    public void ThrowIfInvalid()
    {
        var errors = Validate();
        if (errors.Count > 0)
        {
            throw new ConfigurationException(SectionName, string.Join(" ", errors));
        }
    }

    /// <summary>A copy, so that later changes to a bound instance cannot change a running driver.</summary>
    public Lcdm4000Options Clone() => (Lcdm4000Options)MemberwiseClone();

    private static void Positive(List<string> errors, string name, TimeSpan value, TimeSpan max)
    {
        if (value <= TimeSpan.Zero || value > max)
        {
            errors.Add($"{name} is {value}; it must be more than 0 and at most {max}.");
        }
    }
}
