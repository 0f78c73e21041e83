using System.Buffers;
using CardlessAtm.Iso8583.Channels;
using CardlessAtm.Network;

namespace CardlessAtm.Iso8583.Tests;

public class FramingTests
{
    [Fact]
    public void Two_byte_binary_header_frames_and_unframes_a_message()
    {
        var message = Samples.Withdrawal();
        var writer = new ArrayBufferWriter<byte>();
        FrameFormat.Default.WriteFrame(writer, message);

        var bytes = writer.WrittenMemory.ToArray();
        Assert.Equal(message.PackedLength, (bytes[0] << 8) | bytes[1]);

        var sequence = new ReadOnlySequence<byte>(bytes);
        Assert.True(FrameFormat.Default.TryReadFrame(ref sequence, out var frame));
        Assert.True(sequence.IsEmpty);
        Samples.AssertSameMessage(message, NetworkSpec.Unpack(frame.Payload.ToArray()));
    }

    [Fact]
    public void Four_digit_ascii_header_is_decimal_text()
    {
        var format = new FrameFormat(FrameHeader.FourDigitAsciiLength);
        var framed = format.Frame("0800"u8.ToArray().Concat(new byte[8]).ToArray());
        Assert.Equal("0012"u8.ToArray(), framed[..4]);

        var bad = new ReadOnlySequence<byte>("00A2xxxxxxxxxxxx"u8.ToArray());
        var e = Assert.Throws<Iso8583FramingException>(() => format.TryReadFrame(ref bad, out _));
        Assert.Equal(FramingErrorReason.InvalidLengthHeader, e.Reason);
    }

    [Fact]
    public void Tpdu_header_carries_the_tpdu_and_replies_swap_addresses()
    {
        var format = new FrameFormat(FrameHeader.TwoByteBinaryLengthWithTpdu);
        var tpdu = new Tpdu(0x60, 0x0001, 0x0203);
        var framed = format.Frame([0x30, 0x38, 0x30, 0x30], tpdu);

        Assert.Equal(Convert.FromHexString("0009" + "6000010203" + "30383030"), framed);
        var sequence = new ReadOnlySequence<byte>(framed);
        Assert.True(format.TryReadFrame(ref sequence, out var frame));
        Assert.Equal(tpdu, frame.Tpdu);
        Assert.Equal(new Tpdu(0x60, 0x0203, 0x0001), frame.Tpdu!.Value.Reply());
        Assert.Equal(4, frame.Payload.Length);
    }

    [Fact]
    public void An_oversized_length_is_refused_from_the_header_alone()
    {
        var format = new FrameFormat(maxFrameBytes: 1000);
        var headerOnly = new ReadOnlySequence<byte>(new byte[] { 0xFF, 0xFF }); // 65535 announced, no body sent yet
        var e = Assert.Throws<Iso8583FramingException>(() => format.TryReadFrame(ref headerOnly, out _));
        Assert.Equal(FramingErrorReason.FrameTooLarge, e.Reason);
    }

    [Fact]
    public void Partial_frames_wait_for_more_bytes_and_zero_length_is_a_keep_alive()
    {
        var sequence = new ReadOnlySequence<byte>(new byte[] { 0x00, 0x00, 0x00, 0x05, 0x01 });
        Assert.True(FrameFormat.Default.TryReadFrame(ref sequence, out var keepAlive));
        Assert.True(keepAlive.IsKeepAlive);
        Assert.False(FrameFormat.Default.TryReadFrame(ref sequence, out _));
        Assert.Equal(3, sequence.Length); // untouched until the rest arrives
    }

    [Fact]
    public void Writing_a_message_larger_than_the_maximum_frame_is_refused()
    {
        var big = new IsoMessage(NetworkSpec.Messages, "0200") { SessionPayload = new string('x', 999), ProtectedData = new byte[999] };
        var e = Assert.Throws<Iso8583FramingException>(() => new FrameFormat(maxFrameBytes: 1500).WriteFrame(new ArrayBufferWriter<byte>(), big));
        Assert.Equal(FramingErrorReason.FrameTooLarge, e.Reason);
    }
}
