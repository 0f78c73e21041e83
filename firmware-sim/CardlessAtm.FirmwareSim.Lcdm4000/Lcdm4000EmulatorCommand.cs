using Microsoft.Extensions.Logging;

namespace CardlessAtm.FirmwareSim.Lcdm4000;

/// <summary>Entry point of <c>cardless-atm firmware-sim dispenser --model lcdm4000</c>: runs the emulator until cancelled.</summary>
public static class Lcdm4000EmulatorCommand
{
    /// <summary>
    /// Starts the emulator, writes the device path to configure (and the settings line for the driver)
    /// to <paramref name="output"/>, and runs until <paramref name="cancellationToken"/> is cancelled.
    /// Returns the process exit code: 0 after a clean stop, 1 if the emulator could not start.
    /// </summary>
    public static async Task<int> RunAsync(
        Lcdm4000EmulatorOptions options, TextWriter output, CancellationToken cancellationToken, ILogger<Lcdm4000Emulator>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(output);
        Lcdm4000Emulator emulator;
        try
        {
            emulator = new Lcdm4000Emulator(options, logger);
            emulator.Start();
        }
        catch (Exception ex) when (ex is ArgumentException or IOException or PlatformNotSupportedException or UnauthorizedAccessException
                                   or System.ComponentModel.Win32Exception)
        {
            await output.WriteLineAsync($"LCDM-4000 emulator could not start: {ex.Message}");
            return 1;
        }

        using (emulator)
        {
            await output.WriteLineAsync($"LCDM-4000 emulator running on {emulator.SlavePath}" +
                (options.LinkPath is null ? "" : $" (link {options.LinkPath})"));
            await output.WriteLineAsync($"Point the driver at it: --set Devices:Dispenser:Kind=Lcdm4000 --set Devices:Dispenser:Lcdm4000:PortName={emulator.DevicePath}");
            await output.WriteLineAsync($"  (or CARDLESSATM_Devices__Dispenser__Lcdm4000__PortName={emulator.DevicePath})");
            await output.WriteLineAsync($"Cassettes 1-4: {Counts(emulator)} notes. Ctrl+C stops.");
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                // Normal stop.
            }

            await output.WriteLineAsync($"LCDM-4000 emulator stopped: presented {emulator.PresentedCount}, reject tray {emulator.RejectTrayCount}, cassettes {Counts(emulator)}.");
            return 0;
        }
    }

    private static string Counts(Lcdm4000Emulator emulator) =>
        string.Join(", ", Enumerable.Range(1, 4).Select(emulator.CassetteCount));
}
