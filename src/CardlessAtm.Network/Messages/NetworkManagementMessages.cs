using System.Diagnostics.CodeAnalysis;
using CardlessAtm.Iso8583;

namespace CardlessAtm.Network;

/// <summary>
/// An 0800 network management request from an ATM: sign-on, sign-off, echo test or key change (field 70, see
/// <see cref="NetworkManagementCodes"/>). A key change carries the ATM's key-change request data in field 120.
/// </summary>
/// <param name="Header">STAN and ATM id (7, 12, 13 when the terminal stamps them).</param>
/// <param name="Code">Field 70.</param>
public sealed record NetworkManagementRequest(MessageHeader Header, string Code)
{
    /// <summary>Field 120, the key-change request data (format owned by the security module), for a key change.</summary>
    public ReadOnlyMemory<byte> KeyChangeData { get; init; }

    /// <summary>A sign-on.</summary>
    /// <param name="header">The header.</param>
    /// <returns>The request.</returns>
    public static NetworkManagementRequest SignOn(MessageHeader header) => new(header, NetworkManagementCodes.SignOn);

    /// <summary>A sign-off.</summary>
    /// <param name="header">The header.</param>
    /// <returns>The request.</returns>
    public static NetworkManagementRequest SignOff(MessageHeader header) => new(header, NetworkManagementCodes.SignOff);

    /// <summary>An echo test.</summary>
    /// <param name="header">The header.</param>
    /// <returns>The request.</returns>
    public static NetworkManagementRequest Echo(MessageHeader header) => new(header, NetworkManagementCodes.EchoTest);

    /// <summary>A key change carrying the ATM's request data.</summary>
    /// <param name="header">The header.</param>
    /// <param name="keyChangeData">Field 120.</param>
    /// <returns>The request.</returns>
    public static NetworkManagementRequest KeyChange(MessageHeader header, ReadOnlyMemory<byte> keyChangeData) =>
        new(header, NetworkManagementCodes.KeyChange) { KeyChangeData = keyChangeData };

    /// <summary>The 0800.</summary>
    /// <returns>A new message of <see cref="NetworkSpec.Messages"/>.</returns>
    /// <exception cref="Iso8583FieldException">A value does not fit its field.</exception>
    public IsoMessage ToIso()
    {
        var message = NetworkSpec.NewMessage(Mti.NetworkManagementRequest);
        Header.Write(message);
        message.Set(NetworkFields.NetworkManagementCode, Code);
        if (!KeyChangeData.IsEmpty)
        {
            message.SetBytes(NetworkFields.KeyChangeData, KeyChangeData.Span);
        }

        return message;
    }

    /// <summary>Reads an 0800.</summary>
    /// <param name="message">The message.</param>
    /// <returns>The request.</returns>
    /// <exception cref="NetworkMessageException">Not an 0800, or 11, 41 or 70 is missing or malformed (or 120 on a key change).</exception>
    public static NetworkManagementRequest FromIso(IsoMessage message)
    {
        FieldReader.ExpectMti(message, "a network management request", Mti.NetworkManagementRequest);
        var header = MessageHeader.Read(message, transmissionRequired: false);
        var code = FieldReader.Digits(message, NetworkFields.NetworkManagementCode, "network management code", 3);
        var keyChange = code == NetworkManagementCodes.KeyChange
            ? FieldReader.Bytes(message, NetworkFields.KeyChangeData, "key-change data")
            : message.GetBytes(NetworkFields.KeyChangeData);
        return new NetworkManagementRequest(header, code) { KeyChangeData = keyChange ?? ReadOnlyMemory<byte>.Empty };
    }

    /// <summary>Reads an 0800 without throwing.</summary>
    /// <param name="message">The message.</param>
    /// <param name="request">The request, or null.</param>
    /// <param name="error">What is wrong, or null.</param>
    /// <returns>True when the message is a valid request.</returns>
    public static bool TryFromIso(IsoMessage message, [NotNullWhen(true)] out NetworkManagementRequest? request, [NotNullWhen(false)] out NetworkMessageException? error) =>
        FieldReader.Try(message, FromIso, out request, out error);
}

/// <summary>The host's 0810 to a network management request; to a key change it carries the new keys in field 120.</summary>
/// <param name="Stan">Field 11, echoed.</param>
/// <param name="Code">Field 70, echoed.</param>
/// <param name="ResponseCode">Field 39.</param>
public sealed record NetworkManagementResponse(Stan Stan, string Code, string ResponseCode)
{
    /// <summary>Field 41, echoed, when present; a field 41 that is present but not an ATM id is refused by FromIso.</summary>
    public AtmId? Atm { get; init; }

    /// <summary>Field 120, the host's key-change data (the new session keys, wrapped), on an approved key change.</summary>
    public ReadOnlyMemory<byte> KeyChangeData { get; init; }

    /// <summary>True when the host approved (39 = 00).</summary>
    public bool IsApproved => ResponseCode == ResponseCodes.Approved;

    /// <summary>The 0810 as a response to <paramref name="request"/>: its echoed fields, 39 and 120.</summary>
    /// <param name="request">The request it answers.</param>
    /// <returns>A new message.</returns>
    public IsoMessage ToIso(IsoMessage request)
    {
        var message = NetworkFields.CreateResponse(request, ResponseCode);
        WriteKeyChange(message);
        return message;
    }

    /// <summary>The 0810 on its own (the fields of this record only).</summary>
    /// <returns>A new message of <see cref="NetworkSpec.Messages"/>.</returns>
    public IsoMessage ToIso()
    {
        var message = NetworkSpec.NewMessage(Mti.NetworkManagementResponse);
        message.Set(NetworkFields.Stan, Stan.ToString());
        message.Set(NetworkFields.NetworkManagementCode, Code);
        message.Set(NetworkFields.ResponseCode, ResponseCode);
        MessageHeader.SetIfPresent(message, NetworkFields.TerminalId, Atm?.Value);
        WriteKeyChange(message);
        return message;
    }

    /// <summary>Reads an 0810.</summary>
    /// <param name="message">The message.</param>
    /// <returns>The response.</returns>
    /// <exception cref="NetworkMessageException">Not an 0810, or 11, 39 or 70 is missing or malformed.</exception>
    public static NetworkManagementResponse FromIso(IsoMessage message)
    {
        FieldReader.ExpectMti(message, "a network management response", Mti.NetworkManagementResponse);
        return new NetworkManagementResponse(
            FieldReader.Stan(message),
            FieldReader.Digits(message, NetworkFields.NetworkManagementCode, "network management code", 3),
            FieldReader.Text(message, NetworkFields.ResponseCode, "response code"))
        {
            Atm = FieldReader.OptionalAtm(message),
            KeyChangeData = message.GetBytes(NetworkFields.KeyChangeData) ?? ReadOnlyMemory<byte>.Empty,
        };
    }

    /// <summary>Reads an 0810 without throwing.</summary>
    /// <param name="message">The message.</param>
    /// <param name="response">The response, or null.</param>
    /// <param name="error">What is wrong, or null.</param>
    /// <returns>True when the message is a valid response.</returns>
    public static bool TryFromIso(IsoMessage message, [NotNullWhen(true)] out NetworkManagementResponse? response, [NotNullWhen(false)] out NetworkMessageException? error) =>
        FieldReader.Try(message, FromIso, out response, out error);

    private void WriteKeyChange(IsoMessage message)
    {
        if (!KeyChangeData.IsEmpty)
        {
            message.SetBytes(NetworkFields.KeyChangeData, KeyChangeData.Span);
        }
    }
}
