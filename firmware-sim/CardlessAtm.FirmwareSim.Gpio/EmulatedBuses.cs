using System.Device.I2c;
using System.Device.Spi;

namespace CardlessAtm.FirmwareSim.Gpio;

/// <summary>
/// The SPI and I2C buses of an emulated Raspberry Pi: emulated parts are attached at their bus, chip select or address,
/// and a driver opens them by the settings it was configured with. What the driver asked for is checked the way the
/// hardware would answer it: a bus with nothing attached cannot be opened (the kernel has no node for it); an I2C
/// address nothing answers NACKs every transfer (IOException, as i2c-dev reports EREMOTEIO); a chip select with no
/// part on it, a wrong SPI mode or a clock over the part's ceiling gives a link on which nothing answers (reads are
/// zeros, writes are lost), which a driver that reads the part's id back notices.
/// </summary>
public sealed class EmulatedBuses
{
    private readonly Lock _gate = new();
    private readonly List<(SpiDevice Part, int MaxClockHz)> _spi = [];
    private readonly List<I2cDevice> _i2c = [];
    private readonly List<string> _refusals = [];

    /// <summary>What the buses refused so far (wrong mode, clock over the ceiling, an address nothing answers), newest last.</summary>
    public IReadOnlyList<string> Refusals
    {
        get
        {
            lock (_gate)
            {
                return [.. _refusals];
            }
        }
    }

    /// <summary>Attaches an SPI part at the bus and chip select of its <see cref="SpiDevice.ConnectionSettings"/>, answering in its mode up to <paramref name="maxClockHz"/>.</summary>
    public void AttachSpi(SpiDevice part, int maxClockHz)
    {
        ArgumentNullException.ThrowIfNull(part);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxClockHz);
        lock (_gate)
        {
            _spi.Add((part, maxClockHz));
        }
    }

    /// <summary>Attaches an I2C part at the bus and address of its <see cref="I2cDevice.ConnectionSettings"/>.</summary>
    public void AttachI2c(I2cDevice part)
    {
        ArgumentNullException.ThrowIfNull(part);
        lock (_gate)
        {
            _i2c.Add(part);
        }
    }

    /// <summary>Opens <c>/dev/spidevB.C</c> as the driver's settings say.</summary>
    /// <exception cref="IOException">No part is attached on that bus at all: the node does not exist.</exception>
    public SpiDevice OpenSpi(SpiConnectionSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var node = $"/dev/spidev{settings.BusId}.{settings.ChipSelectLine}";
        lock (_gate)
        {
            if (!_spi.Exists(p => p.Part.ConnectionSettings.BusId == settings.BusId) || settings.ChipSelectLine is < 0 or > 1)
            {
                throw new IOException($"Error 2. Can not open SPI device file '{node}'.");
            }

            var found = _spi.Find(p => p.Part.ConnectionSettings.ChipSelectLine == settings.ChipSelectLine && p.Part.ConnectionSettings.BusId == settings.BusId);
            if (found.Part is null)
            {
                _refusals.Add($"{node}: nothing is wired to chip select {settings.ChipSelectLine}");
                return new SilentSpi(settings);
            }

            var wanted = found.Part.ConnectionSettings;
            if (settings.Mode != wanted.Mode)
            {
                _refusals.Add($"{node}: the part samples in SPI {wanted.Mode}, the driver asked for {settings.Mode}");
                return new SilentSpi(settings);
            }

            if (settings.ClockFrequency > found.MaxClockHz)
            {
                _refusals.Add($"{node}: {settings.ClockFrequency} Hz is over the part's {found.MaxClockHz} Hz");
                return new SilentSpi(settings);
            }

            return new SpiLink(settings, found.Part);
        }
    }

    /// <summary>Opens <c>/dev/i2c-B</c> at the driver's address.</summary>
    /// <exception cref="IOException">No part is attached on that bus at all: the node does not exist.</exception>
    public I2cDevice OpenI2c(I2cConnectionSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        lock (_gate)
        {
            if (!_i2c.Exists(p => p.ConnectionSettings.BusId == settings.BusId))
            {
                throw new IOException($"Error 2. Can not open I2C device file '/dev/i2c-{settings.BusId}'.");
            }

            var part = _i2c.Find(p => p.ConnectionSettings.BusId == settings.BusId && p.ConnectionSettings.DeviceAddress == settings.DeviceAddress);
            if (part is null)
            {
                _refusals.Add($"/dev/i2c-{settings.BusId}: nothing acknowledges address 0x{settings.DeviceAddress:X2}");
            }

            return new I2cLink(settings, part);
        }
    }

    /// <summary>The driver's end of a link to an SPI part; disposing it leaves the part attached.</summary>
    private sealed class SpiLink(SpiConnectionSettings settings, SpiDevice part) : SpiDevice
    {
        public override SpiConnectionSettings ConnectionSettings { get; } = settings;

        public override void Write(ReadOnlySpan<byte> buffer) => part.Write(buffer);

        public override void WriteByte(byte value) => part.WriteByte(value);

        public override void Read(Span<byte> buffer) => part.Read(buffer);

        public override byte ReadByte() => part.ReadByte();

        public override void TransferFullDuplex(ReadOnlySpan<byte> writeBuffer, Span<byte> readBuffer) => part.TransferFullDuplex(writeBuffer, readBuffer);
    }

    /// <summary>A chip select nothing listens on, or a part driven outside its mode or clock: writes are lost, reads are zeros.</summary>
    private sealed class SilentSpi(SpiConnectionSettings settings) : SpiDevice
    {
        public override SpiConnectionSettings ConnectionSettings { get; } = settings;

        public override void Write(ReadOnlySpan<byte> buffer)
        {
        }

        public override void WriteByte(byte value)
        {
        }

        public override void Read(Span<byte> buffer) => buffer.Clear();

        public override byte ReadByte() => 0;

        public override void TransferFullDuplex(ReadOnlySpan<byte> writeBuffer, Span<byte> readBuffer) => readBuffer.Clear();
    }

    /// <summary>The driver's end of an I2C address: forwarded to the part there, or NACKed when none answers.</summary>
    private sealed class I2cLink(I2cConnectionSettings settings, I2cDevice? part) : I2cDevice
    {
        public override I2cConnectionSettings ConnectionSettings { get; } = settings;

        public override byte ReadByte() => Part.ReadByte();

        public override void Read(Span<byte> buffer) => Part.Read(buffer);

        public override void WriteByte(byte value) => Part.WriteByte(value);

        public override void Write(ReadOnlySpan<byte> buffer) => Part.Write(buffer);

        public override void WriteRead(ReadOnlySpan<byte> writeBuffer, Span<byte> readBuffer) => Part.WriteRead(writeBuffer, readBuffer);

        private I2cDevice Part => part ?? throw new IOException("Error 121 performing I2C data transfer.");
    }
}
