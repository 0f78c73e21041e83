using System.ComponentModel.DataAnnotations;

namespace CardlessAtm.Devices.Dispenser;

/// <summary>Configuration of one cash unit (<c>Devices:Dispenser:CashUnits:N</c>).</summary>
public sealed class CashUnitOptions
{
    /// <summary>Unique id, e.g. <c>CASS1</c>.</summary>
    [Required]
    [RegularExpression("^[A-Za-z0-9_-]{1,16}$", ErrorMessage = "must be 1–16 letters, digits, '-' or '_'")]
    public string Id { get; set; } = string.Empty;

    /// <summary>The dispenser position (1-based).</summary>
    [Range(1, 16)]
    public int Position { get; set; }

    /// <summary>ISO 4217 code, e.g. EUR.</summary>
    [Required]
    public string Currency { get; set; } = string.Empty;

    /// <summary>Note value in major units as text, e.g. "20" or "20.00" (parsed exactly, never as a float).</summary>
    [Required]
    public string Denomination { get; set; } = string.Empty;

    /// <summary>Notes loaded (used the first time; afterwards the persisted counts win).</summary>
    [Range(0, 10_000)]
    public int Count { get; set; }

    /// <summary>At or below this count the unit is low.</summary>
    [Range(0, 10_000)]
    public int LowThreshold { get; set; } = 50;

    /// <summary>Capacity.</summary>
    [Range(1, 10_000)]
    public int HighThreshold { get; set; } = 2_000;
}
