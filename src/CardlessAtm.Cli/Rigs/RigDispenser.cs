using System.Globalization;
using CardlessAtm.Devices.Configuration;
using CardlessAtm.FirmwareSim.Lcdm2000;
using CardlessAtm.FirmwareSim.Lcdm4000;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Cli.Rigs;

/// <summary>Which dispenser firmware the firmware-sim rig runs on its pseudo-terminal (<c>FirmwareSim:Dispenser:Model</c>).</summary>
internal enum RigDispenserModel
{
    /// <summary>The Puloon LCDM-2000: two cassettes, EUR 10s (upper) and 50s (lower). The default.</summary>
    Lcdm2000,

    /// <summary>The Puloon LCDM-4000: four cassettes, EUR 5s, 10s, 20s and 50s in positions 1–4.</summary>
    Lcdm4000,
}

/// <summary>
/// The rig's dispenser as read from configuration: the model, that model's emulator options (the rig's defaults under
/// <c>FirmwareSim:Lcdm2000</c> or <c>FirmwareSim:Lcdm4000</c>) and a jam injected when the rig starts.
/// </summary>
/// <param name="Model">The emulated dispenser.</param>
/// <param name="Lcdm2000">The LCDM-2000 emulator's options (used when <paramref name="Model"/> is <see cref="RigDispenserModel.Lcdm2000"/>).</param>
/// <param name="Lcdm4000">The LCDM-4000 emulator's options (used when <paramref name="Model"/> is <see cref="RigDispenserModel.Lcdm4000"/>).</param>
/// <param name="JamAfterNotes">The first dispense jams at the exit after this many notes; null: no jam.</param>
internal sealed record RigDispenserOptions(RigDispenserModel Model, Lcdm2000EmulatorOptions Lcdm2000, Lcdm4000EmulatorOptions Lcdm4000, int? JamAfterNotes = null)
{
    /// <summary>The setting that selects the model: <c>Lcdm2000</c> (default) or <c>Lcdm4000</c>.</summary>
    public const string ModelSetting = "FirmwareSim:Dispenser:Model";

    /// <summary>The LCDM-2000 emulator's settings, as for <c>cardless-atm firmware-sim dispenser</c>.</summary>
    public const string Lcdm2000Section = "FirmwareSim:Lcdm2000";

    /// <summary>The LCDM-4000 emulator's settings, as for <c>cardless-atm firmware-sim dispenser --model lcdm4000</c>.</summary>
    public const string Lcdm4000Section = "FirmwareSim:Lcdm4000";

    /// <summary>A jam injected in the rig's emulator (whichever model) when the rig starts.</summary>
    public const string JamAfterNotesSetting = "FirmwareSim:Faults:JamAfterNotes";

    /// <summary>The rig's defaults for <paramref name="model"/>: 500 notes per cassette, a 50 ms start delay, no jam.</summary>
    public static RigDispenserOptions Default(RigDispenserModel model = RigDispenserModel.Lcdm2000) => new(
        model,
        new Lcdm2000EmulatorOptions { UpperNotes = FirmwareSimRig.NotesPerCassette, LowerNotes = FirmwareSimRig.NotesPerCassette, StartDelay = TimeSpan.FromMilliseconds(50) },
        new Lcdm4000EmulatorOptions { Notes = [.. Enumerable.Repeat(FirmwareSimRig.NotesPerCassette, 4)], StartDelay = TimeSpan.FromMilliseconds(50) });

    /// <summary>
    /// The model of <see cref="ModelSetting"/>, its emulator's options (the rig's defaults with its section over them) and the
    /// jam of <see cref="JamAfterNotesSetting"/>. Only the selected model's section is read.
    /// </summary>
    /// <param name="configuration">The settings.</param>
    /// <param name="model">The model when the command line chose it (<c>--dispenser</c>), over <see cref="ModelSetting"/>.</param>
    /// <exception cref="ConfigurationException">A value is unknown, malformed or out of range; the message names the setting.</exception>
    public static RigDispenserOptions Read(IConfiguration configuration, RigDispenserModel? model = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var options = Default(model ?? ParseModel(configuration[ModelSetting]));
        IReadOnlyList<string> problems;
        string section;
        if (options.Model == RigDispenserModel.Lcdm4000)
        {
            section = Lcdm4000Section;
            AtmDevicesBuilder.Bind(configuration.GetSection(section), options.Lcdm4000);
            problems = options.Lcdm4000.Validate();
        }
        else
        {
            section = Lcdm2000Section;
            AtmDevicesBuilder.Bind(configuration.GetSection(section), options.Lcdm2000);
            problems = options.Lcdm2000.Validate();
        }

        if (problems.Count > 0)
        {
            throw new ConfigurationException(section, string.Join("; ", problems));
        }

        if (configuration[JamAfterNotesSetting] is { Length: > 0 } jam)
        {
            options = options with
            {
                JamAfterNotes = int.TryParse(jam, NumberStyles.None, CultureInfo.InvariantCulture, out var notes)
                    ? notes
                    : throw new ConfigurationException(JamAfterNotesSetting, $"'{jam}' is not a number of notes (0 or more)"),
            };
        }

        return options;
    }

    /// <summary>Parses a model name (<c>Lcdm2000</c>, <c>lcdm4000</c>, <c>LCDM-4000</c>; null or empty: the default).</summary>
    /// <exception cref="ConfigurationException">Another value, naming <see cref="ModelSetting"/>.</exception>
    public static RigDispenserModel ParseModel(string? value) => value?.Replace("-", string.Empty, StringComparison.Ordinal).ToUpperInvariant() switch
    {
        null or "" or "LCDM2000" => RigDispenserModel.Lcdm2000,
        "LCDM4000" => RigDispenserModel.Lcdm4000,
        _ => throw new ConfigurationException(ModelSetting, $"'{value}' is not an emulated dispenser; use Lcdm2000 or Lcdm4000"),
    };
}

/// <summary>
/// The dispenser firmware of the rig behind its pseudo-terminal, whichever the model: what the rig, the demo and the tests do
/// to it (a jam, a cassette pulled, the notes left), and the settings that point the terminal's driver at it.
/// </summary>
internal abstract class RigDispenser : IDisposable
{
    /// <summary>The emulated model.</summary>
    public abstract RigDispenserModel Model { get; }

    /// <summary>The pty slave the driver opens.</summary>
    public abstract string SlavePath { get; }

    /// <summary>The terminal's dispenser kind for this model (<c>Devices:Dispenser:Kind</c>).</summary>
    public string Kind => Model.ToString();

    /// <summary>The cash units the rig ships for this model: id, position, EUR denomination.</summary>
    public abstract IReadOnlyList<(string Id, int Position, int Denomination)> CashUnits { get; }

    /// <summary>Notes the firmware let out of its exit.</summary>
    public abstract int PresentedCount { get; }

    /// <summary>Notes picked but neither presented nor in the reject tray: stuck in the transport (a jam).</summary>
    public abstract int NotesInPath { get; }

    /// <summary>Starts the emulator of <paramref name="options"/>' model, with its jam if any.</summary>
    public static RigDispenser Start(RigDispenserOptions options, ILoggerFactory? loggers)
    {
        ArgumentNullException.ThrowIfNull(options);
        RigDispenser dispenser = options.Model == RigDispenserModel.Lcdm4000
            ? new Lcdm4000RigDispenser(new Lcdm4000Emulator(options.Lcdm4000, loggers?.CreateLogger<Lcdm4000Emulator>()))
            : new Lcdm2000RigDispenser(new Lcdm2000Emulator(options.Lcdm2000, loggers?.CreateLogger<Lcdm2000Emulator>()));
        if (options.JamAfterNotes is { } jam)
        {
            dispenser.InjectJam(jam);
        }

        return dispenser;
    }

    /// <summary>Notes in the cassette at <paramref name="position"/> (1-based).</summary>
    public abstract int CassetteCount(int position);

    /// <summary>The next dispense jams at the exit after <paramref name="afterNotes"/> notes.</summary>
    public abstract void InjectJam(int afterNotes);

    /// <summary>Removes (false) or inserts (true) the cassette at <paramref name="position"/>.</summary>
    public abstract void SetCassettePresent(int position, bool present);

    /// <summary>Notes in the firmware's reject tray.</summary>
    public abstract int RejectTrayCount { get; }

    /// <summary>True while an injected jam waits for its dispense.</summary>
    public abstract bool JamPending { get; }

    /// <summary>True while an injected double note waits for its pick.</summary>
    public abstract bool DoubleNotePending { get; }

    /// <summary>True while the firmware answers nothing.</summary>
    public abstract bool IsMuted { get; }

    /// <summary>In the next dispense, pick <paramref name="pickNumber"/> takes two notes stuck together: both go to the reject tray.</summary>
    public abstract void InjectDoubleNote(int pickNumber);

    /// <summary>Withdraws an injected jam no dispense has met yet.</summary>
    public abstract void ClearJam();

    /// <summary>Withdraws injected double notes no pick has met yet.</summary>
    public abstract void ClearDoubleNotes();

    /// <summary>Mutes (a cut cable, a powered-off unit) or unmutes the firmware.</summary>
    public abstract void SetMute(bool mute);

    /// <summary>
    /// The driver's settings for this model: <c>Devices:Dispenser:Kind</c>, and the kind's <c>PortName</c> (the pty) and
    /// <c>CounterFile</c> (<c>lcdm2000-counters.json</c> or <c>lcdm4000-counters.json</c> under <paramref name="stateDirectory"/>).
    /// </summary>
    public void AddSettings(IDictionary<string, string?> settings, string stateDirectory)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings["Devices:Dispenser:Kind"] = Kind;
        settings[$"Devices:Dispenser:{Kind}:PortName"] = SlavePath;
        settings[$"Devices:Dispenser:{Kind}:CounterFile"] = Path.Combine(stateDirectory, $"{Kind.ToLowerInvariant()}-counters.json");
    }

    /// <summary>Stops the firmware and closes its pseudo-terminal.</summary>
    public abstract void Dispose();

    private sealed class Lcdm2000RigDispenser : RigDispenser
    {
        private readonly Lcdm2000Emulator _emulator;

        public Lcdm2000RigDispenser(Lcdm2000Emulator emulator)
        {
            _emulator = emulator;
            _emulator.Start();
        }

        public override RigDispenserModel Model => RigDispenserModel.Lcdm2000;

        public override string SlavePath => _emulator.SlavePath;

        public override IReadOnlyList<(string Id, int Position, int Denomination)> CashUnits { get; } = [("UPPER", 1, 10), ("LOWER", 2, 50)];

        public override int PresentedCount => _emulator.PresentedCount;

        public override int NotesInPath => _emulator.NotesInPath;

        public override int CassetteCount(int position) => position switch
        {
            1 => _emulator.UpperCount,
            2 => _emulator.LowerCount,
            _ => throw new ArgumentOutOfRangeException(nameof(position), position, "The LCDM-2000 has positions 1 (upper) and 2 (lower)."),
        };

        public override void InjectJam(int afterNotes) => _emulator.InjectJam(afterNotes);

        public override void SetCassettePresent(int position, bool present) => _emulator.SetCassettePresent(position, present);

        public override int RejectTrayCount => _emulator.RejectTrayCount;

        public override bool JamPending => _emulator.JamPending;

        public override bool DoubleNotePending => _emulator.DoubleNotePending;

        public override bool IsMuted => _emulator.IsMuted;

        public override void InjectDoubleNote(int pickNumber) => _emulator.InjectDoubleNote(pickNumber);

        public override void ClearJam() => _emulator.ClearJam();

        public override void ClearDoubleNotes() => _emulator.ClearDoubleNotes();

        public override void SetMute(bool mute) => _emulator.SetMute(mute);

        public override void Dispose() => _emulator.Dispose();
    }

    private sealed class Lcdm4000RigDispenser : RigDispenser
    {
        private readonly Lcdm4000Emulator _emulator;

        public Lcdm4000RigDispenser(Lcdm4000Emulator emulator)
        {
            _emulator = emulator;
            _emulator.Start();
        }

        public override RigDispenserModel Model => RigDispenserModel.Lcdm4000;

        public override string SlavePath => _emulator.SlavePath;

        public override IReadOnlyList<(string Id, int Position, int Denomination)> CashUnits { get; } = [("CASS1", 1, 5), ("CASS2", 2, 10), ("CASS3", 3, 20), ("CASS4", 4, 50)];

        public override int PresentedCount => _emulator.PresentedCount;

        public override int NotesInPath => _emulator.NotesInPath;

        public override int CassetteCount(int position) => _emulator.CassetteCount(position);

        public override void InjectJam(int afterNotes) => _emulator.InjectJam(afterNotes, EmulatedJamPoint4000.Exit);

        public override void SetCassettePresent(int position, bool present) => _emulator.SetCassettePresent(position, present);

        public override int RejectTrayCount => _emulator.RejectTrayCount;

        public override bool JamPending => _emulator.JamPending;

        public override bool DoubleNotePending => _emulator.DoubleNotePending;

        public override bool IsMuted => _emulator.IsMuted;

        public override void InjectDoubleNote(int pickNumber) => _emulator.InjectDoubleNote(pickNumber);

        public override void ClearJam() => _emulator.ClearJam();

        public override void ClearDoubleNotes() => _emulator.ClearDoubleNotes();

        public override void SetMute(bool mute) => _emulator.SetMute(mute);

        public override void Dispose() => _emulator.Dispose();
    }
}
