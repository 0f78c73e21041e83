using CardlessAtm.Iso8583;
using CardlessAtm.Network;
using CardlessAtm.Phone.Scanning;
using CardlessAtm.Phone.Withdrawal;

namespace CardlessAtm.Phone.Tests;

public sealed class InterpretTests
{
    private static readonly ScannedSession Session = ScannedSession.FromText(Fixtures.Payload(5_000).Text);

    private static IsoMessage Request()
    {
        var request = new IsoMessage(NetworkSpec.Messages, "0200")
        {
            ProcessingCode = "010000",
            AmountMinor = 5_000,
            Stan = 17,
            TerminalId = "ATM00042",
            SessionPayload = Session.Text,
            CurrencyCode = 978,
        };
        return request;
    }

    [Fact]
    public void An_answer_for_another_amount_makes_the_outcome_unknown()
    {
        var response = Request().CreateResponse("00");
        response.AmountMinor = 9_000;

        var outcome = CardlessWithdrawalClient.Interpret(Request(), response, Session, 17);

        Assert.Equal(WithdrawalStatus.OutcomeUnknown, outcome.Status);
    }

    [Fact]
    public void More_dispensed_than_requested_makes_the_outcome_unknown()
    {
        var response = Request().CreateResponse("00");
        response.ReplacementAmountMinor = 6_000;

        Assert.Equal(WithdrawalStatus.OutcomeUnknown, CardlessWithdrawalClient.Interpret(Request(), response, Session, 17).Status);
    }

    [Fact]
    public void Approved_with_nothing_dispensed_is_reported_as_not_dispensed()
    {
        var response = Request().CreateResponse("00");
        response.ReplacementAmountMinor = 0;

        var outcome = CardlessWithdrawalClient.Interpret(Request(), response, Session, 17);

        Assert.Equal(WithdrawalStatus.Declined, outcome.Status);
        Assert.Contains("dispensed nothing", outcome.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_full_amount_in_field_95_is_a_plain_approval()
    {
        var response = Request().CreateResponse("00");
        response.ReplacementAmountMinor = 5_000;

        Assert.Equal(WithdrawalStatus.Approved, CardlessWithdrawalClient.Interpret(Request(), response, Session, 17).Status);
    }

    [Fact]
    public void An_answer_without_a_response_code_is_unknown()
    {
        var response = Request().CreateResponse();
        response.Remove(39);

        Assert.Equal(WithdrawalStatus.OutcomeUnknown, CardlessWithdrawalClient.Interpret(Request(), response, Session, 17).Status);
    }
}
