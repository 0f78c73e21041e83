using Microsoft.Extensions.Logging;

namespace CardlessAtm.Proxy.Routing;

/// <summary>
/// The NATS client's own log lines, passed on with the NATS password and token replaced and without stack traces, and
/// none at all until the first connect succeeded: a failed start-up is reported once, in the proxy's one line naming
/// <c>Proxy:Routing:Nats:Url</c>, not as the client's multi-line error before it.
/// </summary>
internal sealed class NatsClientLogs(ILoggerFactory inner, NatsRoutingOptions options) : ILoggerFactory
{
    private volatile bool _connected;

    /// <summary>From now on the client's lines are passed on (reconnects, slow consumers, …).</summary>
    public void Connected() => _connected = true;

    public ILogger CreateLogger(string categoryName) => new Logger(inner.CreateLogger(categoryName), this);

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    public void Dispose()
    {
        // The proxy's logger factory is the caller's.
    }

    private sealed class Logger(ILogger inner, NatsClientLogs owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => owner._connected && inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var text = formatter(state, exception) + (exception is null ? string.Empty : $" ({exception.GetType().Name}: {exception.Message})");
            inner.Log(logLevel, eventId, "{NatsClient}", owner.Redact(text));
        }
    }

    private string Redact(string text) => options.Redact(text);
}
