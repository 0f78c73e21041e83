namespace CardlessAtm.Tests.Shared;

/// <summary>The NATS server (with JetStream) the fleet tests run against: <c>CARDLESS_TEST_NATS</c>, e.g. <c>nats://127.0.0.1:4222</c>.</summary>
internal static class NatsTestServer
{
    /// <summary>The environment variable with the server's URL.</summary>
    public const string VariableName = "CARDLESS_TEST_NATS";

    /// <summary>The server's URL, or null.</summary>
    public static string? ConfiguredUrl => Environment.GetEnvironmentVariable(VariableName) is { Length: > 0 } value ? value : null;

    /// <summary>Why the NATS tests are skipped here, or null when they run (the variable is set, or CI=true).</summary>
    public static string? SkipReason =>
        ConfiguredUrl is null && !string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase)
            ? $"{VariableName} is not set: no nats-server to test against (.ci/run starts one with JetStream and sets it; CI=true turns this skip into a failure)."
            : null;

    /// <summary>The server's URL; under CI=true without one, the test fails here.</summary>
    public static string Url => ConfiguredUrl
        ?? throw new InvalidOperationException($"{VariableName} is not set, and CI=true requires the NATS tests to run (.ci/run starts nats-server -js and sets it).");
}

/// <summary>A fact that runs against the real nats-server of <c>CARDLESS_TEST_NATS</c>: skipped without it, failed without it under CI=true.</summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class NatsFactAttribute : FactAttribute
{
    public NatsFactAttribute()
    {
        if (NatsTestServer.SkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}
