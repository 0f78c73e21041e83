using CardlessAtm.Iso8583.Channels;
using CardlessAtm.Iso8583.Spec;
using CardlessAtm.Network;

namespace CardlessAtm.Iso8583.Tests;

/// <summary>Feeds over a million random and mutated frames to the decoder: it either succeeds or throws the typed parse error.</summary>
public class FuzzTests
{
    private const int Iterations = 1_050_000;

    [Fact]
    public void A_million_random_and_mutated_frames_give_only_messages_or_typed_parse_errors()
    {
        var random = new Random(8583); // fixed seed: a failure is reproducible
        var specs = new[] { NetworkSpec.Messages, Samples.KitchenSink(BitmapEncoding.Hex), Samples.KitchenSink(BitmapEncoding.Binary, FieldEncoding.Bcd) };
        var seeds = specs.Select(spec => Enumerable.Range(0, 60).Select(_ => Samples.RandomMessage(random, spec).Pack()).ToArray()).ToArray();
        seeds[0] = [.. seeds[0], Samples.Withdrawal().Pack()];
        var buffer = new byte[2048];
        int parsed = 0, refused = 0;
        var reasons = new HashSet<ParseErrorReason>();

        for (var i = 0; i < Iterations; i++)
        {
            var s = i % specs.Length;
            var length = Mutate(random, seeds[s][random.Next(seeds[s].Length)], buffer, i);
            var frame = buffer.AsSpan(0, length);
            if (IsoMessage.TryUnpack(frame, specs[s], out var message, out var error))
            {
                // Whatever decodes must re-encode to bytes that decode to the same message (cheap byte compare, not xunit's collection diff).
                var repacked = message.Pack();
                if (!IsoMessage.Unpack(repacked, specs[s]).Pack().AsSpan().SequenceEqual(repacked) || message.PackedLength != repacked.Length)
                {
                    Assert.Fail($"iteration {i}: the decoded message does not round-trip");
                }

                parsed++;
            }
            else
            {
                if (error.Offset < 0 || error.Offset > length)
                {
                    Assert.Fail($"iteration {i}: offset {error.Offset} outside the {length}-byte input");
                }

                reasons.Add(error.Reason);
                refused++;
            }

            if (i % 10 == 0)
            {
                // The throwing entry point agrees, and throws nothing but the typed error (anything else fails the test).
                var thrown = Record.Exception(() => IsoMessage.Unpack(buffer.AsSpan(0, length), specs[s]));
                Assert.Equal(error?.Message, thrown?.Message);
                Assert.True(thrown is null or Iso8583ParseException);
            }
        }

        Assert.Equal(Iterations, parsed + refused);
        Assert.True(parsed > 1000, $"mutations should leave some frames valid (parsed {parsed})");
        Assert.Superset(new HashSet<ParseErrorReason> { ParseErrorReason.Truncated, ParseErrorReason.InvalidDigit, ParseErrorReason.InvalidCharacter, ParseErrorReason.UndefinedField, ParseErrorReason.TrailingBytes, ParseErrorReason.LengthExceedsMaximum, ParseErrorReason.InvalidBitmap }, reasons);
    }

    [Fact]
    public void Random_byte_streams_give_frames_or_typed_framing_errors()
    {
        var random = new Random(4);
        var formats = new[] { FrameFormat.Default, new FrameFormat(FrameHeader.FourDigitAsciiLength, 2000), new FrameFormat(FrameHeader.TwoByteBinaryLengthWithTpdu, 1000) };
        var bytes = new byte[600];
        for (var i = 0; i < 20_000; i++)
        {
            random.NextBytes(bytes);
            var sequence = new System.Buffers.ReadOnlySequence<byte>(bytes, 0, random.Next(bytes.Length));
            try
            {
                while (formats[i % 3].TryReadFrame(ref sequence, out var frame))
                {
                    Assert.True(frame.Payload.Length <= formats[i % 3].MaxFrameBytes);
                }
            }
            catch (Iso8583FramingException)
            {
            }
        }
    }

    private static int Mutate(Random random, byte[] seed, byte[] buffer, int iteration)
    {
        switch (iteration % 8)
        {
            case 0: // pure noise
                {
                    var length = random.Next(0, 300);
                    random.NextBytes(buffer.AsSpan(0, length));
                    return length;
                }

            case 1: // noise behind a valid MTI
                {
                    var length = random.Next(4, 300);
                    random.NextBytes(buffer.AsSpan(0, length));
                    "0200"u8.CopyTo(buffer);
                    return length;
                }

            case 2: // truncate
                {
                    var length = random.Next(0, seed.Length + 1);
                    seed.AsSpan(0, length).CopyTo(buffer);
                    return length;
                }

            case 3: // append
                {
                    seed.CopyTo(buffer, 0);
                    var extra = random.Next(1, 20);
                    random.NextBytes(buffer.AsSpan(seed.Length, extra));
                    return seed.Length + extra;
                }

            case 4: // unchanged (must parse)
                seed.CopyTo(buffer, 0);
                return seed.Length;

            default: // flip 1–4 bytes, often in the header and bitmap where they hurt most
                {
                    seed.CopyTo(buffer, 0);
                    var flips = random.Next(1, 5);
                    for (var f = 0; f < flips; f++)
                    {
                        var at = random.Next(2) == 0 ? random.Next(Math.Min(seed.Length, 40)) : random.Next(seed.Length);
                        buffer[at] = random.Next(3) == 0 ? (byte)(buffer[at] ^ (1 << random.Next(8))) : (byte)random.Next(256);
                    }

                    return seed.Length;
                }
        }
    }
}
