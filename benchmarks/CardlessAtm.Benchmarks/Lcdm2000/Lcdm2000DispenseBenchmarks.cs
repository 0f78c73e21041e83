using BenchmarkDotNet.Attributes;
using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Lcdm2000;
using CardlessAtm.FirmwareSim.Lcdm2000;

namespace CardlessAtm.Benchmarks.Lcdm2000;

/// <summary>
/// The real LCDM-2000 driver against the emulator over a real pty with every firmware delay at zero,
/// so what is measured is the driver, the kernel's pty and the emulator's own turnaround — to compare
/// with the wire time at 9600 baud (10 bits a byte): 40 notes = 1 command, 8 + 1 + 14 + 1 = 24 bytes = 25.0 ms;
/// a status = 6 + 1 + 10 + 1 = 18 bytes = 18.75 ms.
/// Run: dotnet run -c Release --project benchmarks/CardlessAtm.Benchmarks -- --filter '*Lcdm2000*' --job short [--inProcess]
/// </summary>
[MemoryDiagnoser]
public class Lcdm2000DispenseBenchmarks
{
    private Lcdm2000Emulator? _emulator;
    private Lcdm2000Dispenser? _dispenser;
    private readonly PositionCount[] _forty = [new(1, 40)];

    /// <summary>Null: bytes move at pty speed (the driver's own cost); 9600: the emulator keeps to 9600-baud wire time, so the result is wire time plus the driver's cost.</summary>
    [Params(null, 9600)]
    public int? LineBaudRate { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var options = Lcdm2000EmulatorOptions.Instant();
        options.UpperNotes = 1_000_000_000;
        options.LineBaudRate = LineBaudRate;
        _emulator = new Lcdm2000Emulator(options);
        _emulator.Start();
        _dispenser = Lcdm2000Dispenser.Create(new Lcdm2000Options { PortName = _emulator.SlavePath });
        if (_dispenser.OpenAsync(CancellationToken.None).GetAwaiter().GetResult() is { } failure)
        {
            throw new InvalidOperationException(failure.Detail);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _dispenser?.Dispose();
        _emulator?.Dispose();
    }

    /// <summary>One dispense of 40 notes from the upper cassette (one command, one response).</summary>
    [Benchmark]
    public async Task<int> Dispense40()
    {
        var result = await _dispenser!.DispenseAsync(_forty, CancellationToken.None);
        return result.Completion == DispenseCompletion.Ok ? result.TotalPresented : throw new InvalidOperationException(result.Detail);
    }

    /// <summary>One status request.</summary>
    [Benchmark]
    public async Task<bool> Status() => await _dispenser!.RefreshStatusAsync(CancellationToken.None) is null;
}
