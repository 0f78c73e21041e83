namespace CardlessAtm.Devices.Lcdm2000.Protocol;

/// <summary>One dispense command of a plan.</summary>
/// <param name="Command">Upper, lower or combined dispense.</param>
/// <param name="Upper">Notes asked of the upper cassette (position 1).</param>
/// <param name="Lower">Notes asked of the lower cassette (position 2).</param>
public readonly record struct Lcdm2000DispenseStep(Lcdm2000Command Command, int Upper, int Lower)
{
    /// <summary>Notes asked by this command.</summary>
    public int Total => Upper + Lower;

    /// <summary>The command's data bytes (two ASCII digits per cassette used; none for a test dispense).</summary>
    public byte[] Data()
    {
        if (Command is Lcdm2000Command.UpperTestDispense or Lcdm2000Command.LowerTestDispense)
        {
            return [];
        }

        if (Command == Lcdm2000Command.UpperAndLowerDispense)
        {
            var both = new byte[4];
            Lcdm2000Frame.WriteCount(both, Upper);
            Lcdm2000Frame.WriteCount(both.AsSpan(2), Lower);
            return both;
        }

        var one = new byte[2];
        Lcdm2000Frame.WriteCount(one, Command == Lcdm2000Command.UpperDispense ? Upper : Lower);
        return one;
    }
}

/// <summary>Splits a dispense into device commands that each stay within the per-command note limit.</summary>
public static class Lcdm2000DispensePlan
{
    /// <summary>
    /// The commands for <paramref name="upper"/> + <paramref name="lower"/> notes: as few as the limit
    /// allows, using the combined command while both cassettes still owe notes (if enabled).
    /// </summary>
    public static IReadOnlyList<Lcdm2000DispenseStep> Split(int upper, int lower, int maxPerCommand, bool combined)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(upper);
        ArgumentOutOfRangeException.ThrowIfNegative(lower);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPerCommand, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxPerCommand, Lcdm2000Frame.MaxNotesPerCommand);
        var steps = new List<Lcdm2000DispenseStep>();
        while (upper > 0 || lower > 0)
        {
            var u = Math.Min(upper, maxPerCommand);
            var l = Math.Min(lower, maxPerCommand);
            if (combined && u > 0 && l > 0)
            {
                steps.Add(new(Lcdm2000Command.UpperAndLowerDispense, u, l));
            }
            else if (u > 0)
            {
                steps.Add(new(Lcdm2000Command.UpperDispense, u, 0));
                l = 0;
            }
            else
            {
                steps.Add(new(Lcdm2000Command.LowerDispense, 0, l));
            }

            upper -= u;
            lower -= l;
        }

        return steps;
    }
}
