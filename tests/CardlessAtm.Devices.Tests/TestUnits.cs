using CardlessAtm.Devices.Dispenser;

namespace CardlessAtm.Devices.Tests;

internal static class TestUnits
{
    public static Money Eur(long major) => Money.FromMajor(major, "EUR");

    public static CashUnit Unit(string id, int position, long denominationEur, int count, string currency = "EUR", int low = 5) =>
        new(id, position, Money.FromMajor(denominationEur, currency), count, count, low, 2000, CashUnitCounters.None);

    /// <summary>10/20/50/100 EUR with the given counts at positions 1–4.</summary>
    public static List<CashUnit> Standard(int tens = 100, int twenties = 100, int fifties = 100, int hundreds = 100) =>
    [
        Unit("CASS1", 1, 10, tens),
        Unit("CASS2", 2, 20, twenties),
        Unit("CASS3", 3, 50, fifties),
        Unit("CASS4", 4, 100, hundreds),
    ];
}
