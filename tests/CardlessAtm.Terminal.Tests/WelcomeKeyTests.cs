using CardlessAtm.Devices.Display;
using CardlessAtm.Devices.Keypad;
using CardlessAtm.Terminal.Flow;

namespace CardlessAtm.Terminal.Tests;

/// <summary>A customer answers the screen they see: a key pressed the moment a screen appears is an answer to it.</summary>
public sealed class WelcomeKeyTests
{
    [Fact]
    public async Task Enter_pressed_the_moment_the_welcome_screen_appears_starts_the_withdrawal()
    {
        await using var lab = await Lab.StartAsync();
        await lab.WaitForStateAsync(TerminalState.Idle);

        // Leave the idle screen and come back to it, pressing ENTER as soon as the welcome screen is drawn
        // (from inside the display's ShowAsync: before the flow has announced Idle).
        var pressOnWelcome = 1;
        lab.Display.Shown += (_, screen) =>
        {
            if (IsWelcome(screen) && Interlocked.Exchange(ref pressOnWelcome, 0) == 1)
            {
                lab.Keypad.Press(AtmKey.Enter);
            }
        };
        lab.Keypad.Press(AtmKey.Enter);
        await lab.WaitForStateAsync(TerminalState.AmountEntry);
        lab.Keypad.Press(AtmKey.Cancel);
        using (var welcomeAgain = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            while (Volatile.Read(ref pressOnWelcome) == 1)
            {
                await Task.Delay(10, welcomeAgain.Token);
            }
        }

        await lab.WaitForStateAsync(TerminalState.AmountEntry);
        Assert.StartsWith("Amount (EUR): _", lab.Display.Current?.Lines[0], StringComparison.Ordinal);
    }

    private static bool IsWelcome(Screen screen) => screen.Lines.Count > 0 && screen.Lines[0].StartsWith("Press ENTER", StringComparison.Ordinal);
}
