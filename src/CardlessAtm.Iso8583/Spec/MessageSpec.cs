using System.Collections.Frozen;
using System.Globalization;
using System.Text.Json;

namespace CardlessAtm.Iso8583.Spec;

/// <summary>
/// A message spec: how the MTI and bitmaps are written and the definition of every data element.
/// Immutable and thread-safe; load it once (from a JSON stream or file) and share it between all messages, packers and channels.
/// </summary>
public sealed class MessageSpec
{
    private readonly FieldDefinition?[] _fields;

    /// <summary>Creates a spec from its parts.</summary>
    /// <param name="name">The spec's name (shown in dumps).</param>
    /// <param name="mtiEncoding">ASCII, EBCDIC or BCD.</param>
    /// <param name="bitmapEncoding">Binary or hexadecimal bitmaps.</param>
    /// <param name="tertiaryBitmap">When true, bit 65 announces a tertiary bitmap and fields 130–192 may be defined.</param>
    /// <param name="fields">The data elements; each number once.</param>
    /// <exception cref="Iso8583SpecException">A setting is invalid or a field is defined twice.</exception>
    public MessageSpec(string name, FieldEncoding mtiEncoding, BitmapEncoding bitmapEncoding, bool tertiaryBitmap, IEnumerable<FieldDefinition> fields)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(fields);
        if (mtiEncoding is not (FieldEncoding.Ascii or FieldEncoding.Ebcdic or FieldEncoding.Bcd))
        {
            throw new Iso8583SpecException($"spec '{name}': the MTI is written in ASCII, EBCDIC or BCD, not {mtiEncoding}.");
        }

        _fields = new FieldDefinition?[193];
        foreach (var field in fields)
        {
            ArgumentNullException.ThrowIfNull(field);
            if (_fields[field.Number] is not null)
            {
                throw new Iso8583SpecException(string.Create(CultureInfo.InvariantCulture, $"spec '{name}': field {field.Number} is defined twice."));
            }

            if (field.Number > 128 && !tertiaryBitmap)
            {
                throw new Iso8583SpecException(string.Create(CultureInfo.InvariantCulture, $"spec '{name}': field {field.Number} needs \"tertiaryBitmap\": true."));
            }

            _fields[field.Number] = field;
        }

        Name = name;
        MtiEncoding = mtiEncoding;
        BitmapEncoding = bitmapEncoding;
        TertiaryBitmap = tertiaryBitmap;
        Fields = _fields.OfType<FieldDefinition>().ToArray();
        FieldsByNumber = Fields.ToFrozenDictionary(f => f.Number);
        IsWireIdentity = mtiEncoding == FieldEncoding.Ascii && Fields.All(f => f.Codec.IsIdentity);
    }

    /// <summary>The spec's name.</summary>
    public string Name { get; }

    /// <summary>How the MTI is written.</summary>
    public FieldEncoding MtiEncoding { get; }

    /// <summary>How the bitmaps are written.</summary>
    public BitmapEncoding BitmapEncoding { get; }

    /// <summary>Whether bit 65 announces a tertiary bitmap.</summary>
    public bool TertiaryBitmap { get; }

    /// <summary>Every defined data element, in field-number order.</summary>
    public IReadOnlyList<FieldDefinition> Fields { get; }

    /// <summary>The defined data elements by number.</summary>
    public IReadOnlyDictionary<int, FieldDefinition> FieldsByNumber { get; }

    /// <summary>True when every value is stored on the wire as it is held in memory (no EBCDIC/BCD/hex decoding).</summary>
    internal bool IsWireIdentity { get; }

    /// <summary>Wire bytes of the MTI.</summary>
    internal int MtiLength => MtiEncoding == FieldEncoding.Bcd ? 2 : 4;

    /// <summary>Wire bytes of one bitmap.</summary>
    internal int BitmapLength => BitmapEncoding == BitmapEncoding.Binary ? 8 : 16;

    /// <summary>Looks up a field; null when the spec does not define it.</summary>
    /// <param name="number">The field number.</param>
    /// <returns>The definition, or null.</returns>
    public FieldDefinition? Find(int number) => (uint)number < (uint)_fields.Length ? _fields[number] : null;

    /// <summary>Looks up a field that must exist.</summary>
    /// <param name="number">The field number.</param>
    /// <returns>The definition.</returns>
    /// <exception cref="Iso8583FieldException">The spec does not define it.</exception>
    public FieldDefinition Get(int number) =>
        Find(number) ?? throw new Iso8583FieldException(number, FieldErrorReason.UndefinedField, $"spec '{Name}' does not define this field.");

    /// <summary>Loads a spec from a JSON file (format: see docs/protocol/iso8583.md, "Spec file").</summary>
    /// <param name="path">The file.</param>
    /// <returns>The spec.</returns>
    /// <exception cref="Iso8583SpecException">The file is not a valid spec; the text names the setting.</exception>
    public static MessageSpec LoadFile(string path)
    {
        using var stream = File.OpenRead(path);
        return Load(stream);
    }

    /// <summary>Loads a spec from JSON text.</summary>
    /// <param name="json">The JSON.</param>
    /// <returns>The spec.</returns>
    /// <exception cref="Iso8583SpecException">The text is not a valid spec; the message names the setting.</exception>
    public static MessageSpec LoadJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        using var stream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(json), writable: false);
        return Load(stream);
    }

    /// <summary>Loads a spec from a JSON stream.</summary>
    /// <param name="json">The stream.</param>
    /// <returns>The spec.</returns>
    /// <exception cref="Iso8583SpecException">The content is not a valid spec; the message names the setting.</exception>
    public static MessageSpec Load(Stream json)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            return FromJson(doc.RootElement);
        }
        catch (JsonException ex)
        {
            throw new Iso8583SpecException($"spec JSON is malformed: {ex.Message}", ex);
        }
    }

    private static MessageSpec FromJson(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new Iso8583SpecException("spec JSON: the root must be an object.");
        }

        var name = OptionalString(root, "name", "spec") ?? "unnamed";
        var where = $"spec '{name}'";
        var mtiEncoding = ParseEnum<FieldEncoding>(OptionalString(root, "mtiEncoding", where) ?? "ascii", where, "mtiEncoding");
        var bitmapEncoding = ParseEnum<BitmapEncoding>(OptionalString(root, "bitmapEncoding", where) ?? "binary", where, "bitmapEncoding");
        var tertiary = root.TryGetProperty("tertiaryBitmap", out var t) && t.ValueKind == JsonValueKind.True;
        if (!root.TryGetProperty("fields", out var fieldsElement) || fieldsElement.ValueKind != JsonValueKind.Array)
        {
            throw new Iso8583SpecException($"{where}: \"fields\" must be an array.");
        }

        var fields = new List<FieldDefinition>();
        var index = 0;
        foreach (var f in fieldsElement.EnumerateArray())
        {
            fields.Add(FieldFromJson(f, $"{where} fields[{index++}]"));
        }

        return new MessageSpec(name, mtiEncoding, bitmapEncoding, tertiary, fields);
    }

    private static FieldDefinition FieldFromJson(JsonElement f, string where)
    {
        if (f.ValueKind != JsonValueKind.Object)
        {
            throw new Iso8583SpecException($"{where}: must be an object.");
        }

        if (!f.TryGetProperty("number", out var n) || !n.TryGetInt32(out var number))
        {
            throw new Iso8583SpecException($"{where}: \"number\" must be an integer.");
        }

        where = string.Create(CultureInfo.InvariantCulture, $"{where} (field {number})");
        var name = OptionalString(f, "name", where) ?? string.Create(CultureInfo.InvariantCulture, $"Field {number}");
        var type = OptionalString(f, "type", where) ?? throw new Iso8583SpecException($"{where}: \"type\" is required (n, a, an, ans, z or b).");
        var content = type switch
        {
            "n" => FieldContent.Numeric,
            "a" => FieldContent.Alpha,
            "an" => FieldContent.AlphaNumeric,
            "ans" => FieldContent.AlphaNumericSpecial,
            "z" => FieldContent.Track,
            "b" => FieldContent.Binary,
            _ => throw new Iso8583SpecException($"{where}: \"type\" must be n, a, an, ans, z or b, not '{type}'."),
        };
        if (!f.TryGetProperty("length", out var l) || !l.TryGetInt32(out var length))
        {
            throw new Iso8583SpecException($"{where}: \"length\" must be an integer.");
        }

        var prefixText = OptionalString(f, "prefix", where) ?? "fixed";
        var digits = prefixText switch
        {
            "fixed" => 0,
            "L" => 1,
            "LL" => 2,
            "LLL" => 3,
            "LLLL" => 4,
            _ => throw new Iso8583SpecException($"{where}: \"prefix\" must be fixed, L, LL, LLL or LLLL, not '{prefixText}'."),
        };
        var prefixEncoding = ParseEnum<FieldEncoding>(OptionalString(f, "prefixEncoding", where) ?? "ascii", where, "prefixEncoding");
        var encoding = ParseEnum<FieldEncoding>(OptionalString(f, "encoding", where) ?? (content == FieldContent.Binary ? "binary" : "ascii"), where, "encoding");
        var sensitivity = ParseEnum<FieldSensitivity>(OptionalString(f, "sensitivity", where) ?? "none", where, "sensitivity");
        var padding = digits != 0 ? Padding.None : content switch
        {
            FieldContent.Numeric => Padding.LeftZeros,
            FieldContent.Alpha or FieldContent.AlphaNumeric or FieldContent.AlphaNumericSpecial => Padding.RightSpaces,
            _ => Padding.None,
        };
        var paddingText = OptionalString(f, "padding", where);
        if (paddingText is not null)
        {
            padding = paddingText switch
            {
                "none" => Padding.None,
                _ when paddingText.Length == 6 && paddingText.StartsWith("left:", StringComparison.Ordinal) => new Padding(PaddingSide.Left, paddingText[5]),
                _ when paddingText.Length == 7 && paddingText.StartsWith("right:", StringComparison.Ordinal) => new Padding(PaddingSide.Right, paddingText[6]),
                _ => throw new Iso8583SpecException($"{where}: \"padding\" must be none, left:<char> or right:<char>, not '{paddingText}'."),
            };
        }

        return new FieldDefinition(number, name, content, length, new LengthPrefix(digits, digits == 0 ? default : prefixEncoding), encoding, padding, sensitivity);
    }

    private static string? OptionalString(JsonElement obj, string property, string where)
    {
        if (!obj.TryGetProperty(property, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : throw new Iso8583SpecException($"{where}: \"{property}\" must be a string.");
    }

    private static T ParseEnum<T>(string text, string where, string property)
        where T : struct, Enum =>
        text.Length > 0 && !char.IsDigit(text[0]) && Enum.TryParse<T>(text, ignoreCase: true, out var value) && Enum.IsDefined(value)
            ? value
            : throw new Iso8583SpecException($"{where}: \"{property}\" must be one of {string.Join(", ", Enum.GetNames<T>()).ToLowerInvariant()}, not '{text}'.");
}
