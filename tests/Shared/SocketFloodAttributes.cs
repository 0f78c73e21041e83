using CardlessAtm.Lab;

namespace CardlessAtm.Tests.Shared;

/// <summary>A fact that needs <c>sockets</c> sockets' worth of file descriptors: skipped, saying why, when the hard limit is lower.</summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class SocketFloodFactAttribute : FactAttribute
{
    public SocketFloodFactAttribute(int sockets)
    {
        if (FileDescriptors.WhyNot(sockets) is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>A theory that needs <c>sockets</c> sockets' worth of file descriptors: skipped, saying why, when the hard limit is lower.</summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class SocketFloodTheoryAttribute : TheoryAttribute
{
    public SocketFloodTheoryAttribute(int sockets)
    {
        if (FileDescriptors.WhyNot(sockets) is { } reason)
        {
            Skip = reason;
        }
    }
}
