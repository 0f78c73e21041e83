using CardlessAtm.Iso8583.Channels;
using CardlessAtm.Network;

namespace CardlessAtm.Iso8583.Tests;

public sealed class ClientStopTests
{
    [Fact]
    public async Task Stopping_and_disposing_a_client_twice_signs_off_once_and_does_not_throw()
    {
        await using var server = new Iso8583Server(new Iso8583ServerOptions { Spec = NetworkSpec.Messages });
        await server.StartAsync();
        var signOffs = 0;
        var client = new Iso8583Client(new Iso8583ClientOptions
        {
            Spec = NetworkSpec.Messages,
            Host = "127.0.0.1",
            Port = server.LocalEndPoint.Port,
            SignOff = (_, _) =>
            {
                Interlocked.Increment(ref signOffs);
                return Task.CompletedTask;
            },
        });
        await client.StartAsync();
        await client.WaitUntilConnectedAsync(Timeouts.Token());

        // What a generic host does on SIGTERM: the service stops the client, then the container disposes it.
        await client.StopAsync();
        await client.DisposeAsync();
        await client.DisposeAsync();
        await client.StopAsync();

        Assert.Equal(1, signOffs);
        Assert.False(client.IsConnected);
    }
}
