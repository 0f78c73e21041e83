namespace CardlessAtm.Devices.RaspberryPi.Doctor;

/// <summary>One thing the doctor looked at.</summary>
/// <param name="Ok">True when it is as the configured devices need it.</param>
/// <param name="Subject">What was checked: the board, a device node, a library, a boot setting.</param>
/// <param name="Detail">What was found, and for which setting.</param>
/// <param name="Fix">What to do about it (null when nothing is wrong).</param>
public sealed record DoctorFinding(bool Ok, string Subject, string Detail, string? Fix = null)
{
    /// <summary>One line: <c>ok</c>/<c>FAIL</c>, the subject, the detail and the fix.</summary>
    public override string ToString() => $"{(Ok ? "ok" : "FAIL"),-5} {Subject,-22} {Detail}{(Fix is null ? string.Empty : $" Fix: {Fix}")}";
}
