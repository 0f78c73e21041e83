namespace CardlessAtm.Phone.Credentials;

/// <summary>The customer's account id: checked and masked. The full id is a credential and never logged.</summary>
public static class AccountIds
{
    /// <summary>Most digits of an account id (it fills the PIN block's account field, as a PAN would).</summary>
    public const int MaxLength = 19;

    /// <summary>The id with every character but the last 4 replaced by <c>*</c>; fully masked when 4 or shorter.</summary>
    public static string Mask(string? accountId) =>
        accountId is null ? "-" : accountId.Length <= 4 ? new string('*', accountId.Length) : new string('*', accountId.Length - 4) + accountId[^4..];

    /// <summary>Checks that <paramref name="accountId"/> is 1 to 19 ASCII digits.</summary>
    /// <exception cref="PhoneInputException">It is not; the message never repeats the id.</exception>
    public static string Validate(string? accountId, string where = "account id")
    {
        if (string.IsNullOrEmpty(accountId))
        {
            throw new PhoneInputException(PhoneInputError.InvalidAccountId, where, "the account id is empty; it is 1 to 19 digits.");
        }

        if (accountId.Length > MaxLength)
        {
            throw new PhoneInputException(PhoneInputError.InvalidAccountId, where, $"the account id has {accountId.Length} characters; it is 1 to {MaxLength} digits.");
        }

        for (var i = 0; i < accountId.Length; i++)
        {
            if (!char.IsAsciiDigit(accountId[i]))
            {
                throw new PhoneInputException(PhoneInputError.InvalidAccountId, where, $"the account id holds only digits 0-9; the character at position {i + 1} is not one.");
            }
        }

        return accountId;
    }
}
