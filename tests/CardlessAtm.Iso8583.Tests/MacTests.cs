using CardlessAtm.Iso8583.Mac;
using CardlessAtm.Iso8583.Spec;
using CardlessAtm.Network;

namespace CardlessAtm.Iso8583.Tests;

public class MacTests
{
    private static readonly byte[] Key = Convert.FromHexString("000102030405060708090A0B0C0D0E0F");

    [Fact]
    public void Mac_goes_in_64_without_a_secondary_bitmap_and_covers_everything_before_it()
    {
        var mac = new TestMac(Key);
        var m = new IsoMessage(NetworkSpec.Messages, "0210") { ProcessingCode = "010000", Stan = 5, TerminalId = "ATM00001", ResponseCode = "00" };

        MessageMac.Apply(m, mac);

        var packed = m.Pack();
        Assert.True(m.Has(64));
        Assert.False(m.Has(128));
        Assert.Equal(packed[..^8], mac.LastInput);
        Assert.Equal(0x01, packed[4 + 7] & 0x01); // bit 64 set in the MAC input's bitmap
        Assert.Equal(MacCheckResult.Valid, MessageMac.Verify(NetworkSpec.Unpack(packed), new TestMac(Key)));
    }

    [Fact]
    public void Mac_goes_in_128_when_a_secondary_bitmap_is_present()
    {
        var m = Samples.Withdrawal(); // has 127 → secondary
        MessageMac.Apply(m, new TestMac(Key));

        Assert.False(m.Has(64));
        Assert.True(m.Has(128));
        Assert.Equal(MacCheckResult.Valid, MessageMac.Verify(NetworkSpec.Unpack(m.Pack()), new TestMac(Key)));
    }

    [Fact]
    public void Any_changed_byte_or_wrong_key_is_a_mismatch()
    {
        var m = Samples.Withdrawal();
        MessageMac.Apply(m, new TestMac(Key));
        var packed = m.Pack();

        var tampered = NetworkSpec.Unpack(packed);
        tampered.AmountMinor = 99_999;
        Assert.Equal(MacCheckResult.Mismatch, MessageMac.Verify(tampered, new TestMac(Key)));
        Assert.Equal(MacCheckResult.Mismatch, MessageMac.Verify(NetworkSpec.Unpack(packed), new TestMac(new byte[16])));
    }

    [Fact]
    public void Missing_and_misplaced_macs_are_reported()
    {
        var m = new IsoMessage(NetworkSpec.Messages, "0210") { Stan = 1 };
        Assert.Equal(MacCheckResult.Missing, MessageMac.Verify(m, new TestMac(Key)));

        m.SetBytes(128, new byte[8]); // 128 without any other secondary field: should have been 64
        Assert.Equal(MacCheckResult.WrongField, MessageMac.Verify(m, new TestMac(Key)));
    }

    [Fact]
    public void Verification_uses_the_received_bytes_exactly()
    {
        // A hex-bitmap peer that writes lower-case hex: repacking would change the bytes, so the received ones must be used.
        var spec = MessageSpec.LoadJson("""
            { "bitmapEncoding": "hex", "fields": [
              { "number": 9, "type": "n", "length": 2 },
              { "number": 11, "type": "n", "length": 6 },
              { "number": 64, "type": "b", "length": 8, "sensitivity": "secret" } ] }
            """);
        var macInput = System.Text.Encoding.ASCII.GetBytes("0210" + "00a0000000000001" + "07" + "000001");
        var mac = new byte[8];
        new TestMac(Key).ComputeMac(macInput, mac);

        var received = IsoMessage.Unpack([.. macInput, .. mac], spec);

        Assert.Equal(MacCheckResult.Valid, MessageMac.Verify(received, new TestMac(Key)));
        received.Set(9, "07"); // same value, but the message is now re-packed (upper-case bitmap) for verification
        Assert.Equal(MacCheckResult.Mismatch, MessageMac.Verify(received, new TestMac(Key)));
    }
}
