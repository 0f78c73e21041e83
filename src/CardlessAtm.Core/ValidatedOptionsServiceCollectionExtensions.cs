using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace CardlessAtm;

/// <summary>The one registration shape for a role's settings: a validator, checked at host start, added once.</summary>
public static class ValidatedOptionsServiceCollectionExtensions
{
    /// <summary>
    /// Registers <typeparamref name="TValidator"/> for <typeparamref name="TOptions"/> (TryAdd) with <c>ValidateOnStart</c>
    /// and returns the options builder for the caller to bind; returns null when the validator is already registered, so a
    /// second call of the role's <c>Add…</c> method adds nothing (not even a second binding).
    /// </summary>
    /// <example><c>services.AddValidatedOptionsOnce&lt;TerminalOptions, TerminalOptionsValidator&gt;()?.Bind(configuration.GetSection("Terminal"));</c></example>
    public static OptionsBuilder<TOptions>? AddValidatedOptionsOnce<TOptions, TValidator>(this IServiceCollection services)
        where TOptions : class
        where TValidator : class, IValidateOptions<TOptions>
    {
        ArgumentNullException.ThrowIfNull(services);
        if (services.Any(d => d.ServiceType == typeof(IValidateOptions<TOptions>) && d.ImplementationType == typeof(TValidator)))
        {
            return null;
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TOptions>, TValidator>());
        return services.AddOptions<TOptions>().ValidateOnStart();
    }
}
