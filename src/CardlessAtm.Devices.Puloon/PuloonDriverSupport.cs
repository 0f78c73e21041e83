using System.IO.Ports;
using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Status;

namespace CardlessAtm.Devices.Puloon;

/// <summary>What both Puloon drivers do alike around the link: the serial port's line settings, and how a failed exchange shows in the status.</summary>
internal static class PuloonDriverSupport
{
    /// <summary>
    /// The result of an exchange that brought no usable answer, and the status it leaves. A cancelled exchange stops the
    /// dispenser without calling it faulty (what it did is not known); a frame never sent leaves it offline; a refusal or a
    /// corrupt answer is a hardware error; no answer is a timeout (the notes the caller passes stay as they are counted).
    /// </summary>
    public static DeviceDispenseResult CommunicationFailure(DispenserStatus status, Exchange exchange, IReadOnlyList<PositionMovement> movements)
    {
        if (exchange.Outcome == ExchangeOutcome.Cancelled)
        {
            status.LastFault = exchange.Detail;
            status.Dispenser = DispenserCondition.Stop;
            return new DeviceDispenseResult(DispenseCompletion.Timeout, movements, null, exchange.Detail);
        }

        var (completion, state) = exchange.Outcome switch
        {
            ExchangeOutcome.NotSent => (DispenseCompletion.HardwareError, DeviceState.Offline),
            ExchangeOutcome.Refused => (DispenseCompletion.HardwareError, DeviceState.HardwareError),
            ExchangeOutcome.CorruptResponse => (DispenseCompletion.HardwareError, DeviceState.HardwareError),
            _ => (DispenseCompletion.Timeout, DeviceState.Offline),
        };
        MarkFault(status, state, exchange.Detail);
        return new DeviceDispenseResult(completion, movements, null, exchange.Detail);
    }

    /// <summary>Stops the dispenser with <paramref name="reason"/> as its last fault.</summary>
    public static void MarkFault(DispenserStatus status, DeviceState state, string reason)
    {
        status.LastFault = reason;
        status.Dispenser = DispenserCondition.Stop;
        status.Device = state;
    }

    /// <summary>
    /// Opens <paramref name="port"/> with the line settings of <paramref name="options"/> (no handshake lines, DTR and RTS
    /// low) unless it is open, and returns its stream. A missing <c>/dev/…</c> node is a <see cref="FileNotFoundException"/> naming it.
    /// </summary>
    public static Stream OpenSerial(SerialPort port, PuloonDispenserOptions options)
    {
        var portName = options.PortName;
        if (!port.IsOpen)
        {
            if (OperatingSystem.IsLinux() && portName.StartsWith("/dev/", StringComparison.Ordinal) && !File.Exists(portName))
            {
                throw new FileNotFoundException($"{portName} does not exist", portName);
            }

            port.PortName = portName;
            port.BaudRate = options.BaudRate;
            port.DataBits = options.DataBits;
            port.Parity = options.Parity;
            port.StopBits = options.StopBits;
            port.Handshake = Handshake.None;
            port.DtrEnable = false;
            port.RtsEnable = false;
            port.ReadTimeout = SerialPort.InfiniteTimeout;
            port.WriteTimeout = 2000;
            port.Open();
        }

        return port.BaseStream;
    }

    /// <summary>Drops what the port has received and not read (stale bytes before a new command).</summary>
    public static void DiscardSerial(SerialPort port)
    {
        if (port.IsOpen)
        {
            port.DiscardInBuffer();
        }
    }
}
