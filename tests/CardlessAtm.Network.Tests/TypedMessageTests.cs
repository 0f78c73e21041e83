using CardlessAtm.Iso8583;

namespace CardlessAtm.Network.Tests;

public class TypedMessageTests
{
    private static readonly AtmId Atm = AtmId.Parse("ATM00001");
    private static readonly MessageHeader Header = new(new Stan(42), Atm, "1203131415", "141516", "1203");

    private static PhoneWithdrawalRequest Phone() =>
        new(Header with { LocalTime = null, LocalDate = null }, 5_000, 978, "CQ1.ATM00001.PAYLOAD") { ProtectedData = new byte[] { 1, 2, 3 } };

    private static AtmWithdrawalRequest Authorisation() =>
        AtmWithdrawalRequest.Forwarding(Phone(), Header with { Stan = new Stan(7) }, RetrievalReferenceNumber.Parse("000000000007"));

    private static ReversalAdvice Reversal() => new(Header, 5_000, new OriginalDataElements(Mti.FinancialRequest, 7, "1203131400"))
    {
        CurrencyCode = 978,
        RetrievalReference = RetrievalReferenceNumber.Parse("000000000007"),
        ReasonCode = ReversalReasons.PartialDispense,
        DispensedMinor = 2_000,
    };

    [Fact]
    public void Phone_withdrawal_round_trips_through_the_wire()
    {
        var request = Phone();
        var wire = request.ToIso();
        Assert.Same(NetworkSpec.Messages, wire.Spec);
        Assert.Equal(Mti.FinancialRequest, wire.Mti);

        var back = PhoneWithdrawalRequest.FromIso(NetworkSpec.Unpack(wire.Pack()));

        Assert.Equal(request.Header, back.Header);
        Assert.Equal(request.AmountMinor, back.AmountMinor);
        Assert.Equal(request.CurrencyCode, back.CurrencyCode);
        Assert.Equal(request.SessionPayload, back.SessionPayload);
        Assert.Equal(ProcessingCodes.CashWithdrawal, back.ProcessingCode);
        Assert.Equal(request.ProtectedData.ToArray(), back.ProtectedData.ToArray());
    }

    [Fact]
    public void The_binding_is_the_fields_exactly_as_they_go_on_the_wire()
    {
        var request = Phone();
        var wire = request.ToIso();

        var binding = request.Binding;

        Assert.Equal(wire.GetString(NetworkFields.ProcessingCode), binding.ProcessingCode);
        Assert.Equal(wire.GetString(NetworkFields.Amount), binding.Amount);
        Assert.Equal(wire.GetString(NetworkFields.TerminalId), binding.TerminalId);
        Assert.Equal(wire.GetString(NetworkFields.SessionPayload), binding.SessionPayload);
        Assert.Equal(wire.GetString(NetworkFields.Currency), binding.Currency);
        Assert.Equal(binding, PhoneWithdrawalRequest.FromIso(wire).Binding);
        Assert.Equal(binding, Authorisation().Binding);
    }

    [Fact]
    public void Atm_withdrawal_round_trips_and_keeps_the_phone_fields_under_the_atm_header()
    {
        var request = Authorisation();
        var back = AtmWithdrawalRequest.FromIso(NetworkSpec.Unpack(request.ToIso().Pack()));

        Assert.Equal(new Stan(7), back.Header.Stan);
        Assert.Equal("141516", back.Header.LocalTime);
        Assert.Equal(request.RetrievalReference, back.RetrievalReference);
        Assert.Equal(Phone().SessionPayload, back.Withdrawal.SessionPayload);
    }

    [Theory]
    [InlineData(NetworkFields.ProcessingCode)]
    [InlineData(NetworkFields.Amount)]
    [InlineData(NetworkFields.TransmissionDateTime)]
    [InlineData(NetworkFields.Stan)]
    [InlineData(NetworkFields.TerminalId)]
    [InlineData(NetworkFields.SessionPayload)]
    [InlineData(NetworkFields.Currency)]
    [InlineData(NetworkFields.RetrievalReferenceNumber)]
    [InlineData(NetworkFields.ProtectedData)]
    public void An_atm_withdrawal_without_a_required_field_names_it(int field)
    {
        var wire = Authorisation().ToIso();
        wire.Remove(field);

        var error = Assert.Throws<NetworkMessageException>(() => AtmWithdrawalRequest.FromIso(wire));

        Assert.Equal(field, error.FieldNumber);
        Assert.Equal(NetworkFieldProblem.Missing, error.Problem);
        Assert.Contains($"Field {field} ", error.Message, StringComparison.Ordinal);
        Assert.False(AtmWithdrawalRequest.TryFromIso(wire, out _, out var again));
        Assert.Equal(field, again.FieldNumber);
    }

    [Fact]
    public void A_malformed_field_is_named_without_its_value()
    {
        var wire = Phone().ToIso();
        wire.Set(NetworkFields.TerminalId, "atm-0001");

        var error = Assert.Throws<NetworkMessageException>(() => PhoneWithdrawalRequest.FromIso(wire));

        Assert.Equal(NetworkFields.TerminalId, error.FieldNumber);
        Assert.Equal(NetworkFieldProblem.Malformed, error.Problem);
        Assert.DoesNotContain("atm-0001", error.Message, StringComparison.Ordinal);
        Assert.Contains("terminal id", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_stan_of_zero_is_malformed()
    {
        var wire = Phone().ToIso();
        wire.Set(NetworkFields.Stan, "000000");

        var error = Assert.Throws<NetworkMessageException>(() => PhoneWithdrawalRequest.FromIso(wire));

        Assert.Equal((NetworkFields.Stan, NetworkFieldProblem.Malformed), (error.FieldNumber, error.Problem));
    }

    [Fact]
    public void The_wrong_message_type_is_refused()
    {
        var error = Assert.Throws<NetworkMessageException>(() => PhoneWithdrawalRequest.FromIso(Reversal().ToIso()));
        Assert.Equal((0, NetworkFieldProblem.WrongMessageType), (error.FieldNumber, error.Problem));
    }

    [Fact]
    public void Authorisation_response_echoes_the_request_and_round_trips()
    {
        var request = Authorisation().ToIso();
        var response = new AuthorisationResponse(new Stan(7), ResponseCodes.Approved) { AuthorizationCode = "A1B2C3" };

        var wire = response.ToIso(request);
        foreach (var field in NetworkFields.EchoedByResponses.Where(request.Has))
        {
            Assert.Equal(request.GetString(field), wire.GetString(field));
        }

        var back = AuthorisationResponse.FromIso(NetworkSpec.Unpack(wire.Pack()));
        Assert.True(back.IsApproved);
        Assert.Equal("A1B2C3", back.AuthorizationCode);
        Assert.Equal(Atm, back.Atm);
        Assert.Equal(5_000, back.AmountMinor);
        Assert.Equal(978, back.CurrencyCode);
        Assert.Equal(RetrievalReferenceNumber.Parse("000000000007"), back.RetrievalReference);
        Assert.Equal(back, AuthorisationResponse.FromIso(back.ToIso()));
    }

    [Fact]
    public void A_0210_without_39_is_refused_naming_field_39()
    {
        var wire = NetworkFields.CreateResponse(Authorisation().ToIso());

        var error = Assert.Throws<NetworkMessageException>(() => AuthorisationResponse.FromIso(wire));

        Assert.Equal((NetworkFields.ResponseCode, NetworkFieldProblem.Missing), (error.FieldNumber, error.Problem));
        Assert.Contains("response code", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Reversal_advice_round_trips_full_and_partial_and_as_a_repeat()
    {
        foreach (var advice in new[] { Reversal(), Reversal() with { DispensedMinor = null }, Reversal() with { IsRepeat = true } })
        {
            var wire = advice.ToIso();
            Assert.Equal(advice.IsRepeat ? Mti.ReversalAdviceRepeat : Mti.ReversalAdvice, wire.Mti);
            Assert.Equal(advice, ReversalAdvice.FromIso(NetworkSpec.Unpack(wire.Pack())));
        }
    }

    [Theory]
    [InlineData(NetworkFields.Amount)]
    [InlineData(NetworkFields.TransmissionDateTime)]
    [InlineData(NetworkFields.Stan)]
    [InlineData(NetworkFields.TerminalId)]
    [InlineData(NetworkFields.OriginalData)]
    public void A_reversal_advice_without_a_required_field_names_it(int field)
    {
        var wire = Reversal().ToIso();
        wire.Remove(field);

        var error = Assert.Throws<NetworkMessageException>(() => ReversalAdvice.FromIso(wire));

        Assert.Equal((field, NetworkFieldProblem.Missing), (error.FieldNumber, error.Problem));
    }

    [Fact]
    public void A_malformed_field_95_is_named()
    {
        var wire = Reversal().ToIso();
        wire.Set(NetworkFields.ReplacementAmounts, new string('X', 42));

        var error = Assert.Throws<NetworkMessageException>(() => ReversalAdvice.FromIso(wire));

        Assert.Equal((NetworkFields.ReplacementAmounts, NetworkFieldProblem.Malformed), (error.FieldNumber, error.Problem));
    }

    [Fact]
    public void Reversal_response_round_trips_and_needs_39()
    {
        var advice = Reversal().ToIso();
        var wire = new ReversalAdviceResponse(Header.Stan, ResponseCodes.Approved).ToIso(advice);

        var back = ReversalAdviceResponse.FromIso(NetworkSpec.Unpack(wire.Pack()));
        Assert.Equal(new ReversalAdviceResponse(Header.Stan, ResponseCodes.Approved) { Atm = Atm }, back);
        Assert.Equal(back, ReversalAdviceResponse.FromIso(back.ToIso()));

        wire.Remove(NetworkFields.ResponseCode);
        Assert.Equal(NetworkFields.ResponseCode, Assert.Throws<NetworkMessageException>(() => ReversalAdviceResponse.FromIso(wire)).FieldNumber);
    }

    [Fact]
    public void Network_management_requests_round_trip()
    {
        var requests = new[]
        {
            NetworkManagementRequest.SignOn(Header),
            NetworkManagementRequest.SignOff(Header),
            NetworkManagementRequest.Echo(Header with { TransmissionDateTime = null, LocalTime = null, LocalDate = null }),
            NetworkManagementRequest.KeyChange(Header, new byte[] { 9, 8, 7 }),
        };

        foreach (var request in requests)
        {
            var back = NetworkManagementRequest.FromIso(NetworkSpec.Unpack(request.ToIso().Pack()));
            Assert.Equal((request.Header, request.Code), (back.Header, back.Code));
            Assert.Equal(request.KeyChangeData.ToArray(), back.KeyChangeData.ToArray());
        }
    }

    [Theory]
    [InlineData(NetworkFields.Stan)]
    [InlineData(NetworkFields.TerminalId)]
    [InlineData(NetworkFields.NetworkManagementCode)]
    [InlineData(NetworkFields.KeyChangeData)]
    public void A_key_change_without_a_required_field_names_it(int field)
    {
        var wire = NetworkManagementRequest.KeyChange(Header, new byte[] { 1 }).ToIso();
        wire.Remove(field);

        var error = Assert.Throws<NetworkMessageException>(() => NetworkManagementRequest.FromIso(wire));

        Assert.Equal((field, NetworkFieldProblem.Missing), (error.FieldNumber, error.Problem));
    }

    [Fact]
    public void Network_management_response_round_trips_with_its_keys()
    {
        var request = NetworkManagementRequest.KeyChange(Header, new byte[] { 1 }).ToIso();
        var response = new NetworkManagementResponse(Header.Stan, NetworkManagementCodes.KeyChange, ResponseCodes.Approved) { KeyChangeData = new byte[] { 5, 6 } };

        var back = NetworkManagementResponse.FromIso(NetworkSpec.Unpack(response.ToIso(request).Pack()));

        Assert.True(back.IsApproved);
        Assert.Equal((Header.Stan, NetworkManagementCodes.KeyChange, Atm), (back.Stan, back.Code, back.Atm));
        Assert.Equal(new byte[] { 5, 6 }, back.KeyChangeData.ToArray());

        var unanswered = NetworkFields.CreateResponse(request);
        Assert.Equal(NetworkFields.ResponseCode, Assert.Throws<NetworkMessageException>(() => NetworkManagementResponse.FromIso(unanswered)).FieldNumber);
    }

    /// <summary>
    /// A response's field 41 is either absent or this network's ATM id: one that is present but malformed (lower case, a
    /// space, a symbol) is refused naming field 41, not read as "not echoed" (null), which a caller checking
    /// <c>response.Atm is { } a &amp;&amp; a != mine</c> would let through as an answer for no ATM in particular.
    /// </summary>
    [Theory]
    [InlineData("atm00001")]
    [InlineData("ATM 0001")]
    [InlineData("ATM-0001")]
    public void A_response_whose_field_41_is_not_an_ATM_id_is_refused_naming_field_41(string terminal)
    {
        var authorisation = new AuthorisationResponse(new Stan(7), ResponseCodes.Approved).ToIso(Authorisation().ToIso());
        var reversal = new ReversalAdviceResponse(Header.Stan, ResponseCodes.Approved).ToIso(Reversal().ToIso());
        var management = new NetworkManagementResponse(Header.Stan, NetworkManagementCodes.SignOn, ResponseCodes.Approved).ToIso(NetworkManagementRequest.SignOn(Header).ToIso());
        foreach (var wire in new[] { authorisation, reversal, management })
        {
            wire.TerminalId = terminal;
        }

        var errors = new NetworkMessageException?[]
        {
            AuthorisationResponse.TryFromIso(authorisation, out _, out var a) ? null : a,
            ReversalAdviceResponse.TryFromIso(reversal, out _, out var r) ? null : r,
            NetworkManagementResponse.TryFromIso(management, out _, out var m) ? null : m,
        };

        Assert.All(errors, e =>
        {
            Assert.NotNull(e);
            Assert.Equal((NetworkFields.TerminalId, NetworkFieldProblem.Malformed), (e.FieldNumber, e.Problem));
            Assert.DoesNotContain(terminal, e.Message, StringComparison.Ordinal);
        });
    }

    [Theory]
    [InlineData("1399999999")]
    [InlineData("1232120000")]
    [InlineData("0101250000")]
    [InlineData("0101126000")]
    public void A_request_whose_field_7_is_not_a_date_and_time_is_refused_naming_field_7(string transmission)
    {
        var phone = Phone().ToIso();
        var authorisation = Authorisation().ToIso();
        var reversal = Reversal().ToIso();
        foreach (var wire in new[] { phone, authorisation, reversal })
        {
            wire.Set(NetworkFields.TransmissionDateTime, transmission);
        }

        var errors = new NetworkMessageException?[]
        {
            PhoneWithdrawalRequest.TryFromIso(phone, out _, out var p) ? null : p,
            AtmWithdrawalRequest.TryFromIso(authorisation, out _, out var a) ? null : a,
            ReversalAdvice.TryFromIso(reversal, out _, out var r) ? null : r,
        };

        Assert.All(errors, e =>
        {
            Assert.NotNull(e);
            Assert.Equal((NetworkFields.TransmissionDateTime, NetworkFieldProblem.Malformed), (e.FieldNumber, e.Problem));
        });
    }

    [Fact]
    public void A_29_February_field_7_is_a_date_and_time()
    {
        var wire = Authorisation().ToIso();
        wire.Set(NetworkFields.TransmissionDateTime, "0229235959");

        Assert.Equal("0229235959", AtmWithdrawalRequest.FromIso(wire).Header.TransmissionDateTime);
    }
}
