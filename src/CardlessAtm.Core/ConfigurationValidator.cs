using Microsoft.Extensions.Options;

namespace CardlessAtm;

/// <summary>
/// The one glue between a validator whose rules throw <see cref="ConfigurationException"/> and the options pattern:
/// <see cref="Validate"/> runs <see cref="Check"/> and turns the first bad setting into
/// <c>ValidateOptionsResult.Fail("&lt;setting&gt;: &lt;problem&gt;")</c>, so <c>ValidateOnStart</c> and a code path built
/// without DI (which calls the rules directly and lets the exception reach the CLI's exit-2 mapping) report the same text.
/// </summary>
/// <typeparam name="TOptions">The options checked.</typeparam>
public abstract class ConfigurationValidator<TOptions> : IValidateOptions<TOptions>
    where TOptions : class
{
    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, TOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        try
        {
            Check(options);
            return ValidateOptionsResult.Success;
        }
        catch (ConfigurationException e)
        {
            return ValidateOptionsResult.Fail($"{e.Setting}: {e.Problem}");
        }
    }

    /// <summary>Checks <paramref name="options"/> (never null); throws naming the first bad setting.</summary>
    /// <exception cref="ConfigurationException">A setting is invalid; <see cref="ConfigurationException.Setting"/> is its full path.</exception>
    protected abstract void Check(TOptions options);
}
