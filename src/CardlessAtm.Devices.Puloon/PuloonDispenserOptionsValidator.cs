using System.IO.Ports;
using Microsoft.Extensions.Options;

namespace CardlessAtm.Devices.Puloon;

/// <summary>
/// The rules every Puloon driver's options follow (<see cref="PuloonDispenserOptions"/>); a model's validator names the model,
/// gives its limits and adds the rules of its own settings. Every failure starts with the full setting path under the
/// section the registration bound (e.g. <c>Devices:Dispenser:Lcdm2000:PortName</c>), so the driver never needs to know it.
/// </summary>
/// <typeparam name="TOptions">The model's options.</typeparam>
/// <param name="section">The configuration path the options are bound from.</param>
/// <param name="model">The model's name in messages, e.g. <c>LCDM-2000</c>.</param>
public abstract class PuloonDispenserOptionsValidator<TOptions>(string section, string model) : IValidateOptions<TOptions>
    where TOptions : PuloonDispenserOptions
{
    private static readonly int[] BaudRates = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200];

    /// <summary>The line speeds the model uses, for the message, e.g. <c>9600 or 38400</c>.</summary>
    protected abstract string UsualBaudRates { get; }

    /// <summary>The most <see cref="PuloonDispenserOptions.MaxNotesPerCommand"/> may be.</summary>
    protected abstract int MaxNotesPerCommandLimit { get; }

    /// <summary>Why <see cref="MaxNotesPerCommandLimit"/> is the limit, for the message.</summary>
    protected abstract string MaxNotesPerCommandReason { get; }

    /// <summary>Every problem with <paramref name="options"/>, each starting with the setting's full path; empty when they are valid.</summary>
    public IReadOnlyList<string> Problems(TOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        var p = section + ":";
        if (string.IsNullOrWhiteSpace(options.PortName))
        {
            errors.Add($"{p}{nameof(options.PortName)} is required: the serial device of the {model}, e.g. /dev/ttyUSB0 or the emulator's pty path.");
        }

        if (!BaudRates.Contains(options.BaudRate))
        {
            errors.Add($"{p}{nameof(options.BaudRate)} is {options.BaudRate}; it must be one of {string.Join(", ", BaudRates)} (the {model} uses {UsualBaudRates}).");
        }

        if (options.DataBits is < 5 or > 8)
        {
            errors.Add($"{p}{nameof(options.DataBits)} is {options.DataBits}; it must be 5..8 (the {model} uses 8).");
        }

        if (!Enum.IsDefined(options.Parity))
        {
            errors.Add($"{p}{nameof(options.Parity)} is {(int)options.Parity}; it must be one of {string.Join(", ", Enum.GetNames<Parity>())}.");
        }

        if (!Enum.IsDefined(options.StopBits) || options.StopBits == StopBits.None)
        {
            errors.Add($"{p}{nameof(options.StopBits)} is {options.StopBits}; it must be One, OnePointFive or Two.");
        }

        Positive(errors, p + nameof(options.AckTimeout), options.AckTimeout, TimeSpan.FromSeconds(30));
        Positive(errors, p + nameof(options.InterByteTimeout), options.InterByteTimeout, TimeSpan.FromSeconds(10));
        Positive(errors, p + nameof(options.StatusTimeout), options.StatusTimeout, TimeSpan.FromMinutes(5));
        Positive(errors, p + nameof(options.PurgeTimeout), options.PurgeTimeout, TimeSpan.FromMinutes(5));
        Positive(errors, p + nameof(options.DispenseBaseTimeout), options.DispenseBaseTimeout, TimeSpan.FromMinutes(5));
        if (options.DispensePerNoteTimeout < TimeSpan.Zero || options.DispensePerNoteTimeout > TimeSpan.FromSeconds(30))
        {
            errors.Add($"{p}{nameof(options.DispensePerNoteTimeout)} is {options.DispensePerNoteTimeout}; it must be between 0 and 30 s.");
        }

        if (options.Retries is < 0 or > 10)
        {
            errors.Add($"{p}{nameof(options.Retries)} is {options.Retries}; it must be 0..10.");
        }

        if (options.MaxNotesPerCommand < 1 || options.MaxNotesPerCommand > MaxNotesPerCommandLimit)
        {
            errors.Add($"{p}{nameof(options.MaxNotesPerCommand)} is {options.MaxNotesPerCommand}; it must be 1..{MaxNotesPerCommandLimit} ({MaxNotesPerCommandReason}).");
        }

        if (options.MaxNotesPerDispense is < 1 or > 1000)
        {
            errors.Add($"{p}{nameof(options.MaxNotesPerDispense)} is {options.MaxNotesPerDispense}; it must be 1..1000.");
        }

        AddModelProblems(errors, p, options);
        if (!string.IsNullOrEmpty(options.CounterFile))
        {
            if (options.CounterFile.Trim() != options.CounterFile || !Path.IsPathFullyQualified(options.CounterFile))
            {
                errors.Add($"{p}{nameof(options.CounterFile)} is '{options.CounterFile}'; it must be a full path, e.g. /var/lib/cardless-atm/{model.Replace("-", "", StringComparison.Ordinal).ToLowerInvariant()}-counters.json.");
            }
            else if (Directory.Exists(options.CounterFile) || options.CounterFile.EndsWith(Path.DirectorySeparatorChar) || options.CounterFile.EndsWith(Path.AltDirectorySeparatorChar))
            {
                errors.Add($"{p}{nameof(options.CounterFile)} is '{options.CounterFile}', a directory; it must name a file.");
            }
        }

        if (string.IsNullOrWhiteSpace(options.DeviceName))
        {
            errors.Add($"{p}{nameof(options.DeviceName)} must not be empty.");
        }

        return errors;
    }

    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, TOptions options)
    {
        var errors = Problems(options);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>Adds the problems of the model's own settings, each starting with <paramref name="prefix"/> (the section and a colon).</summary>
    protected virtual void AddModelProblems(List<string> errors, string prefix, TOptions options)
    {
    }

    private static void Positive(List<string> errors, string name, TimeSpan value, TimeSpan max)
    {
        if (value <= TimeSpan.Zero || value > max)
        {
            errors.Add($"{name} is {value}; it must be more than 0 and at most {max}.");
        }
    }
}
