using System.Globalization;
using System.Text;

namespace CardlessAtm.Terminal.Texts;

/// <summary>
/// Every customer text of one language, keyed by <see cref="CustomerTextId"/>. A template names its values in
/// braces (<c>{amount}</c>); a translation keeps the same names and may reorder them. To add a language, add a
/// template table like <c>GermanCustomerTexts</c> and one line for it in this class's language table; the
/// catalogue tests then check it has every id with the same placeholders as English.
/// </summary>
public sealed class CustomerTextCatalogue
{
    /// <summary>The language used when <c>Terminal:Language</c> is not set.</summary>
    public const string DefaultLanguage = "en";

    private static readonly Dictionary<string, CustomerTextCatalogue> ByLanguage = new(StringComparer.Ordinal)
    {
        ["en"] = new("en", EnglishCustomerTexts.Templates),
        ["de"] = new("de", GermanCustomerTexts.Templates),
    };

    private readonly IReadOnlyDictionary<CustomerTextId, string> _templates;

    private CustomerTextCatalogue(string language, IReadOnlyDictionary<CustomerTextId, string> templates)
    {
        var missing = Enum.GetValues<CustomerTextId>().Where(id => !templates.ContainsKey(id)).ToList();
        if (missing.Count > 0)
        {
            throw new InvalidOperationException($"The '{language}' customer texts lack {string.Join(", ", missing)}.");
        }

        Language = language;
        _templates = templates;
    }

    /// <summary>The languages there are texts for (ISO 639-1 codes, e.g. <c>en</c>, <c>de</c>), sorted.</summary>
    public static IReadOnlyList<string> Languages { get; } = [.. ByLanguage.Keys.Order(StringComparer.Ordinal)];

    /// <summary>The default language's catalogue.</summary>
    public static CustomerTextCatalogue English => ByLanguage[DefaultLanguage];

    /// <summary>This catalogue's language code.</summary>
    public string Language { get; }

    /// <summary>Whether there are texts for <paramref name="language"/> (exact, lower-case code).</summary>
    public static bool Has(string? language) => language is not null && ByLanguage.ContainsKey(language);

    /// <summary>The catalogue of <paramref name="language"/>.</summary>
    /// <exception cref="ArgumentException">There are no texts for that language; the message lists the ones there are.</exception>
    public static CustomerTextCatalogue For(string language)
    {
        ArgumentNullException.ThrowIfNull(language);
        return ByLanguage.TryGetValue(language, out var catalogue)
            ? catalogue
            : throw new ArgumentException($"There are no customer texts for language '{language}'; there are for {string.Join(", ", Languages)}.", nameof(language));
    }

    /// <summary>The unfilled template of <paramref name="id"/> (for translators and the catalogue tests).</summary>
    public string Template(CustomerTextId id) => _templates[id];

    /// <summary>The text of <paramref name="id"/> with its placeholders filled from <paramref name="values"/>.</summary>
    /// <exception cref="ArgumentException">A placeholder has no value, or a value matches no placeholder.</exception>
    public string Format(CustomerTextId id, params ReadOnlySpan<(string Name, object Value)> values)
    {
        var template = _templates[id];
        var text = new StringBuilder(template.Length + 16);
        var used = 0;
        var at = 0;
        while (at < template.Length)
        {
            var open = template.IndexOf('{', at);
            if (open < 0)
            {
                text.Append(template, at, template.Length - at);
                break;
            }

            var close = template.IndexOf('}', open);
            text.Append(template, at, open - at);
            var name = template[(open + 1)..close];
            text.Append(ValueOf(id, name, values));
            used++;
            at = close + 1;
        }

        if (used != values.Length)
        {
            throw new ArgumentException($"Customer text {id} ('{Language}') has {used} placeholders but {values.Length} values were given.", nameof(values));
        }

        return text.ToString();
    }

    /// <summary>The placeholder names in <paramref name="template"/>, e.g. <c>amount</c> for "Dispensing {amount}…".</summary>
    public static IReadOnlySet<string> PlaceholdersOf(string template)
    {
        ArgumentNullException.ThrowIfNull(template);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var open = template.IndexOf('{'); open >= 0; open = template.IndexOf('{', open + 1))
        {
            var close = template.IndexOf('}', open);
            if (close < 0)
            {
                break;
            }

            names.Add(template[(open + 1)..close]);
        }

        return names;
    }

    private string ValueOf(CustomerTextId id, string name, ReadOnlySpan<(string Name, object Value)> values)
    {
        foreach (var (candidate, value) in values)
        {
            if (candidate == name)
            {
                return Convert.ToString(value, CultureInfo.InvariantCulture) ?? string.Empty;
            }
        }

        throw new ArgumentException($"Customer text {id} ('{Language}') needs a value for {{{name}}}.", nameof(id));
    }
}
