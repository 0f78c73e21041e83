using System.IO.Pipelines;
using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Lcdm2000.Protocol;
using Microsoft.Extensions.Time.Testing;

namespace CardlessAtm.Devices.Lcdm2000.Tests;

/// <summary>
/// The driver on an in-memory stream with a fake clock: every time limit comes from the
/// <see cref="TimeProvider"/>, so silence is tested without waiting for real time to pass.
/// </summary>
public class FakeClockTests
{
    [Fact]
    public async Task Silence_after_a_dispense_becomes_a_timeout_when_the_clock_says_so()
    {
        var time = new FakeTimeProvider();
        using var line = new Line();
        using var dispenser = new Lcdm2000Dispenser(line.HostSide, Options(), time);
        var dispense = dispenser.DispenseAsync([new PositionCount(2, 30)], CancellationToken.None);

        var command = await line.ReadFromHostAsync(8);
        Assert.Equal(Lcdm2000Frame.BuildCommand(Lcdm2000Command.LowerDispense, "30"u8), command);

        var result = await RunClockUntil(time, dispense);
        Assert.Equal(DispenseCompletion.Timeout, result.Completion);
        Assert.Equal(new PositionMovement(2, 0, 0, 30), Rig.Of(result, 2));
        Assert.Equal(1, dispenser.LinkCounters.CommandFrames);
        // Limit: ACK 0.5 s, then 10 s + 30 × 0.6 s for the response.
        Assert.True(time.GetUtcNow() - Start >= TimeSpan.FromSeconds(28.5));
    }

    [Fact]
    public async Task A_scripted_device_on_a_plain_stream_is_answered_and_acknowledged()
    {
        var time = new FakeTimeProvider();
        using var line = new Line();
        using var dispenser = new Lcdm2000Dispenser(line.HostSide, Options(), time);
        var status = dispenser.RefreshStatusAsync(CancellationToken.None);

        var romCommand = Lcdm2000Frame.BuildCommand(Lcdm2000Command.RomVersion, []);
        Assert.Equal(romCommand, await line.ReadFromHostAsync(6));
        byte[] romAnswer = [Lcdm2000Frame.Ack, .. ProtocolTests.Response(Lcdm2000Command.RomVersion, "T20T0001"u8.ToArray())];
        await line.WriteToHostAsync(romAnswer);
        Assert.Equal(Lcdm2000Frame.Ack, Assert.Single(await line.ReadFromHostAsync(1)));

        var statusCommand = Lcdm2000Frame.BuildCommand(Lcdm2000Command.Status, []);
        Assert.Equal(statusCommand, await line.ReadFromHostAsync(6));
        byte[] statusAnswer = [Lcdm2000Frame.Ack, .. ProtocolTests.Response(Lcdm2000Command.Status, [0x30, 0x30, 0x80 | 0x40, 0x00])];
        await line.WriteToHostAsync(statusAnswer);
        Assert.Equal(Lcdm2000Frame.Ack, Assert.Single(await line.ReadFromHostAsync(1)));

        Assert.Null(await status);
        Assert.Equal(Lcdm2000Sensors.UpperNearEnd, dispenser.Sensors);
        Assert.Equal(DispenserCondition.Attention, dispenser.Status.Dispenser);
        Assert.Equal("T20T (0001)", dispenser.Info.Firmware);
    }

    [Fact]
    public async Task A_sound_answer_naming_more_notes_than_asked_leaves_them_unknown_not_counted()
    {
        var time = new FakeTimeProvider();
        using var line = new Line();
        using var dispenser = new Lcdm2000Dispenser(line.HostSide, Options(), time);
        var dispense = dispenser.DispenseAsync([new PositionCount(2, 30)], CancellationToken.None);

        await line.ReadFromHostAsync(8);
        // A well-framed answer (right command, length, BCC) whose counts cannot belong to this command: 40 exited of 30 asked.
        await line.WriteToHostAsync([Lcdm2000Frame.Ack, .. ProtocolTests.Response(Lcdm2000Command.LowerDispense, "40400000"u8.ToArray())]);

        var result = await RunClockUntil(time, dispense);
        Assert.NotEqual(DispenseCompletion.Ok, result.Completion);
        Assert.Equal(new PositionMovement(2, 0, 0, 30), Rig.Of(result, 2));
        Assert.Equal(1, dispenser.LinkCounters.CommandFrames);
    }

    private static readonly DateTimeOffset Start = new FakeTimeProvider().GetUtcNow();

    private static Lcdm2000Options Options() => new() { PortName = "in-memory line" };

    /// <summary>Moves the fake clock in small steps until the operation ends (bounded, so a bug fails instead of hanging).</summary>
    private static async Task<T> RunClockUntil<T>(FakeTimeProvider time, Task<T> operation)
    {
        for (var i = 0; i < 10_000 && !operation.IsCompleted; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(200));
            await Task.Delay(1);
        }

        return await operation;
    }

    /// <summary>A full-duplex in-memory serial line: the driver holds <see cref="HostSide"/>, the test plays the device.</summary>
    private sealed class Line : IDisposable
    {
        private readonly Pipe _toDevice = new();
        private readonly Pipe _toHost = new();

        public Line() => HostSide = new DuplexStream(_toHost.Reader.AsStream(), _toDevice.Writer.AsStream());

        public Stream HostSide { get; }

        public async Task<byte[]> ReadFromHostAsync(int count)
        {
            var stream = _toDevice.Reader.AsStream();
            var buffer = new byte[count];
            await stream.ReadExactlyAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
            return buffer;
        }

        public async Task WriteToHostAsync(byte[] bytes) => await _toHost.Writer.WriteAsync(bytes);

        public void Dispose() => HostSide.Dispose();
    }

    private sealed class DuplexStream(Stream input, Stream output) : Stream
    {
        public override bool CanRead => true;

        public override bool CanWrite => true;

        public override bool CanSeek => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => input.ReadAsync(buffer, cancellationToken);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => output.WriteAsync(buffer, cancellationToken);

        public override Task FlushAsync(CancellationToken cancellationToken) => output.FlushAsync(cancellationToken);

        public override void Flush() => output.Flush();

        public override int Read(byte[] buffer, int offset, int count) => input.Read(buffer, offset, count);

        public override void Write(byte[] buffer, int offset, int count) => output.Write(buffer, offset, count);

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                input.Dispose();
                output.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
