using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace CardlessAtm.Cli.Hosting;

/// <summary>Where the meters go: nowhere (the default), the console, or an OpenTelemetry collector over OTLP.</summary>
internal enum TelemetryExporter
{
    /// <summary>No exporter: the meters are still there for <c>dotnet-counters</c>.</summary>
    None,

    /// <summary>OpenTelemetry's console exporter, on standard output.</summary>
    Console,

    /// <summary>OTLP to a collector (<c>Telemetry:Otlp:Endpoint</c>).</summary>
    Otlp,
}

/// <summary>The <c>Telemetry</c> section, read and checked before the role starts.</summary>
internal sealed record TelemetrySettings(TelemetryExporter Exporter, Uri? OtlpEndpoint, OtlpExportProtocol OtlpProtocol, TimeSpan ExportInterval)
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Telemetry";

    /// <summary>Every meter of the stack: <c>CardlessAtm.Terminal</c>, <c>CardlessAtm.Proxy</c>, <c>CardlessAtm.Host</c>, …</summary>
    public const string MeterPattern = "CardlessAtm.*";

    private static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Reads <c>Telemetry:Exporter</c> (None | Console | Otlp, default None), <c>Telemetry:ExportInterval</c> (default
    /// 00:00:15, 1 s to 1 h), <c>Telemetry:Otlp:Endpoint</c> (an absolute http/https URI; default the collector's
    /// <c>http://localhost:4317</c> for gRPC, <c>http://localhost:4318/v1/metrics</c> for HTTP) and
    /// <c>Telemetry:Otlp:Protocol</c> (Grpc | HttpProtobuf, default Grpc).
    /// </summary>
    /// <exception cref="ConfigurationException">A setting is not one of its allowed values.</exception>
    public static TelemetrySettings Read(IConfiguration configuration)
    {
        var section = configuration.GetSection(SectionName);
        var exporter = ParseEnum<TelemetryExporter>(section["Exporter"], $"{SectionName}:Exporter", TelemetryExporter.None);
        var protocol = ParseEnum<OtlpExportProtocol>(section["Otlp:Protocol"], $"{SectionName}:Otlp:Protocol", OtlpExportProtocol.Grpc);
        var interval = DefaultInterval;
        if (section["ExportInterval"] is { Length: > 0 } text)
        {
            if (!TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out interval) || interval < TimeSpan.FromSeconds(1) || interval > TimeSpan.FromHours(1))
            {
                throw new ConfigurationException($"{SectionName}:ExportInterval", $"'{text}' is not a time span from 00:00:01 to 01:00:00 (e.g. 00:00:15)");
            }
        }

        Uri? endpoint = null;
        if (section["Otlp:Endpoint"] is { Length: > 0 } uri)
        {
            if (!Uri.TryCreate(uri, UriKind.Absolute, out endpoint) || endpoint.Scheme is not ("http" or "https"))
            {
                throw new ConfigurationException($"{SectionName}:Otlp:Endpoint", $"'{uri}' is not an absolute http:// or https:// URI (e.g. http://collector:4317)");
            }

            // Set from code, the OTLP/HTTP exporter posts to the URI as given: complete the collector's path.
            if (protocol == OtlpExportProtocol.HttpProtobuf && endpoint.AbsolutePath is "/" or "")
            {
                endpoint = new Uri(endpoint, "/v1/metrics");
            }
        }

        return new TelemetrySettings(exporter, endpoint, protocol, interval);
    }

    /// <summary>Adds the OpenTelemetry metrics pipeline for <paramref name="role"/> when an exporter is chosen.</summary>
    public void AddTo(HostApplicationBuilder builder, string role)
    {
        if (Exporter == TelemetryExporter.None)
        {
            return;
        }

        var intervalMs = (int)ExportInterval.TotalMilliseconds;
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(serviceName: "cardless-atm." + role, serviceNamespace: "cardless-atm"))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(MeterPattern);
                if (Exporter == TelemetryExporter.Console)
                {
                    metrics.AddConsoleExporter((_, reader) => reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = intervalMs);
                    return;
                }

                metrics.AddOtlpExporter((exporter, reader) =>
                {
                    exporter.Protocol = OtlpProtocol;
                    if (OtlpEndpoint is not null)
                    {
                        exporter.Endpoint = OtlpEndpoint;
                    }

                    reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = intervalMs;
                });
            });
    }

    /// <summary>The line a role prints at start-up when it exports.</summary>
    public string? Describe() => Exporter switch
    {
        TelemetryExporter.Console => string.Create(CultureInfo.InvariantCulture, $"metrics: {MeterPattern} to the console every {ExportInterval.TotalSeconds:0.#} s"),
        TelemetryExporter.Otlp => string.Create(CultureInfo.InvariantCulture, $"metrics: {MeterPattern} over OTLP/{(OtlpProtocol == OtlpExportProtocol.Grpc ? "gRPC" : "HTTP")} to {OtlpEndpoint?.ToString() ?? "the default collector endpoint"} every {ExportInterval.TotalSeconds:0.#} s"),
        _ => null,
    };

    private static T ParseEnum<T>(string? text, string setting, T fallback)
        where T : struct, Enum
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return fallback;
        }

        if (Enum.TryParse<T>(text.Trim(), ignoreCase: true, out var value) && Enum.IsDefined(value) && !int.TryParse(text, out _))
        {
            return value;
        }

        throw new ConfigurationException(setting, $"'{text}' is not one of {string.Join(", ", Enum.GetNames<T>())}");
    }
}
