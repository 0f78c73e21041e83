using System.Net;
using System.Net.Sockets;

namespace CardlessAtm.EndToEnd.Tests;

/// <summary>
/// Each role refuses a bad setting the same way: exit code 2 and one line on the console that names the setting
/// and the bad value, never a stack trace.
/// </summary>
[Collection("processes")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // file modes are the POSIX ones
public sealed class ConfigurationErrorProcessTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("cardless-atm-config-");

    public void Dispose() => _directory.Delete(recursive: true);

    [Theory]
    [InlineData("host")]
    [InlineData("terminal")]
    public async Task An_unknown_security_profile_is_refused_naming_the_setting_and_the_allowed_values(string role)
    {
        var (exit, output) = await RunRoleAsync(role, "--set", "Security:Profile=Des");

        AssertRefused(exit, output, "Security:Profile", "Des");
        Assert.Contains("Legacy3Des", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("host")]
    [InlineData("proxy")]
    [InlineData("terminal")]
    [InlineData("phone")]
    public async Task A_truncated_configuration_file_is_refused_naming_the_file(string role)
    {
        var broken = Path.Combine(_directory.FullName, "broken.json");
        await File.WriteAllTextAsync(broken, "{\"Terminal\": {");

        var (exit, output) = await RunRoleAsync(role, "--config", broken);

        AssertRefused(exit, output, "--config", broken);
    }

    [Fact]
    public async Task A_malformed_tls_server_pin_is_refused_naming_the_setting()
    {
        var (exit, output) = await RunRoleAsync("terminal", "--set", "Terminal:Host:Tls:ServerPin=sha1:abc");

        AssertRefused(exit, output, "Terminal:Host:Tls:ServerPin", "sha1:abc");
    }

    [Fact]
    public async Task A_currency_the_cash_units_do_not_hold_is_refused()
    {
        var (exit, output) = await RunRoleAsync("terminal", "--set", "Terminal:Currency=USD");

        AssertRefused(exit, output, "Terminal:Currency", "USD");
        Assert.Contains("EUR", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("host")]
    [InlineData("proxy")]
    public async Task A_port_already_in_use_is_refused_naming_the_setting(string role)
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

        var (exit, output) = role == "host"
            ? await RunRoleAsync(role, "--port", port)
            : await RunRoleAsync(role, "--atm-port", port);

        AssertRefused(exit, output, role == "host" ? "Host:Port" : "Proxy:Atm:Port", port);
    }

    [Theory]
    [InlineData("host")]
    [InlineData("terminal")]
    [InlineData("keys")]
    public async Task A_key_file_others_can_read_is_refused(string role)
    {
        var keyFile = await PrepareKeysAsync(role);
        File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        var (exit, output) = await RunRoleAsync(role);

        AssertRefused(exit, output, keyFile, "0644");
    }

    [Theory]
    [InlineData("host")]
    [InlineData("terminal")]
    [InlineData("keys")]
    public async Task A_key_directory_others_can_list_is_refused(string role)
    {
        var keyFile = await PrepareKeysAsync(role);
        var directory = Path.GetDirectoryName(keyFile)!;
        File.SetUnixFileMode(directory, (UnixFileMode)Convert.ToInt32("755", 8));

        var (exit, output) = await RunRoleAsync(role);

        AssertRefused(exit, output, directory, "0755");
        Assert.Contains("0700", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Host:MaxConnections", "many")]
    [InlineData("Host:MaxConnectionsBeforeSignOn", "0")]
    [InlineData("Host:MaxConnectionsPerAddress", "-1")]
    [InlineData("Host:IdleTimeout", "soon")]
    [InlineData("Host:FirstMessageTimeout", "00:00:00")]
    [InlineData("Host:HandshakeTimeout", "-00:00:05")]
    public async Task Host_run_refuses_a_bad_connection_limit_naming_the_setting(string setting, string value)
    {
        var (exit, output) = await RunRoleAsync("host", "--set", $"{setting}={value}");

        AssertRefused(exit, output, setting, value);
    }

    [Theory]
    [InlineData("Phone:RequestTimeout", "soon")]
    [InlineData("Phone:RequestTimeout", "-00:00:05")]
    [InlineData("Phone:ConnectTimeout", "0")]
    [InlineData("Phone:TlsServerPin", "sha1:abc")]
    [InlineData("Phone:Proxy", "nohost")]
    public async Task Phone_withdraw_refuses_a_bad_setting_naming_it_before_anything_is_sent(string setting, string value)
    {
        var (exit, output) = await CliRun.RunAsync(_directory.FullName, "phone", "withdraw", "--qr", "x", "--account", "1", "--yes", "--pin-stdin", "--set", $"{setting}={value}");

        AssertRefused(exit, output, setting, value);
    }

    [Theory]
    [InlineData("Proxy:ForwardTimeout", "soon")]
    [InlineData("Proxy:ForwardTimeout", "00:00:00")]
    [InlineData("Proxy:PhoneIdleTimeout", "00:00:10")]
    public async Task The_proxy_refuses_a_bad_timeout_naming_the_setting(string setting, string value)
    {
        var (exit, output) = await RunRoleAsync("proxy", "--set", $"{setting}={value}");

        AssertRefused(exit, output, setting, setting == "Proxy:PhoneIdleTimeout" ? "Proxy:ForwardTimeout" : value);
    }

    [Theory]
    [InlineData("unset")]
    [InlineData("missing")]
    [InlineData("group-readable")]
    public async Task A_NATS_routed_proxy_without_a_usable_fleet_key_exits_2_naming_the_fleet_key_setting(string problem)
    {
        var path = Path.Combine(_directory.FullName, "fleet-a", "fleet.key");
        var made = await CliRun.RunAsync(_directory.FullName, "proxy", "fleet-key", "--out", path);
        Assert.True(made.ExitCode == 0, made.Output);
        Assert.Contains("KCV", made.Output, StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        if (problem == "group-readable")
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        }

        string[] fleetKey = problem switch
        {
            "unset" => [],
            "missing" => ["--set", "Proxy:Routing:Nats:FleetKeyPath=" + Path.Combine(_directory.FullName, "fleet-a", "other.key")],
            _ => ["--set", "Proxy:Routing:Nats:FleetKeyPath=" + path],
        };

        // The key is read before NATS is dialled: no server is needed for the refusal.
        var (exit, output) = await RunRoleAsync("proxy", ["--set", "Proxy:Routing:Kind=Nats", "--set", "Proxy:Routing:Nats:Url=nats://127.0.0.1:1", .. fleetKey]);

        AssertRefused(exit, output, "Proxy:Routing:Nats:FleetKeyPath", problem switch { "unset" => "proxy fleet-key", "missing" => "does not exist", _ => "chmod 600" });
    }

    [Fact]
    public async Task Host_run_without_TLS_or_Host_Insecure_is_refused_naming_the_setting()
    {
        var result = await CliRun.RunAsync(_directory.FullName, "host", "run", "--db", HostDb, "--keys", HostKeys, "--port", "0");

        AssertRefused(result.ExitCode, result.Output, "Host:Tls:CertificatePath", "Host:Insecure = true");
    }

    private static void AssertRefused(int exit, string output, string setting, string value)
    {
        Assert.True(exit == 2, $"exit {exit}, output:\n{output}");
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var line = Assert.Single(lines);
        Assert.Contains(setting, line, StringComparison.Ordinal);
        Assert.Contains(value, line, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
    }

    private string TerminalKeys => Path.Combine(_directory.FullName, "terminal-keys");

    private string HostKeys => Path.Combine(_directory.FullName, "host-keys");

    private string HostDb => Path.Combine(_directory.FullName, "host.db");

    /// <summary>Makes the role's key store with one key in it (mode 0600, directory 0700) and returns the key file.</summary>
    private async Task<string> PrepareKeysAsync(string role)
    {
        if (role == "host")
        {
            var added = await CliRun.RunAsync(_directory.FullName, "host", "atms", "add", "--db", HostDb, "--keys", HostKeys, "--atm", "ATM00001", "--export-to", TerminalKeys);
            Assert.True(added.ExitCode == 0, added.Output);
            return Path.Combine(HostKeys, "pvk.key"); // loaded at start (the ATMs' keys only when they sign on)
        }

        var generated = await CliRun.RunAsync(_directory.FullName, "keys", "generate", "--store", TerminalKeys, "--name", "tmk", "--role", "tmk");
        Assert.True(generated.ExitCode == 0, generated.Output);
        return Path.Combine(TerminalKeys, "tmk.key");
    }

    private Task<(int ExitCode, string Output)> RunRoleAsync(string role, params string[] extra)
    {
        string[] args = role switch
        {
            "host" => ["host", "run", "--db", HostDb, "--keys", HostKeys, "--set", "Host:Insecure=true", .. (extra.Contains("--port") ? Array.Empty<string>() : ["--port", "0"])],
            // The port checks come after the ATM port's identity settings; a lab proxy without the ATM CA says so explicitly.
            "proxy" => ["proxy", "--phone-port", "0", "--set", "Proxy:Atm:Insecure=true", "--set", "Proxy:Phone:Insecure=true", .. (extra.Contains("--atm-port") ? Array.Empty<string>() : ["--atm-port", "0"])],
            "terminal" => ["terminal", "--config", TerminalConfig()],
            "phone" => ["phone", "status"],
            "keys" => ["keys", "check", "--store", TerminalKeys, "--name", "tmk"],
            _ => throw new ArgumentOutOfRangeException(nameof(role), role, null),
        };

        // The terminal's own --config comes first; a later --config (the broken file) replaces it.
        if (role == "terminal" && extra.Length > 0 && extra[0] == "--config")
        {
            args = ["terminal"];
        }

        return CliRun.RunAsync(_directory.FullName, [.. args, .. extra]);
    }

    private string TerminalConfig()
    {
        if (!File.Exists(Path.Combine(TerminalKeys, "tmk.key")) && !Directory.Exists(TerminalKeys))
        {
            Directory.CreateDirectory(TerminalKeys, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        // Port 9 (discard) is never dialled: every refusal happens before the terminal connects.
        return TerminalProcess.WriteConfig(Path.Combine(_directory.FullName, "terminal"), "ATM00001", 9, 9, TerminalKeys, TimeSpan.Zero, TimeSpan.FromSeconds(5));
    }
}
