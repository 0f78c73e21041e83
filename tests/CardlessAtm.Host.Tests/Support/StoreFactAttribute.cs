using Xunit.Abstractions;
using Xunit.Sdk;

namespace CardlessAtm.Host.Tests.Support;

/// <summary>
/// A store contract test: a plain fact, except that in a class that needs PostgreSQL (<see cref="IRequiresPostgres"/>)
/// it is skipped, saying why, when <see cref="PostgresTestServer.VariableName"/> is unset — unless <c>CI=true</c>,
/// where it runs and fails (as the panel's browser tests do for a missing Chromium). The contract tests are written
/// once in a base class; which engine, and so whether a skip applies, is the concrete class's business.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
[XunitTestCaseDiscoverer("CardlessAtm.Host.Tests.Support.StoreFactDiscoverer", "CardlessAtm.Host.Tests")]
public sealed class StoreFactAttribute : FactAttribute
{
}

/// <summary>Marks a test class whose tests need the real PostgreSQL server of <see cref="PostgresTestServer"/>.</summary>
public interface IRequiresPostgres
{
}

/// <summary>Finds <see cref="StoreFactAttribute"/> tests as <see cref="StoreTestCase"/>s.</summary>
public sealed class StoreFactDiscoverer(IMessageSink diagnosticMessageSink) : FactDiscoverer(diagnosticMessageSink)
{
    /// <inheritdoc />
    protected override IXunitTestCase CreateTestCase(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute) =>
        new StoreTestCase(DiagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod);
}

/// <summary>A fact whose skip reason depends on the concrete test class (worked out again after deserialisation).</summary>
public sealed class StoreTestCase : XunitTestCase
{
    /// <summary>For the deserialiser.</summary>
    [Obsolete("Called by the de-serializer; should only be called by deriving classes for de-serialization purposes")]
    public StoreTestCase()
    {
    }

    /// <summary>Creates the test case.</summary>
    public StoreTestCase(IMessageSink sink, TestMethodDisplay display, TestMethodDisplayOptions options, ITestMethod testMethod)
        : base(sink, display, options, testMethod)
    {
    }

    /// <inheritdoc />
    protected override string GetSkipReason(IAttributeInfo factAttribute)
    {
        var reason = base.GetSkipReason(factAttribute);
        if (reason is null && typeof(IRequiresPostgres).IsAssignableFrom(TestMethod.TestClass.Class.ToRuntimeType()))
        {
            reason = PostgresTestServer.SkipReason!;
        }

        return reason!;
    }
}
