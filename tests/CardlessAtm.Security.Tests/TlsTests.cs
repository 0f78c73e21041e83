using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Microsoft.Extensions.Time.Testing;

namespace CardlessAtm.Security.Tests;

public sealed class TlsTests
{
    private static readonly FakeTimeProvider Clock = new(DateTimeOffset.UtcNow);

    [Fact]
    public async Task Pinned_self_signed_certificate_gives_a_TLS_13_session_over_loopback()
    {
        using var server = LabCertificates.CreateSelfSigned("cardless-host", Clock, TimeSpan.FromDays(30));
        var (serverProtocol, clientProtocol) = await HandshakeAsync(server, CertificatePin.ForPublicKey(server));
        Assert.Equal(SslProtocols.Tls13, serverProtocol);
        Assert.Equal(SslProtocols.Tls13, clientProtocol);
    }

    [Fact]
    public async Task A_certificate_that_does_not_match_the_pin_is_refused()
    {
        using var server = LabCertificates.CreateSelfSigned("cardless-host", Clock, TimeSpan.FromDays(30));
        using var other = LabCertificates.CreateSelfSigned("cardless-host", Clock, TimeSpan.FromDays(30));
        await Assert.ThrowsAnyAsync<AuthenticationException>(() => HandshakeAsync(server, CertificatePin.ForPublicKey(other)));
    }

    [Fact]
    public void Pins_parse_from_their_text_form_and_reject_garbage()
    {
        using var cert = LabCertificates.CreateSelfSigned("lab", Clock, TimeSpan.FromDays(1));
        var spki = CertificatePin.ForPublicKey(cert);
        var whole = CertificatePin.ForCertificate(cert);
        Assert.True(CertificatePin.Parse(spki.ToString()).Matches(cert));
        Assert.True(CertificatePin.Parse(whole.ToString()).Matches(cert));
        Assert.StartsWith("spki-sha256:", spki.ToString(), StringComparison.Ordinal);
        Assert.Throws<FormatException>(() => CertificatePin.Parse("sha1:abcd"));
        Assert.Throws<FormatException>(() => CertificatePin.Parse("spki-sha256:AAAA"));
    }

    [Fact]
    public async Task Lab_pair_written_to_disk_loads_back_serves_TLS_and_the_key_file_is_owner_only()
    {
        var directory = Directory.CreateTempSubdirectory("cardless-tls-");
        try
        {
            using var cert = LabCertificates.CreateSelfSigned("lab", Clock, TimeSpan.FromDays(1));
            var certPath = Path.Combine(directory.FullName, "host.crt");
            var keyPath = Path.Combine(directory.FullName, "host.key");
            var pin = LabCertificates.WritePem(cert, certPath, keyPath);
            using var loaded = LabCertificates.LoadPem(certPath, keyPath);
            Assert.True(pin.Matches(loaded));
            Assert.True(loaded.HasPrivateKey);
            var (serverProtocol, _) = await HandshakeAsync(loaded, CertificatePin.Parse(pin.ToString()));
            Assert.Equal(SslProtocols.Tls13, serverProtocol);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
                Assert.Throws<KeyFileRejectedException>(() => LabCertificates.LoadPem(certPath, keyPath));
            }
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public void A_lab_pair_written_into_a_new_directory_makes_it_owner_only_so_the_key_loads_back()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var parent = Directory.CreateTempSubdirectory("cardless-tls-");
        try
        {
            // A directory made with the process umask (0755 here) would make the key unloadable by LoadPem.
            var directory = Path.Combine(parent.FullName, "pki", "atm");
            using var cert = LabCertificates.CreateSelfSigned("lab", Clock, TimeSpan.FromDays(1));
            var certPath = Path.Combine(directory, "lab.crt");
            var keyPath = Path.Combine(directory, "lab.key");

            LabCertificates.WritePem(cert, certPath, keyPath);

            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(directory));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyPath));
            using var loaded = LabCertificates.LoadPem(certPath, keyPath);
            Assert.True(loaded.HasPrivateKey);
        }
        finally
        {
            parent.Delete(recursive: true);
        }
    }

    [Fact]
    public void A_lab_pair_is_not_written_into_an_existing_directory_that_others_can_list()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var directory = Directory.CreateTempSubdirectory("cardless-tls-");
        try
        {
            File.SetUnixFileMode(directory.FullName, (UnixFileMode)Convert.ToInt32("755", 8));
            using var cert = LabCertificates.CreateSelfSigned("lab", Clock, TimeSpan.FromDays(1));
            var certPath = Path.Combine(directory.FullName, "lab.crt");
            var keyPath = Path.Combine(directory.FullName, "lab.key");

            var refused = Assert.Throws<KeyFileRejectedException>(() => LabCertificates.WritePem(cert, certPath, keyPath));

            Assert.Contains(directory.FullName, refused.Message, StringComparison.Ordinal);
            Assert.Contains("chmod 700", refused.Message, StringComparison.Ordinal);
            Assert.False(File.Exists(keyPath));
            Assert.False(File.Exists(certPath));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private static async Task<(SslProtocols Server, SslProtocols Client)> HandshakeAsync(System.Security.Cryptography.X509Certificates.X509Certificate2 serverCertificate, CertificatePin pin)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var serverTask = Task.Run(async () =>
        {
            using var socket = await listener.AcceptTcpClientAsync(cancel.Token);
            await using var ssl = new SslStream(socket.GetStream());
            try
            {
                await ssl.AuthenticateAsServerAsync(TlsSetup.ServerOptions(serverCertificate), cancel.Token);
                return ssl.SslProtocol;
            }
            catch (Exception ex) when (ex is AuthenticationException or IOException)
            {
                return SslProtocols.None;
            }
        });
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port, cancel.Token);
        await using var clientSsl = new SslStream(client.GetStream());
        await clientSsl.AuthenticateAsClientAsync(TlsSetup.ClientOptions("cardless-host", pin), cancel.Token);
        var serverProtocol = await serverTask;
        return (serverProtocol, clientSsl.SslProtocol);
    }
}
