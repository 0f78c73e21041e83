using CardlessAtm.Devices.Keypad;
using CardlessAtm.Devices.RaspberryPi.Keypad;
using CardlessAtm.FirmwareSim.Gpio;

namespace CardlessAtm.Devices.RaspberryPi.Tests;

/// <summary>
/// The real KeyMatrix scanner (its own thread, as on the Pi) on the virtual board's key matrix.
/// Debounce runs on the board's fake clock: the test waits only for the scanner to have looked
/// (a synchronisation, not a timing assertion) and then moves the clock.
/// </summary>
public class MatrixKeypadTests
{
    private static readonly TimeSpan ScanTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Debounce = TimeSpan.FromMilliseconds(25);

    [Fact]
    public async Task A_key_bouncing_20_times_in_5_ms_gives_one_press()
    {
        using var rig = new Rig();
        var (keypad, matrix) = Open(rig);
        using (keypad)
        {
            matrix.Bounce(0, 0, toggles: 20, TimeSpan.FromMilliseconds(5), finallyHeld: true, ScanTimeout);
            rig.Clock.Advance(Debounce);

            var press = await keypad.ReadKeyAsync(default);
            Assert.Equal(AtmKey.D1, press.Key);
            Assert.Equal(1, press.Digit);
            Assert.Equal(rig.Clock.GetUtcNow(), press.At);
            AssertNoPress(keypad);

            // Released with bounces too: a release is not a press.
            matrix.Bounce(0, 0, toggles: 20, TimeSpan.FromMilliseconds(5), finallyHeld: false, ScanTimeout);
            rig.Clock.Advance(Debounce);
            AssertNoPress(keypad);
        }
    }

    [Fact]
    public async Task A_held_key_does_not_repeat()
    {
        using var rig = new Rig();
        var (keypad, matrix) = Open(rig);
        using (keypad)
        {
            Press(rig, matrix, 1, 1);
            Assert.Equal(AtmKey.D5, (await keypad.ReadKeyAsync(default)).Key);
            for (var i = 0; i < 20; i++)
            {
                matrix.WaitForScan(ScanTimeout);
                rig.Clock.Advance(TimeSpan.FromMilliseconds(100));
            }

            AssertNoPress(keypad);
        }
    }

    [Fact]
    public void A_glitch_shorter_than_the_debounce_is_not_a_press()
    {
        using var rig = new Rig();
        var (keypad, matrix) = Open(rig);
        using (keypad)
        {
            matrix.Set(2, 2, held: true);
            matrix.WaitForScan(ScanTimeout);
            rig.Clock.Advance(TimeSpan.FromMilliseconds(3));
            matrix.Set(2, 2, held: false);
            matrix.WaitForScan(ScanTimeout);
            rig.Clock.Advance(TimeSpan.FromMilliseconds(100));
            AssertNoPress(keypad);
        }
    }

    [Fact]
    public async Task The_key_map_from_configuration_decides_the_key()
    {
        using var rig = new Rig();
        var options = Options();
        options.KeyMap = ["F1 F2 F3 F4", "1 2 3 Cancel", "4 5 6 Clear", "7 8 9 0"];
        var (keypad, matrix) = Open(rig, options);
        using (keypad)
        {
            Press(rig, matrix, 0, 3);
            Release(rig, matrix, 0, 3);
            Press(rig, matrix, 3, 3);
            Release(rig, matrix, 3, 3);
            Press(rig, matrix, 1, 3);
            Assert.Equal(AtmKey.F4, (await keypad.ReadKeyAsync(default)).Key);
            Assert.Equal(AtmKey.D0, (await keypad.ReadKeyAsync(default)).Key);
            Assert.Equal(AtmKey.Cancel, (await keypad.ReadKeyAsync(default)).Key);
        }
    }

    [Fact]
    public async Task While_one_key_is_held_a_second_key_is_ignored()
    {
        using var rig = new Rig();
        var (keypad, matrix) = Open(rig);
        using (keypad)
        {
            Press(rig, matrix, 0, 0);
            Press(rig, matrix, 0, 1);
            Assert.Equal(AtmKey.D1, (await keypad.ReadKeyAsync(default)).Key);
            AssertNoPress(keypad);

            Release(rig, matrix, 0, 1);
            Release(rig, matrix, 0, 0);
            Press(rig, matrix, 0, 1);
            Assert.Equal(AtmKey.D2, (await keypad.ReadKeyAsync(default)).Key);
        }
    }

    [Fact]
    public async Task A_key_pressed_as_the_last_one_is_lifted_counts_even_if_its_press_settles_first()
    {
        // Fast typing (or a scan thread delayed by a busy machine): 2's release and 1's press are seen in the same scan,
        // 1 first (column 0 is read before column 1), so 1's press settles before 2's release has. 2 is no longer down:
        // 1 must count. It used to be ignored as a second key held with 2, and "10" arrived as "0".
        using var rig = new Rig();
        var (keypad, matrix) = Open(rig);
        using (keypad)
        {
            Press(rig, matrix, 0, 1);
            Assert.Equal(AtmKey.D2, (await keypad.ReadKeyAsync(default)).Key);

            matrix.Set(0, 0, held: true);
            matrix.Set(0, 1, held: false);
            matrix.WaitForScan(ScanTimeout);
            rig.Clock.Advance(Debounce);

            using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(10)); // a lost key never comes
            Assert.Equal(AtmKey.D1, (await keypad.ReadKeyAsync(patience.Token)).Key);
            AssertNoPress(keypad);
        }
    }

    [Fact]
    public async Task Taps_typed_one_after_another_arrive_in_order()
    {
        using var rig = new Rig();
        var (keypad, matrix) = Open(rig);
        using (keypad)
        {
            // 1, 2, 0, Enter on the default layout.
            foreach (var (row, column) in new[] { (0, 0), (0, 1), (3, 1), (3, 3) })
            {
                matrix.Tap(row, column, TimeSpan.FromMilliseconds(80), ScanTimeout);
                rig.Clock.Advance(Debounce);
            }

            var keys = new List<AtmKey>();
            for (var i = 0; i < 4; i++)
            {
                keys.Add((await keypad.ReadKeyAsync(default)).Key);
            }

            Assert.Equal([AtmKey.D1, AtmKey.D2, AtmKey.D0, AtmKey.Enter], keys);
            AssertNoPress(keypad);
        }
    }

    [Fact]
    public void DiscardPending_drops_presses_made_before_the_screen()
    {
        using var rig = new Rig();
        var (keypad, matrix) = Open(rig);
        using (keypad)
        {
            Press(rig, matrix, 3, 3);
            Release(rig, matrix, 3, 3);
            keypad.DiscardPending();
            AssertNoPress(keypad);
        }
    }

    [Fact]
    public void A_position_without_a_key_gives_no_press()
    {
        using var rig = new Rig();
        var options = Options();
        options.KeyMap = ["1 2 3 -", "4 5 6 -", "7 8 9 -", "Cancel 0 Clear Enter"];
        var (keypad, matrix) = Open(rig, options);
        using (keypad)
        {
            Press(rig, matrix, 0, 3);
            AssertNoPress(keypad);
        }
    }

    [Theory]
    [InlineData(new[] { "1 2 3 F1", "4 5 6 F2", "7 8 9 F3", "Cancel 0 Clear Entr" }, "Devices:Keypad:Matrix:KeyMap:3", "'Entr' is not a key")]
    [InlineData(new[] { "1 2 3 F1", "4 5 6 F2", "7 8 9 F3" }, "Devices:Keypad:Matrix:KeyMap", "one string per row")]
    [InlineData(new[] { "1 2 3", "4 5 6 F2", "7 8 9 F3", "Cancel 0 Clear Enter" }, "Devices:Keypad:Matrix:KeyMap:0", "4 columns")]
    [InlineData(new[] { "1 2 3 F1", "4 5 6 F2", "7 8 9 F3", "Cancel 1 Clear Enter" }, "Devices:Keypad:Matrix:KeyMap:3", "already at row 1 column 1")]
    public void A_bad_key_map_names_the_row_and_the_problem(string[] keyMap, string setting, string problem)
    {
        var options = Options();
        options.KeyMap = keyMap;
        var error = Assert.Throws<ConfigurationException>(() => new MatrixKeypadOptionsValidator("Devices:Keypad:Matrix").ThrowIfInvalid(options));
        Assert.Equal(setting, error.Setting);
        Assert.Contains(problem, error.Message);
    }

    [Fact]
    public void The_key_map_builder_names_the_entry_by_its_property_and_knows_no_configuration_path()
    {
        var options = Options();
        options.KeyMap = ["1 2 3 F1", "4 5 6 F2", "7 8 9 F3", "Cancel 0 Clear Entr"];
        var error = Assert.Throws<MatrixKeyMapException>(() => MatrixKeyMap.Build(options));
        Assert.Equal("KeyMap:3", error.Property);
        Assert.StartsWith("column 4: 'Entr' is not a key", error.Problem, StringComparison.Ordinal);
        Assert.DoesNotContain("Devices", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_key_map_builder_returns_the_key_at_each_position_and_null_for_a_dash()
    {
        var options = Options();
        options.KeyMap = ["1 2 3 -", "4 5 6 -", "7 8 9 -", "Cancel 0 Clear Enter"];
        var map = MatrixKeyMap.Build(options);
        Assert.Equal(AtmKey.D1, map[0, 0]);
        Assert.Null(map[0, 3]);
        Assert.Equal(AtmKey.Enter, map[3, 3]);
    }

    [Fact]
    public void The_driver_built_without_configuration_names_the_options_type_not_a_configuration_path()
    {
        using var rig = new Rig();
        var options = Options();
        options.DebounceMilliseconds = 0;
        var error = Assert.Throws<ConfigurationException>(() => new MatrixKeypad(rig.Gpio, options, rig.Clock));
        Assert.Equal("MatrixKeypadOptions:DebounceMilliseconds", error.Setting);
        Assert.Null(rig.Board.ModeOf(5));
    }

    [Fact]
    public void A_pin_used_twice_is_refused()
    {
        var options = Options();
        options.ColumnPins = [12, 16, 20, 5];
        var error = Assert.Throws<ConfigurationException>(() => new MatrixKeypadOptionsValidator("Devices:Keypad:Matrix").ThrowIfInvalid(options));
        Assert.Equal("Devices:Keypad:Matrix:ColumnPins:3", error.Setting);
    }

    [Fact]
    public void Disposing_releases_the_pins()
    {
        using var rig = new Rig();
        var (keypad, _) = Open(rig);
        Assert.NotNull(rig.Board.ModeOf(5));
        keypad.Dispose();
        Assert.Null(rig.Board.ModeOf(5));
        Assert.Null(rig.Board.ModeOf(21));
    }

    private static MatrixKeypadOptions Options() => new() { DebounceMilliseconds = (int)Debounce.TotalMilliseconds, ScanIntervalMilliseconds = 1 };

    private static (MatrixKeypad Keypad, SimulatedKeyMatrix Matrix) Open(Rig rig, MatrixKeypadOptions? options = null)
    {
        options ??= Options();
        var matrix = rig.Board.AddKeyMatrix("Keypad", options.RowPins, options.ColumnPins);
        return (new MatrixKeypad(rig.Gpio, options, rig.Clock), matrix);
    }

    private static void Press(Rig rig, SimulatedKeyMatrix matrix, int row, int column) => Move(rig, matrix, row, column, held: true);

    private static void Release(Rig rig, SimulatedKeyMatrix matrix, int row, int column) => Move(rig, matrix, row, column, held: false);

    private static void Move(Rig rig, SimulatedKeyMatrix matrix, int row, int column, bool held)
    {
        matrix.Set(row, column, held);
        matrix.WaitForScan(ScanTimeout);
        rig.Clock.Advance(Debounce);
    }

    private static void AssertNoPress(MatrixKeypad keypad)
    {
        using var cancel = new CancellationTokenSource();
        var next = keypad.ReadKeyAsync(cancel.Token).AsTask();
        Assert.False(next.IsCompleted, next.IsCompletedSuccessfully ? $"unexpected press {next.Result.Key}" : "unexpected completion");
        cancel.Cancel();
    }
}
