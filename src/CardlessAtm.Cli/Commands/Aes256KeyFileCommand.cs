using System.CommandLine;
using CardlessAtm.Security;

namespace CardlessAtm.Cli.Commands;

/// <summary>
/// A command that makes one AES-256 key file (mode 0600, its directory 0700) and prints its check value only: the
/// host's key-encryption key (<c>host keys kek</c>) and the proxy fleet's key (<c>proxy fleet-key</c>), each then
/// copied to every host or proxy and named by a setting.
/// </summary>
internal static class Aes256KeyFileCommand
{
    /// <summary>Creates the command.</summary>
    /// <param name="name">The command's name.</param>
    /// <param name="description">What the command is for.</param>
    /// <param name="outDescription">The <c>--out</c> option's help.</param>
    /// <param name="written">The line printed after writing (the file's full path and the key's KCV).</param>
    public static Command Create(string name, string description, string outDescription, Func<string, KeyCheckValue, string> written)
    {
        var output = new Option<FileInfo>("--out") { Description = outDescription, Required = true };
        var command = new Command(name, description) { output };
        command.SetAction(parse => CliHost.RunAsync(() =>
        {
            var file = parse.GetValue(output)!;
            if (!file.Name.EndsWith(".key", StringComparison.Ordinal) || file.Name.Length == ".key".Length)
            {
                throw new UsageException($"--out {file.FullName}: a key file's name ends in .key (e.g. {name}.key).");
            }

            var store = new FileKeyStore(file.DirectoryName!);
            using var key = SecretKey.Generate(KeyAlgorithm.Aes256);
            store.SaveKey(Path.GetFileNameWithoutExtension(file.Name), key, overwrite: false);
            Console.WriteLine(written(file.FullName, key.CheckValue));
            return Task.FromResult(0);
        }));
        return command;
    }
}
