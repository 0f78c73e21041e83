using System.IO.Ports;
using CardlessAtm.Devices.Lcdm2000.Protocol;
using Microsoft.Extensions.Options;

namespace CardlessAtm.Devices.Lcdm2000;

/// <summary>
/// The rules for <see cref="Lcdm2000Options"/>. Every failure starts with the full setting path under the section the
/// registration bound (e.g. <c>Devices:Dispenser:Lcdm2000:PortName</c>), so the driver never needs to know it.
/// </summary>
/// <param name="section">The configuration path the options are bound from, e.g. <see cref="Lcdm2000Registration.SectionPath"/>.</param>
public sealed class Lcdm2000OptionsValidator(string section) : IValidateOptions<Lcdm2000Options>
{
    private readonly string _section = section;

    /// <summary>Every problem with <paramref name="options"/>, each starting with the setting's full path; empty when they are valid.</summary>
    public IReadOnlyList<string> Problems(Lcdm2000Options options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        var p = _section + ":";
        if (string.IsNullOrWhiteSpace(options.PortName))
        {
            errors.Add($"{p}{nameof(Lcdm2000Options.PortName)} is required: the serial device of the LCDM-2000, e.g. /dev/ttyUSB0 or the emulator's pty path.");
        }

        int[] bauds = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200];
        if (!bauds.Contains(options.BaudRate))
        {
            errors.Add($"{p}{nameof(Lcdm2000Options.BaudRate)} is {options.BaudRate}; it must be one of {string.Join(", ", bauds)} (the LCDM-2000 uses 9600 or 38400).");
        }

        if (options.DataBits is < 5 or > 8)
        {
            errors.Add($"{p}{nameof(Lcdm2000Options.DataBits)} is {options.DataBits}; it must be 5..8 (the LCDM-2000 uses 8).");
        }

        if (!Enum.IsDefined(options.Parity))
        {
            errors.Add($"{p}{nameof(Lcdm2000Options.Parity)} is {(int)options.Parity}; it must be one of {string.Join(", ", Enum.GetNames<Parity>())}.");
        }

        if (!Enum.IsDefined(options.StopBits) || options.StopBits == StopBits.None)
        {
            errors.Add($"{p}{nameof(Lcdm2000Options.StopBits)} is {options.StopBits}; it must be One, OnePointFive or Two.");
        }

        Positive(errors, p + nameof(Lcdm2000Options.AckTimeout), options.AckTimeout, TimeSpan.FromSeconds(30));
        Positive(errors, p + nameof(Lcdm2000Options.InterByteTimeout), options.InterByteTimeout, TimeSpan.FromSeconds(10));
        Positive(errors, p + nameof(Lcdm2000Options.StatusTimeout), options.StatusTimeout, TimeSpan.FromMinutes(5));
        Positive(errors, p + nameof(Lcdm2000Options.PurgeTimeout), options.PurgeTimeout, TimeSpan.FromMinutes(5));
        Positive(errors, p + nameof(Lcdm2000Options.DispenseBaseTimeout), options.DispenseBaseTimeout, TimeSpan.FromMinutes(5));
        if (options.DispensePerNoteTimeout < TimeSpan.Zero || options.DispensePerNoteTimeout > TimeSpan.FromSeconds(30))
        {
            errors.Add($"{p}{nameof(Lcdm2000Options.DispensePerNoteTimeout)} is {options.DispensePerNoteTimeout}; it must be between 0 and 30 s.");
        }

        if (options.Retries is < 0 or > 10)
        {
            errors.Add($"{p}{nameof(Lcdm2000Options.Retries)} is {options.Retries}; it must be 0..10.");
        }

        if (options.MaxNotesPerCommand is < 1 or > Lcdm2000Frame.MaxNotesPerCommand)
        {
            errors.Add($"{p}{nameof(Lcdm2000Options.MaxNotesPerCommand)} is {options.MaxNotesPerCommand}; it must be 1..{Lcdm2000Frame.MaxNotesPerCommand} (the protocol's count has a tens digit of at most 6).");
        }

        if (options.MaxNotesPerDispense is < 1 or > 1000)
        {
            errors.Add($"{p}{nameof(Lcdm2000Options.MaxNotesPerDispense)} is {options.MaxNotesPerDispense}; it must be 1..1000.");
        }

        if (!Enum.IsDefined(options.CombinedAnswerOrder))
        {
            errors.Add($"{p}{nameof(Lcdm2000Options.CombinedAnswerOrder)} is {(int)options.CombinedAnswerOrder}; it must be one of {string.Join(", ", Enum.GetNames<Lcdm2000CombinedAnswerOrder>())} (run 'cardless-atm devices lcdm2000 probe' to tell).");
        }

        if (!Enum.IsDefined(options.CassetteSensorBit))
        {
            errors.Add($"{p}{nameof(Lcdm2000Options.CassetteSensorBit)} is {(int)options.CassetteSensorBit}; it must be one of {string.Join(", ", Enum.GetNames<Lcdm2000CassetteSensorBit>())} (run 'cardless-atm devices lcdm2000 probe' to tell).");
        }

        if (!string.IsNullOrEmpty(options.CounterFile))
        {
            if (options.CounterFile.Trim() != options.CounterFile || !Path.IsPathFullyQualified(options.CounterFile))
            {
                errors.Add($"{p}{nameof(Lcdm2000Options.CounterFile)} is '{options.CounterFile}'; it must be a full path, e.g. /var/lib/cardless-atm/lcdm2000-counters.json.");
            }
            else if (Directory.Exists(options.CounterFile) || options.CounterFile.EndsWith(Path.DirectorySeparatorChar) || options.CounterFile.EndsWith(Path.AltDirectorySeparatorChar))
            {
                errors.Add($"{p}{nameof(Lcdm2000Options.CounterFile)} is '{options.CounterFile}', a directory; it must name a file.");
            }
        }

        if (string.IsNullOrWhiteSpace(options.DeviceName))
        {
            errors.Add($"{p}{nameof(Lcdm2000Options.DeviceName)} must not be empty.");
        }

        return errors;
    }

    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, Lcdm2000Options options)
    {
        var errors = Problems(options);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void Positive(List<string> errors, string name, TimeSpan value, TimeSpan max)
    {
        if (value <= TimeSpan.Zero || value > max)
        {
            errors.Add($"{name} is {value}; it must be more than 0 and at most {max}.");
        }
    }
}
