using System.Device.I2c;
using System.Device.Spi;

namespace CardlessAtm.Devices.RaspberryPi.Buses;

/// <summary>
/// Where the Pi registration opens its SPI and I2C devices. The default (<see cref="KernelPiBuses"/>) is the kernel's
/// spidev and i2c-dev nodes; the firmware-sim rig registers emulated buses instead, so the same registration and
/// drivers run against emulated parts. The shared <see cref="System.Device.Gpio.GpioController"/> is registered
/// on its own in the service collection.
/// </summary>
public interface IPiBuses
{
    /// <summary>Opens the SPI device at the bus and chip select of <paramref name="settings"/>.</summary>
    /// <exception cref="IOException">Nothing can be opened there (as the kernel reports a missing node).</exception>
    SpiDevice OpenSpi(SpiConnectionSettings settings);

    /// <summary>Opens the I2C device at the bus and address of <paramref name="settings"/>.</summary>
    /// <exception cref="IOException">The bus cannot be opened (as the kernel reports a missing node).</exception>
    I2cDevice OpenI2c(I2cConnectionSettings settings);
}

/// <summary>The kernel's buses: <c>/dev/spidevB.C</c> and <c>/dev/i2c-B</c>, as System.Device.Gpio opens them.</summary>
public sealed class KernelPiBuses : IPiBuses
{
    /// <inheritdoc />
    public SpiDevice OpenSpi(SpiConnectionSettings settings) => SpiDevice.Create(settings);

    /// <inheritdoc />
    public I2cDevice OpenI2c(I2cConnectionSettings settings) => I2cDevice.Create(settings);
}
