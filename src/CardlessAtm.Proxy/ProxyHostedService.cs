using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CardlessAtm.Proxy;

/// <summary>Runs a <see cref="ProxyServer"/> for the lifetime of a Generic Host (<c>cardless-atm proxy</c>).</summary>
public sealed class ProxyHostedService : IHostedService, IAsyncDisposable
{
    private readonly ProxyOptions _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly TimeProvider _time;
    private readonly IMeterFactory? _meterFactory;
    private readonly SemaphoreSlim _starting = new(1, 1);
    private ProxyServer? _proxy;

    /// <summary>Creates the service; the proxy is created and started in <see cref="StartAsync"/>.</summary>
    /// <param name="options">The bound <c>Proxy</c> section.</param>
    /// <param name="loggerFactory">Logging.</param>
    /// <param name="services">Supplies the optional <see cref="TimeProvider"/> and <see cref="IMeterFactory"/>.</param>
    public ProxyHostedService(IOptions<ProxyOptions> options, ILoggerFactory loggerFactory, IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(services);
        _options = options.Value;
        _loggerFactory = loggerFactory;
        _time = services.GetService<TimeProvider>() ?? TimeProvider.System;
        _meterFactory = services.GetService<IMeterFactory>();
    }

    /// <summary>The running proxy (after <see cref="StartAsync"/>).</summary>
    /// <exception cref="InvalidOperationException">Not started.</exception>
    public ProxyServer Proxy => _proxy ?? throw new InvalidOperationException("The proxy has not been started.");

    /// <summary>
    /// Validates the settings, loads TLS certificates and starts both listeners, once; later calls return the same
    /// proxy. A command may call this before starting the host, to report a configuration error in its own words.
    /// </summary>
    /// <param name="cancellationToken">Unused.</param>
    /// <returns>The listening proxy.</returns>
    /// <exception cref="ConfigurationException">A setting is invalid, a certificate cannot be loaded or a port is in use.</exception>
    public async Task<ProxyServer> StartProxyAsync(CancellationToken cancellationToken = default)
    {
        await _starting.WaitAsync(cancellationToken);
        try
        {
            return _proxy ??= await ProxyServer.StartAsync(_options, _loggerFactory, _time, _meterFactory, cancellationToken);
        }
        finally
        {
            _starting.Release();
        }
    }

    /// <summary>Starts the proxy as <see cref="StartProxyAsync"/> does (nothing more if it is already running).</summary>
    /// <param name="cancellationToken">Unused.</param>
    /// <returns>A task that completes once listening.</returns>
    /// <exception cref="ConfigurationException">A setting is invalid, a certificate cannot be loaded or a port is in use.</exception>
    public Task StartAsync(CancellationToken cancellationToken) => StartProxyAsync(cancellationToken);

    /// <summary>Stops the proxy (answers in flight are delivered first, until the host's shutdown timeout).</summary>
    /// <param name="cancellationToken">The host's shutdown deadline.</param>
    /// <returns>A task that completes once stopped.</returns>
    public Task StopAsync(CancellationToken cancellationToken) => _proxy?.StopAsync(cancellationToken) ?? Task.CompletedTask;

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_proxy is not null)
        {
            await _proxy.DisposeAsync();
        }

        _starting.Dispose();
    }
}

/// <summary>Registers the proxy with a Generic Host.</summary>
public static class ProxyServiceCollectionExtensions
{
    /// <summary>
    /// Adds the proxy as a hosted service, its settings bound from the <c>Proxy</c> section of
    /// <paramref name="configuration"/> (see docs/proxy.md) and validated when the host starts.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configuration">The configuration root (the <c>Proxy</c> section is read from it).</param>
    /// <param name="configure">Further changes after binding (e.g. in-process TLS options), or null.</param>
    /// <returns>The services.</returns>
    public static IServiceCollection AddProxy(this IServiceCollection services, IConfiguration configuration, Action<ProxyOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        var builder = services.AddValidatedOptionsOnce<ProxyOptions, ProxyOptionsValidator>();
        if (builder is null)
        {
            return services; // a second call adds nothing
        }

        builder.Bind(configuration.GetSection(ProxyOptions.SectionName));
        if (configure is not null)
        {
            builder.Configure(configure);
        }


        services.TryAddSingleton<ProxyHostedService>();
        services.AddHostedService(sp => sp.GetRequiredService<ProxyHostedService>());
        return services;
    }
}
