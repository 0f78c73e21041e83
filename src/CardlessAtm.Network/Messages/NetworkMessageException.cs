using System.Globalization;

namespace CardlessAtm.Network;

/// <summary>What is wrong with a field of a network message.</summary>
public enum NetworkFieldProblem
{
    /// <summary>The message type does not carry this kind of message.</summary>
    WrongMessageType,

    /// <summary>A required field is absent.</summary>
    Missing,

    /// <summary>The field is present but its value does not fit the network's contract.</summary>
    Malformed,
}

/// <summary>
/// A message does not fit the network's contract for its type: it names the field, its meaning and what is wrong.
/// The text never holds a field's value, so it can go to a log or a journal as it is.
/// </summary>
public sealed class NetworkMessageException : FormatException
{
    /// <summary>Creates the error.</summary>
    /// <param name="fieldNumber">The field (0 = MTI).</param>
    /// <param name="fieldName">What the field means, e.g. "STAN".</param>
    /// <param name="problem">What is wrong.</param>
    /// <param name="detail">A short explanation that holds no field value.</param>
    public NetworkMessageException(int fieldNumber, string fieldName, NetworkFieldProblem problem, string detail)
        : base(string.Create(CultureInfo.InvariantCulture, $"{(fieldNumber == 0 ? "MTI" : $"Field {fieldNumber}")} ({fieldName}): {problem}: {detail}"))
    {
        FieldNumber = fieldNumber;
        FieldName = fieldName;
        Problem = problem;
    }

    /// <summary>The field (0 = MTI).</summary>
    public int FieldNumber { get; }

    /// <summary>What the field means.</summary>
    public string FieldName { get; }

    /// <summary>What is wrong.</summary>
    public NetworkFieldProblem Problem { get; }
}
