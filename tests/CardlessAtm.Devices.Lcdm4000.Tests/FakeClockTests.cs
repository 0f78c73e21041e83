using System.IO.Pipelines;
using CardlessAtm.Devices.Dispenser;
using CardlessAtm.Devices.Lcdm4000.Protocol;
using CardlessAtm.Devices.Puloon;
using Microsoft.Extensions.Time.Testing;

namespace CardlessAtm.Devices.Lcdm4000.Tests;

/// <summary>
/// The driver on an in-memory stream with a fake clock: every time limit comes from the <see cref="TimeProvider"/>,
/// so silence is tested without waiting for real time, and the test plays the device byte for byte.
/// </summary>
public class FakeClockTests
{
    [Fact]
    public async Task Silence_after_a_dispense_becomes_a_timeout_when_the_clock_says_so_and_is_not_resent()
    {
        var time = new FakeTimeProvider();
        using var line = new Line();
        using var dispenser = new Lcdm4000Dispenser(line.HostSide, Options(), time);
        var dispense = dispenser.DispenseAsync([new PositionCount(3, 30)], CancellationToken.None);

        var command = await line.ReadFromHostAsync(21);
        Assert.Equal(Lcdm4000Frame.BuildCommand(Lcdm4000Command.Dispense, Lcdm4000Frame.DispenseData([0, 0, 30, 0])), command);

        var result = await RunClockUntil(time, dispense);
        Assert.Equal(DispenseCompletion.Timeout, result.Completion);
        Assert.Equal(new PositionMovement(3, 0, 0, 30), Rig.Of(result, 3));
        Assert.Equal(1, dispenser.LinkCounters.CommandFrames);
        Assert.True(time.GetUtcNow() - Start >= TimeSpan.FromSeconds(28.5)); // 0.5 s ACK + 10 s + 30 x 0.6 s
    }

    [Fact]
    public async Task A_device_that_sends_no_closing_eot_is_still_answered()
    {
        var time = new FakeTimeProvider();
        using var line = new Line();
        using var dispenser = new Lcdm4000Dispenser(line.HostSide, Options(), time);
        var status = dispenser.RefreshStatusAsync(CancellationToken.None);

        Assert.Equal(Lcdm4000Frame.BuildCommand(Lcdm4000Command.Status, []), await line.ReadFromHostAsync(6));
        byte[] data = [0x20, 0x00, 0x04, 0x31, 0x20, 0x20, 0x0C, 0x32, 0x20, 0x20, 0x04, 0x33, 0x20, 0x20, 0x00, 0x30, 0x20, 0x20];
        await line.WriteToHostAsync([PuloonFrame.Ack, .. PuloonFrame.BuildResponse(Lcdm4000Frame.Layout, 0x50, data)]);
        Assert.Equal(PuloonFrame.Ack, Assert.Single(await line.ReadFromHostAsync(1)));

        Assert.Null(await RunClockUntil(time, status)); // no EOT: waited out on the fake clock, the answer kept
        var report = dispenser.LastStatusReport!;
        Assert.True(report.Cassettes[1].NearEnd);
        Assert.False(report.Cassettes[3].Present);
        Assert.Equal(DispenserCondition.Attention, dispenser.Status.Dispenser);
        Assert.Equal(0, dispenser.LinkCounters.GarbageBytes);
    }

    [Fact]
    public async Task A_sound_answer_naming_more_notes_than_asked_leaves_them_unknown_not_counted()
    {
        var time = new FakeTimeProvider();
        using var line = new Line();
        using var dispenser = new Lcdm4000Dispenser(line.HostSide, Options(), time);
        var dispense = dispenser.DispenseAsync([new PositionCount(1, 3)], CancellationToken.None);

        await line.ReadFromHostAsync(21);
        // A well-framed answer (right command, length, BCC) whose counts cannot belong to this command: 10 exited of 3 asked.
        byte[] data = [0x20, 0x30, 0x2A, 0x20, 0x31, 0x20, 0x20, 0x32, 0x20, 0x20, 0x33, 0x20, 0x20, 0x34, .. Enumerable.Repeat((byte)0x20, 9)];
        await line.WriteToHostAsync([PuloonFrame.Ack, .. PuloonFrame.BuildResponse(Lcdm4000Frame.Layout, 0x52, data), PuloonFrame.Eot]);

        var result = await RunClockUntil(time, dispense);
        Assert.NotEqual(DispenseCompletion.Ok, result.Completion);
        Assert.Equal(new PositionMovement(1, 0, 0, 3), Rig.Of(result, 1));
        Assert.Equal(1, dispenser.LinkCounters.CommandFrames);
    }

    [Fact]
    public async Task A_nak_after_garbage_in_the_ack_window_is_ambiguous_and_the_dispense_is_not_resent()
    {
        var time = new FakeTimeProvider();
        using var line = new Line();
        using var dispenser = new Lcdm4000Dispenser(line.HostSide, Options(), time);
        var dispense = dispenser.DispenseAsync([new PositionCount(3, 30)], CancellationToken.None);

        await line.ReadFromHostAsync(21);
        // The device's ACK arrives mangled (0x86), the notes start moving, then noise that happens to be 0x15. Whether the
        // 0x15 is read inside the ACK window or after it, it cannot prove a refusal: the garbage may have been the ACK.
        await line.WriteToHostAsync([0x86]);
        time.Advance(TimeSpan.FromSeconds(1));
        await line.WriteToHostAsync([PuloonFrame.Nak]);

        var result = await RunClockUntil(time, dispense);
        Assert.True(dispenser.LinkCounters.CommandFrames == 1, result.Detail); // resent, it could pay out twice
        Assert.Equal(DispenseCompletion.Timeout, result.Completion);
        Assert.Equal(new PositionMovement(3, 0, 0, 30), Rig.Of(result, 3));
    }

    [Fact]
    public async Task A_nak_after_a_late_ack_is_not_a_refusal_and_the_dispense_is_not_resent()
    {
        var time = new FakeTimeProvider();
        using var line = new Line();
        using var dispenser = new Lcdm4000Dispenser(line.HostSide, Options(), time);
        var dispense = dispenser.DispenseAsync([new PositionCount(3, 30)], CancellationToken.None);

        await line.ReadFromHostAsync(21);
        time.Advance(TimeSpan.FromSeconds(1)); // the ACK window passes silently
        await line.WriteToHostAsync([PuloonFrame.Ack, PuloonFrame.Nak]); // the device did take the command; the 0x15 is noise

        var result = await RunClockUntil(time, dispense);
        Assert.True(dispenser.LinkCounters.CommandFrames == 1, result.Detail); // resent, it could pay out twice
        Assert.Equal(DispenseCompletion.Timeout, result.Completion);
        Assert.Equal(new PositionMovement(3, 0, 0, 30), Rig.Of(result, 3));
    }

    [Fact]
    public async Task Cancelled_while_the_dispense_frame_is_being_flushed_leaves_the_notes_unknown()
    {
        var time = new FakeTimeProvider();
        using var line = new Line(flushWaitsForCancellation: true);
        using var dispenser = new Lcdm4000Dispenser(line.HostSide, Options(), time);
        using var cancel = new CancellationTokenSource();
        var dispense = dispenser.DispenseAsync([new PositionCount(3, 30)], cancel.Token);

        await line.ReadFromHostAsync(21); // the frame is on the wire; the flush has not returned yet
        await cancel.CancelAsync();

        var result = await dispense; // not "nothing was sent": the device has the frame and may run it
        Assert.Equal(DispenseCompletion.Timeout, result.Completion);
        Assert.Equal(new PositionMovement(3, 0, 0, 30), Rig.Of(result, 3));
    }

    [Fact]
    public async Task After_a_command_folded_unknown_without_its_answer_last_status_cannot_settle_the_next_one()
    {
        var dir = Directory.CreateTempSubdirectory("lcdm4000-fold-").FullName;
        try
        {
            var time = new FakeTimeProvider();
            using var line = new Line();
            var options = new Lcdm4000Options { PortName = "in-memory line", Retries = 0, CounterFile = Path.Combine(dir, "counters.json") };
            using var dispenser = new Lcdm4000Dispenser(line.HostSide, options, time);

            // A: answered, 5 presented from position 3: the last settled answer.
            var a = dispenser.DispenseAsync([new PositionCount(3, 5)], CancellationToken.None);
            await line.ReadFromHostAsync(21);
            await line.WriteToHostAsync([PuloonFrame.Ack, .. PuloonFrame.BuildResponse(Lcdm4000Frame.Layout, 0x52, Answer(5)), PuloonFrame.Eot]);
            await line.ReadFromHostAsync(1);
            Assert.Equal(DispenseCompletion.Ok, (await RunClockUntil(time, a)).Completion);

            // B: runs (4 notes out) but its answer is lost: in flight.
            var b = dispenser.DispenseAsync([new PositionCount(3, 5)], CancellationToken.None);
            await line.ReadFromHostAsync(21);
            Assert.Equal(DispenseCompletion.Timeout, (await RunClockUntil(time, b)).Completion);

            // C: LAST_STATUS for B goes unanswered, so B is folded unknown and its answer (4 out) is never learnt; C's answer is lost too.
            var c = dispenser.DispenseAsync([new PositionCount(3, 5)], CancellationToken.None);
            await line.ReadFromHostAsync(6);
            Assert.Equal(DispenseCompletion.Timeout, (await RunClockUntil(time, c)).Completion);
            await line.ReadFromHostAsync(21);

            // LAST_STATUS now reports B's answer, which differs from A's: it cannot be told from an answer to C.
            var counters = dispenser.ReadCountersAsync(CancellationToken.None);
            await line.ReadFromHostAsync(6);
            byte[] last = [0x52, .. Answer(4)[..14]];
            await line.WriteToHostAsync([PuloonFrame.Ack, .. PuloonFrame.BuildResponse(Lcdm4000Frame.Layout, 0x55, last), PuloonFrame.Eot]);
            await line.ReadFromHostAsync(1);
            var snapshot = (await RunClockUntil(time, counters))!;

            Assert.Equal(5, snapshot.Positions.Single(p => p.Position == 3).Presented); // A only: B's notes must not be booked as C's
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }

        static byte[] Answer(int exited) =>
            [0x20, 0x30, 0x20, 0x20, 0x31, 0x20, 0x20, 0x32, (byte)(0x20 + exited), 0x20, 0x33, 0x20, 0x20, 0x34, .. Enumerable.Repeat((byte)0x20, 9)];
    }

    [Fact]
    public async Task A_port_that_fails_after_the_dispense_frame_went_out_leaves_the_notes_unknown()
    {
        var time = new FakeTimeProvider();
        using var line = new Line(flushWaitsForCancellation: true, flushFails: true);
        using var dispenser = new Lcdm4000Dispenser(line.HostSide, Options(), time);
        var dispense = dispenser.DispenseAsync([new PositionCount(3, 30)], CancellationToken.None);

        await line.ReadFromHostAsync(21); // the frame reached the device; then the port reports a failure
        var result = await dispense;
        Assert.Equal(DispenseCompletion.Timeout, result.Completion); // not "never sent, nothing moved"
        Assert.Equal(new PositionMovement(3, 0, 0, 30), Rig.Of(result, 3));
    }

    private static readonly DateTimeOffset Start = new FakeTimeProvider().GetUtcNow();

    private static Lcdm4000Options Options() => new() { PortName = "in-memory line" };

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

        public Line(bool flushWaitsForCancellation = false, bool flushFails = false) =>
            HostSide = new DuplexStream(_toHost.Reader.AsStream(), _toDevice.Writer.AsStream(), flushWaitsForCancellation, flushFails);

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

    private sealed class DuplexStream(Stream input, Stream output, bool flushWaitsForCancellation, bool flushFails) : Stream
    {
        public override bool CanRead => true;

        public override bool CanWrite => true;

        public override bool CanSeek => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => input.ReadAsync(buffer, cancellationToken);

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await output.WriteAsync(buffer, cancellationToken);
            if (flushWaitsForCancellation)
            {
                await output.FlushAsync(CancellationToken.None); // the bytes reach the device at once
            }
        }

        public override async Task FlushAsync(CancellationToken cancellationToken)
        {
            if (flushFails)
            {
                throw new IOException("input/output error"); // the bytes went out, then the adapter vanished
            }

            if (flushWaitsForCancellation)
            {
                await Task.Delay(Timeout.Infinite, cancellationToken); // a port whose flush is still draining when the caller cancels
            }

            await output.FlushAsync(cancellationToken);
        }

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
