namespace CardlessAtm.Network;

/// <summary>Field 3 processing codes of the network.</summary>
public static class ProcessingCodes
{
    /// <summary>Cash withdrawal from the default account: <c>010000</c>.</summary>
    public const string CashWithdrawal = "010000";

    /// <summary>True for any cash-withdrawal processing code (<c>01xxxx</c>).</summary>
    /// <param name="processingCode">Field 3.</param>
    /// <returns>Whether it is a withdrawal.</returns>
    public static bool IsCashWithdrawal(string? processingCode) =>
        processingCode is not null && processingCode.StartsWith("01", StringComparison.Ordinal);
}
