using System.Device.Gpio;
using System.Device.I2c;
using System.Device.Spi;
using System.Text;
using CardlessAtm.FirmwareSim.Gpio;
using Microsoft.Extensions.Time.Testing;
using ZXing;
using ZXing.Common;

namespace CardlessAtm.Devices.RaspberryPi.Tests;

/// <summary>A virtual board on a fake clock, and a controller over it.</summary>
internal sealed class Rig : IDisposable
{
    public Rig(int pinCount = 28)
    {
        Board = new VirtualGpioBoard(Clock, pinCount);
        Gpio = Board.CreateController();
    }

    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));

    public VirtualGpioBoard Board { get; }

    public GpioController Gpio { get; }

    public void Dispose() => Gpio.Dispose();
}

/// <summary>An SPI device in front of the panel emulator that can be told to fail, like a bus with a pulled connector.</summary>
internal sealed class FlakySpi(SpiDevice inner) : SpiDevice
{
    public bool Fail { get; set; }

    public override SpiConnectionSettings ConnectionSettings => inner.ConnectionSettings;

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (Fail)
        {
            throw new IOException("Error 5 performing SPI data transfer.");
        }

        inner.Write(buffer);
    }

    public override void WriteByte(byte value) => Write([value]);

    public override void Read(Span<byte> buffer) => inner.Read(buffer);

    public override byte ReadByte() => inner.ReadByte();

    public override void TransferFullDuplex(ReadOnlySpan<byte> writeBuffer, Span<byte> readBuffer) => inner.TransferFullDuplex(writeBuffer, readBuffer);
}

/// <summary>ZXing.Net over the emulated glass.</summary>
internal static class GlassDecoder
{
    public static string? DecodeQr(Ili934xPanelEmulator panel)
    {
        var (width, height, pixels) = panel.Snapshot();
        var luminance = new byte[width * height];
        for (var i = 0; i < pixels.Length; i++)
        {
            var c = Ili934xPanelEmulator.ToColor(pixels[i]);
            luminance[i] = (byte)(((299 * c.R) + (587 * c.G) + (114 * c.B)) / 1000);
        }

        var reader = new BarcodeReaderGeneric
        {
            AutoRotate = false,
            Options = new DecodingOptions { PossibleFormats = [BarcodeFormat.QR_CODE], TryHarder = true },
        };
        return reader.Decode(new RGBLuminanceSource(luminance, width, height, RGBLuminanceSource.BitmapFormat.Gray8))?.Text;
    }

    public static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);
}

/// <summary>A fact that runs only on a real rig: set CARDLESS_ATM_RIG=pi on a Raspberry Pi wired as docs/hardware/raspberry-pi.md says.</summary>
internal sealed class RigFactAttribute : FactAttribute
{
    public const string Variable = "CARDLESS_ATM_RIG";

    public RigFactAttribute()
    {
        if (!string.Equals(Environment.GetEnvironmentVariable(Variable), "pi", StringComparison.OrdinalIgnoreCase))
        {
            Skip = $"Needs a Raspberry Pi rig: set {Variable}=pi.";
        }
    }
}

/// <summary>The Pi registration's buses pointed at firmware-sim's emulated ones.</summary>
internal sealed class EmulatedPiBuses(EmulatedBuses buses) : CardlessAtm.Devices.RaspberryPi.Buses.IPiBuses
{
    public SpiDevice OpenSpi(SpiConnectionSettings settings) => buses.OpenSpi(settings);

    public I2cDevice OpenI2c(I2cConnectionSettings settings) => buses.OpenI2c(settings);
}

