namespace CardlessAtm.Qr.Symbols;

/// <summary>An encoded QR code: its modules (no quiet zone), its version and error-correction level.</summary>
/// <param name="Modules">The module grid every renderer draws.</param>
/// <param name="Version">The QR version, 1 to 40 (side = 17 + 4 × version modules).</param>
/// <param name="ErrorCorrection">The error-correction level.</param>
public sealed record QrSymbol(ModuleMatrix Modules, int Version, QrErrorCorrection ErrorCorrection);

/// <summary>QR error-correction levels (share of codewords that may be lost).</summary>
public enum QrErrorCorrection
{
    /// <summary>About 7 %.</summary>
    L,

    /// <summary>About 15 % — what session payloads use.</summary>
    M,

    /// <summary>About 25 %.</summary>
    Q,

    /// <summary>About 30 %.</summary>
    H,
}
