using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;

namespace CardlessAtm.Iso8583.Channels;

/// <summary>The frame header in front of every message on a TCP connection.</summary>
public enum FrameHeader
{
    /// <summary>2-byte big-endian binary length of the message (the default).</summary>
    TwoByteBinaryLength,

    /// <summary>4 ASCII digits giving the length of the message.</summary>
    FourDigitAsciiLength,

    /// <summary>2-byte big-endian binary length, then a 5-byte TPDU; the length counts the TPDU and the message.</summary>
    TwoByteBinaryLengthWithTpdu,
}

/// <summary>A 5-byte transport protocol data unit: id (normally 0x60), destination and source addresses.</summary>
/// <param name="Id">The TPDU id byte (0x60 for transactions).</param>
/// <param name="Destination">The destination address (NII).</param>
/// <param name="Source">The source address.</param>
public readonly record struct Tpdu(byte Id, ushort Destination, ushort Source)
{
    /// <summary>The TPDU length on the wire.</summary>
    public const int Length = 5;

    /// <summary>The TPDU of a reply: destination and source swapped.</summary>
    /// <returns>The swapped TPDU.</returns>
    public Tpdu Reply() => new(Id, Source, Destination);

    internal void Write(Span<byte> destination)
    {
        destination[0] = Id;
        BinaryPrimitives.WriteUInt16BigEndian(destination[1..], Destination);
        BinaryPrimitives.WriteUInt16BigEndian(destination[3..], Source);
    }

    internal static Tpdu Read(ReadOnlySpan<byte> source) =>
        new(source[0], BinaryPrimitives.ReadUInt16BigEndian(source[1..]), BinaryPrimitives.ReadUInt16BigEndian(source[3..]));
}

/// <summary>Why a frame header was refused. The connection cannot find the next frame, so it is closed.</summary>
public enum FramingErrorReason
{
    /// <summary>The header states a frame longer than the configured maximum.</summary>
    FrameTooLarge,

    /// <summary>An ASCII length header holds a non-digit.</summary>
    InvalidLengthHeader,

    /// <summary>A TPDU frame is shorter than its 5-byte TPDU.</summary>
    ShorterThanTpdu,
}

/// <summary>A frame header could not be accepted; checked before any buffer for the frame is allocated.</summary>
public sealed class Iso8583FramingException : Exception
{
    /// <summary>Creates the error.</summary>
    /// <param name="reason">Why.</param>
    /// <param name="message">What and where.</param>
    public Iso8583FramingException(FramingErrorReason reason, string message) : base(message)
    {
        Reason = reason;
    }

    /// <summary>Why the header was refused.</summary>
    public FramingErrorReason Reason { get; }
}

/// <summary>One frame read from the stream: a message, or a keep-alive (zero-length frame).</summary>
/// <param name="Payload">The packed message; empty for a keep-alive.</param>
/// <param name="Tpdu">The TPDU when the framing carries one.</param>
public readonly record struct Frame(ReadOnlySequence<byte> Payload, Tpdu? Tpdu)
{
    /// <summary>True for a zero-length keep-alive frame.</summary>
    public bool IsKeepAlive => Payload.IsEmpty;
}

/// <summary>
/// Splits a byte stream into frames and writes frames (framing belongs to the channel, never to the message).
/// Immutable; share one instance.
/// </summary>
public sealed class FrameFormat
{
    /// <summary>The default largest frame accepted: 8 KiB, several times our largest message.</summary>
    public const int DefaultMaxFrameBytes = 8192;

    /// <summary>Creates a frame format.</summary>
    /// <param name="header">The header kind.</param>
    /// <param name="maxFrameBytes">The largest frame (TPDU included) accepted or sent; at most 65535 (9999 for ASCII headers).</param>
    public FrameFormat(FrameHeader header = FrameHeader.TwoByteBinaryLength, int maxFrameBytes = DefaultMaxFrameBytes)
    {
        var limit = header == FrameHeader.FourDigitAsciiLength ? 9999 : 65535;
        ArgumentOutOfRangeException.ThrowIfLessThan(maxFrameBytes, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxFrameBytes, limit);
        if (!Enum.IsDefined(header))
        {
            throw new ArgumentOutOfRangeException(nameof(header));
        }

        Header = header;
        MaxFrameBytes = maxFrameBytes;
    }

    /// <summary>2-byte binary length, 8 KiB maximum.</summary>
    public static FrameFormat Default { get; } = new();

    /// <summary>The header kind.</summary>
    public FrameHeader Header { get; }

    /// <summary>The largest frame (the bytes after the length header) accepted or sent.</summary>
    public int MaxFrameBytes { get; }

    /// <summary>Bytes in the length header.</summary>
    public int LengthHeaderBytes => Header == FrameHeader.FourDigitAsciiLength ? 4 : 2;

    /// <summary>True when frames carry a TPDU.</summary>
    public bool HasTpdu => Header == FrameHeader.TwoByteBinaryLengthWithTpdu;

    /// <summary>
    /// Takes one complete frame off the front of <paramref name="buffer"/>. Returns false when more bytes are needed.
    /// The stated length is checked against <see cref="MaxFrameBytes"/> before the frame body is waited for.
    /// </summary>
    /// <param name="buffer">The received bytes; advanced past the frame when one is returned.</param>
    /// <param name="frame">The frame.</param>
    /// <returns>True when a frame was read.</returns>
    /// <exception cref="Iso8583FramingException">The header is invalid or states too large a frame.</exception>
    public bool TryReadFrame(ref ReadOnlySequence<byte> buffer, out Frame frame)
    {
        frame = default;
        var headerBytes = LengthHeaderBytes;
        if (buffer.Length < headerBytes)
        {
            return false;
        }

        Span<byte> header = stackalloc byte[4];
        buffer.Slice(0, headerBytes).CopyTo(header);
        int length;
        if (Header == FrameHeader.FourDigitAsciiLength)
        {
            length = 0;
            for (var i = 0; i < 4; i++)
            {
                var digit = header[i] - '0';
                if (digit is < 0 or > 9)
                {
                    throw new Iso8583FramingException(FramingErrorReason.InvalidLengthHeader, string.Create(CultureInfo.InvariantCulture, $"ASCII length header byte {i} is 0x{header[i]:X2}, not a digit."));
                }

                length = (length * 10) + digit;
            }
        }
        else
        {
            length = BinaryPrimitives.ReadUInt16BigEndian(header);
        }

        if (length > MaxFrameBytes)
        {
            throw new Iso8583FramingException(FramingErrorReason.FrameTooLarge, string.Create(CultureInfo.InvariantCulture, $"the length header states {length} bytes; the maximum is {MaxFrameBytes}."));
        }

        if (length != 0 && HasTpdu && length < Tpdu.Length)
        {
            throw new Iso8583FramingException(FramingErrorReason.ShorterThanTpdu, string.Create(CultureInfo.InvariantCulture, $"the length header states {length} bytes, less than the 5-byte TPDU."));
        }

        if (buffer.Length < headerBytes + length)
        {
            return false;
        }

        var body = buffer.Slice(headerBytes, length);
        buffer = buffer.Slice(headerBytes + length);
        if (length == 0)
        {
            frame = new Frame(ReadOnlySequence<byte>.Empty, null);
            return true;
        }

        if (HasTpdu)
        {
            Span<byte> tpdu = stackalloc byte[Tpdu.Length];
            body.Slice(0, Tpdu.Length).CopyTo(tpdu);
            frame = new Frame(body.Slice(Tpdu.Length), Tpdu.Read(tpdu));
            return true;
        }

        frame = new Frame(body, null);
        return true;
    }

    /// <summary>Writes one message as a frame.</summary>
    /// <param name="writer">The destination (e.g. a <c>PipeWriter</c>).</param>
    /// <param name="message">The message.</param>
    /// <param name="tpdu">The TPDU for TPDU framing (a zero TPDU when null); ignored otherwise.</param>
    /// <exception cref="Iso8583FramingException">The message is larger than <see cref="MaxFrameBytes"/>.</exception>
    public void WriteFrame(IBufferWriter<byte> writer, IsoMessage message, Tpdu? tpdu = null)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(message);
        var messageLength = message.PackedLength;
        var bodyLength = messageLength + (HasTpdu ? Tpdu.Length : 0);
        if (bodyLength > MaxFrameBytes)
        {
            throw new Iso8583FramingException(FramingErrorReason.FrameTooLarge, string.Create(CultureInfo.InvariantCulture, $"message {message.Mti} packs to {bodyLength} bytes; the maximum frame is {MaxFrameBytes}."));
        }

        var headerBytes = LengthHeaderBytes;
        var span = writer.GetSpan(headerBytes + bodyLength);
        WriteLength(span, bodyLength);
        var offset = headerBytes;
        if (HasTpdu)
        {
            (tpdu ?? default).Write(span[offset..]);
            offset += Tpdu.Length;
        }

        message.PackCore(span.Slice(offset, messageLength), 0, out _);
        writer.Advance(headerBytes + bodyLength);
    }

    /// <summary>Packs a message straight into a new framed array (header, TPDU, message) in one allocation.</summary>
    internal byte[] FrameMessage(IsoMessage message, Tpdu? tpdu)
    {
        var messageLength = message.PackedLength;
        var bodyLength = messageLength + (HasTpdu ? Tpdu.Length : 0);
        if (bodyLength > MaxFrameBytes)
        {
            throw new Iso8583FramingException(FramingErrorReason.FrameTooLarge, string.Create(CultureInfo.InvariantCulture, $"message {message.Mti} packs to {bodyLength} bytes; the maximum frame is {MaxFrameBytes}."));
        }

        var result = new byte[LengthHeaderBytes + bodyLength];
        WriteLength(result, bodyLength);
        if (HasTpdu)
        {
            (tpdu ?? default).Write(result.AsSpan(LengthHeaderBytes));
        }

        message.PackCore(result.AsSpan(result.Length - messageLength), 0, out _);
        return result;
    }

    /// <summary>Writes a frame around already packed bytes.</summary>
    /// <param name="packedMessage">The packed message.</param>
    /// <param name="tpdu">The TPDU for TPDU framing.</param>
    /// <returns>The framed bytes.</returns>
    /// <exception cref="Iso8583FramingException">Larger than <see cref="MaxFrameBytes"/>.</exception>
    public byte[] Frame(ReadOnlySpan<byte> packedMessage, Tpdu? tpdu = null)
    {
        var bodyLength = packedMessage.Length + (HasTpdu ? Tpdu.Length : 0);
        if (bodyLength > MaxFrameBytes)
        {
            throw new Iso8583FramingException(FramingErrorReason.FrameTooLarge, string.Create(CultureInfo.InvariantCulture, $"{bodyLength} bytes; the maximum frame is {MaxFrameBytes}."));
        }

        var result = new byte[LengthHeaderBytes + bodyLength];
        WriteLength(result, bodyLength);
        if (HasTpdu)
        {
            (tpdu ?? default).Write(result.AsSpan(LengthHeaderBytes));
        }

        packedMessage.CopyTo(result.AsSpan(result.Length - packedMessage.Length));
        return result;
    }

    /// <summary>Writes a zero-length keep-alive frame.</summary>
    /// <param name="writer">The destination.</param>
    public void WriteKeepAlive(IBufferWriter<byte> writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var span = writer.GetSpan(LengthHeaderBytes);
        WriteLength(span, 0);
        writer.Advance(LengthHeaderBytes);
    }

    private void WriteLength(Span<byte> destination, int length)
    {
        if (Header == FrameHeader.FourDigitAsciiLength)
        {
            for (var i = 3; i >= 0; i--)
            {
                destination[i] = (byte)('0' + (length % 10));
                length /= 10;
            }
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)length);
        }
    }
}
