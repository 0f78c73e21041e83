using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CardlessAtm.Devices.FaultCheck;
using CardlessAtm.Devices.Keypad;
using CardlessAtm.Devices.Status;
using CardlessAtm.Phone;
using CardlessAtm.Phone.Credentials;
using CardlessAtm.Terminal.Journal;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CardlessAtm.Panel;

/// <summary>
/// The front panel: an ASP.NET Core app (shared framework, no front-end build) serving one page and a small JSON API.
/// The page polls <c>/api/state</c> and reloads <c>/api/screen.png</c> when the screen changes.
/// </summary>
public sealed class PanelServer : IAsyncDisposable
{
    /// <summary>The header that carries <see cref="PanelOptions.Token"/>.</summary>
    public const string TokenHeader = "X-Panel-Token";

    /// <summary>The cookie the page keeps the token in after <c>/?token=…</c>.</summary>
    public const string TokenCookie = "panel-token";

    private const int JournalTail = 40;

    /// <summary>The reason code the page shows for a dispenser no fault check has read yet.</summary>
    internal const string NotReadYetCode = "DispenserNotReadYet";

    private const string NotReadYetText =
        "No fault check has read the dispenser since the panel started: its driver opens the port at its first status read, which the flow makes right before each fault check.";

    private static readonly Dictionary<string, AtmKey> Keys = new(StringComparer.Ordinal)
    {
        ["0"] = AtmKey.D0,
        ["1"] = AtmKey.D1,
        ["2"] = AtmKey.D2,
        ["3"] = AtmKey.D3,
        ["4"] = AtmKey.D4,
        ["5"] = AtmKey.D5,
        ["6"] = AtmKey.D6,
        ["7"] = AtmKey.D7,
        ["8"] = AtmKey.D8,
        ["9"] = AtmKey.D9,
        ["enter"] = AtmKey.Enter,
        ["cancel"] = AtmKey.Cancel,
        ["clear"] = AtmKey.Clear,
        ["f1"] = AtmKey.F1,
        ["f2"] = AtmKey.F2,
        ["f3"] = AtmKey.F3,
        ["f4"] = AtmKey.F4,
    };

    private readonly WebApplication _app;
    private readonly PanelAtm _atm;
    private readonly PanelOptions _options;
    private readonly PhonePanes _panes;
    private readonly Lock _gate = new();
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Queue<string> _journal = new();
    private int _flowCheckedFaults;

    private PanelServer(WebApplication app, PanelAtm atm, PanelOptions options, TimeProvider time, ILogger logger)
    {
        _logger = logger;
        _time = time;
        _app = app;
        _atm = atm;
        _options = options;
        _panes = new PhonePanes(atm, ScreenPng, time);
        atm.Terminal.Journal.Written += OnJournal;
    }

    /// <summary>The address the page is served on, e.g. <c>http://127.0.0.1:5080/</c>.</summary>
    public Uri Url { get; private set; } = null!;

    /// <summary>Validates the settings and the rig, and serves the panel for <paramref name="atm"/>.</summary>
    /// <exception cref="PanelRefusedException">The binding is unsafe, or a real device is configured without <see cref="PanelOptions.AllowRealDevices"/>.</exception>
    public static async Task<PanelServer> StartAsync(PanelAtm atm, PanelOptions options, ILoggerFactory? loggers = null, TimeProvider? time = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(atm);
        ArgumentNullException.ThrowIfNull(options);
        var address = options.Validate();
        if (!atm.Rig.DriversOnEmulators)
        {
            // The FirmwareSim rig's kinds name real drivers, but every driver talks to an emulator of this process.
            PanelSafety.EnsureSimulated(atm.DeviceKinds, options.AllowRealDevices);
        }

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory, Args = [] });

        // The panel's binding is Panel:Address and Panel:Port alone: ASP.NET Core's own settings (Kestrel:Endpoints,
        // ASPNETCORE_URLS with ASPNETCORE_PREFERHOSTINGURLS, from the environment or an appsettings.json) would add or
        // substitute an endpoint that no Panel:AllowRemote or token ever allowed.
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            [WebHostDefaults.PreferHostingUrlsKey] = "false",
            [WebHostDefaults.ServerUrlsKey] = string.Empty,
        });
        // ASP.NET Core's own loggers stay unwired: its request logging writes the full URL ("Request starting … GET
        // /?token=…"), so handing it the caller's factory put Panel:Token in the terminal's log. The panel logs through
        // its own logger only, without query strings.
        builder.Logging.ClearProviders();

        builder.WebHost.UseKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(address, options.Port);
        });
        var app = builder.Build();
        var server = new PanelServer(app, atm, options, time ?? TimeProvider.System, (loggers ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance).CreateLogger<PanelServer>());
        server.Map();
        await app.StartAsync(cancellationToken);
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.ToList();
        var stray = addresses.Where(a => !IPAddress.TryParse(new Uri(a).Host.Trim('[', ']'), out var ip) || !ip.Equals(address)).ToList();
        if (addresses.Count == 0 || stray.Count > 0)
        {
            await server.DisposeAsync();
            throw new PanelRefusedException($"The panel listens on {string.Join(", ", stray)} besides Panel:Address {address}; it serves Panel:Address and Panel:Port only.");
        }

        var bound = addresses[0];
        server.Url = new Uri(bound.EndsWith('/') ? bound : bound + "/");
        return server;
    }

    /// <summary>Stops serving.</summary>
    public async ValueTask DisposeAsync()
    {
        _atm.Terminal.Journal.Written -= OnJournal;
        await _app.StopAsync();
        await _app.DisposeAsync();
        if (_atm.OwnsRig)
        {
            _atm.Rig.Dispose();
        }
    }

    /// <summary>The screen as PNG, as the rig shows it.</summary>
    internal Task<byte[]> ScreenPng(CancellationToken cancellationToken) => _atm.Rig.ScreenPngAsync(cancellationToken);

    private void OnJournal(JournalEntry entry)
    {
        if (entry is FaultChecked)
        {
            // The flow reads the dispenser's status just before each fault check it journals.
            Volatile.Write(ref _flowCheckedFaults, 1);
        }

        var line = ElectronicJournal.Export([entry]).TrimEnd();
        lock (_gate)
        {
            _journal.Enqueue(line);
            while (_journal.Count > JournalTail)
            {
                _journal.Dequeue();
            }
        }
    }

    private void Map()
    {
        _app.Use(GuardAsync);
        _app.MapGet("/", ctx => Asset(ctx, "index.html", "text/html; charset=utf-8"));
        _app.MapGet("/panel.js", ctx => Asset(ctx, "panel.js", "text/javascript; charset=utf-8"));
        _app.MapGet("/panel.css", ctx => Asset(ctx, "panel.css", "text/css; charset=utf-8"));
        _app.MapGet("/api/screen.png", async ctx =>
        {
            var png = await ScreenPng(ctx.RequestAborted);
            ctx.Response.ContentType = "image/png";
            await ctx.Response.Body.WriteAsync(png, ctx.RequestAborted);
        });
        _app.MapGet("/api/state", async ctx => await ctx.Response.WriteAsJsonAsync(await StateAsync(ctx.RequestAborted)));
        _app.MapPost("/api/keys", ctx => WithBodyAsync(ctx, ["key"], Handler(ctx, PressKeyAsync)));
        _app.MapPost("/api/faults", ctx => WithBody(ctx, ["name", "on", "position"], SetFault));
        _app.MapPost("/api/take-notes", ctx => WithBody(ctx, [], _ =>
        {
            if (_atm.Rig.TakeNotesUnavailable is { } why)
            {
                return Results.Conflict(new { field = "take-notes", error = $"take-notes: {why}" });
            }

            _atm.Rig.TakeNotes();
            return Results.Ok(new { message = "The customer takes the notes at the exit." });
        }));
        _app.MapPost("/api/saf/retry", ctx => WithBody(ctx, ["id"], RetryReversal));
        _app.MapPost("/api/phones/{pane}/scan", ctx => WithBodyAsync(ctx, [], Handler(ctx, ScanAsync)));
        _app.MapPost("/api/phones/{pane}/withdraw", ctx => WithBody(ctx, ["phone", "account", "pin"], body => Withdraw(ctx, body)));
    }

    /// <summary>Token, Host header (against DNS rebinding) and, for POSTs, a JSON body: before any endpoint runs.</summary>
    private async Task GuardAsync(HttpContext ctx, RequestDelegate next)
    {
        var headers = ctx.Response.Headers;
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers.CacheControl = "no-store";
        headers.ContentSecurityPolicy = "default-src 'self'; img-src 'self'; frame-ancestors 'none'";
        if (IPAddress.IsLoopback(IPAddress.Parse(_options.Address)) && !IsLoopbackHost(ctx.Request.Host.Host))
        {
            await Results.BadRequest(new { field = "Host", error = $"Host: '{ctx.Request.Host}' is not a loopback name; the panel answers only to 127.0.0.1, [::1] and localhost." }).ExecuteAsync(ctx);
            return;
        }

        if (!string.IsNullOrEmpty(_options.Token))
        {
            if (ctx.Request.Path == "/" && ctx.Request.Query.TryGetValue("token", out var given) && Matches(given.ToString()))
            {
                ctx.Response.Cookies.Append(TokenCookie, _options.Token, new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = ctx.Request.IsHttps, Path = "/" });
                ctx.Response.Redirect("/");
                return;
            }

            var presented = ctx.Request.Headers[TokenHeader].ToString();
            if (string.IsNullOrEmpty(presented))
            {
                presented = ctx.Request.Cookies[TokenCookie] ?? string.Empty;
            }

            if (!Matches(presented))
            {
                ctx.Response.StatusCode = StatusCodes.Status401Unauthorized;
                await ctx.Response.WriteAsJsonAsync(new { field = TokenHeader, error = $"{TokenHeader}: missing or wrong; open the panel as /?token=… or send the header." });
                return;
            }
        }

        try
        {
            await next(ctx);
        }
        catch (Exception e) when (e is not OperationCanceledException && !ctx.Response.HasStarted)
        {
            _logger.LogError(e, "Panel: {Method} {Path} failed", ctx.Request.Method, ctx.Request.Path);
            ctx.Response.StatusCode = StatusCodes.Status500InternalServerError;
            await ctx.Response.WriteAsJsonAsync(new { error = $"{e.GetType().Name}: {e.Message}" });
        }
    }

    /// <summary>Compares digests of equal length, so neither the token's content nor its length shows in the time taken.</summary>
    private bool Matches(string presented) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(presented)), SHA256.HashData(Encoding.UTF8.GetBytes(_options.Token!)));

    private static bool IsLoopbackHost(string host) =>
        host is "localhost" or "127.0.0.1" or "[::1]" or "::1" || (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));

    private static async Task Asset(HttpContext ctx, string name, string contentType)
    {
        await using var stream = typeof(PanelServer).Assembly.GetManifestResourceStream($"panel/{name}")
            ?? throw new InvalidOperationException($"The panel's asset {name} is not embedded.");
        ctx.Response.ContentType = contentType;
        await stream.CopyToAsync(ctx.Response.Body, ctx.RequestAborted);
    }

    /// <summary>
    /// Reads a JSON object body (empty is an empty object) of <paramref name="fields"/> only, each at most once, and runs
    /// <paramref name="handle"/>; 400 with the field for bad input.
    /// </summary>
    private static Task WithBody(HttpContext ctx, string[] fields, Func<JsonElement, IResult> handle) =>
        WithBodyAsync(ctx, fields, body => Task.FromResult(handle(body)));

    private static Func<JsonElement, Task<IResult>> Handler(HttpContext ctx, Func<HttpContext, JsonElement, Task<IResult>> handle) => body => handle(ctx, body);

    private static async Task WithBodyAsync(HttpContext ctx, string[] fields, Func<JsonElement, Task<IResult>> handle)
    {
        IResult result;
        if (!System.Net.Http.Headers.MediaTypeHeaderValue.TryParse(ctx.Request.ContentType, out var mediaType)
            || !string.Equals(mediaType.MediaType, "application/json", StringComparison.OrdinalIgnoreCase))
        {
            // Also what keeps a cross-site form from posting here: a JSON content type needs a CORS preflight, which is never granted.
            result = Bad("body", "must be a JSON object sent with Content-Type: application/json");
        }
        else if (ctx.Request.ContentLength is > 4096)
        {
            result = Bad("body", "is longer than 4096 bytes");
        }
        else
        {
            JsonDocument? document = null;
            try
            {
                // At most one character past the limit: a chunked body has no Content-Length, and reading it to its end
                // let a client hold the request (and up to Kestrel's 30 MB of it in memory) for as long as it liked.
                using var reader = new StreamReader(ctx.Request.Body, Encoding.UTF8);
                var buffer = new char[4097];
                var length = 0;
                int got;
                while (length < buffer.Length && (got = await reader.ReadAsync(buffer.AsMemory(length), ctx.RequestAborted)) > 0)
                {
                    length += got;
                }

                var text = new string(buffer, 0, length);
                if (text.Length > 4096)
                {
                    result = Bad("body", "is longer than 4096 bytes");
                }
                else
                {
                    document = JsonDocument.Parse(string.IsNullOrWhiteSpace(text) ? "{}" : text);
                    result = document.RootElement.ValueKind == JsonValueKind.Object
                        ? await RunAsync(handle, fields, document.RootElement)
                        : Bad("body", "must be a JSON object");
                }
            }
            catch (JsonException e)
            {
                result = Bad("body", $"is not valid JSON ({e.Message})");
            }
            finally
            {
                document?.Dispose();
            }
        }

        await result.ExecuteAsync(ctx);
    }

    private static async Task<IResult> RunAsync(Func<JsonElement, Task<IResult>> handle, string[] fields, JsonElement body)
    {
        try
        {
            // An unknown field (an "amount" next to the PIN) or one given twice (which one wins?) is refused, not ignored.
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in body.EnumerateObject())
            {
                var name = property.Name.Length > 40 ? property.Name[..40] + "…" : property.Name;
                if (!fields.Contains(property.Name, StringComparer.Ordinal))
                {
                    throw new BadFieldException(name, fields.Length == 0 ? "is not a field of this request; it takes none" : $"is not a field of this request; it takes {string.Join(", ", fields)}");
                }

                if (!seen.Add(property.Name))
                {
                    throw new BadFieldException(name, "is given twice");
                }
            }

            return await handle(body);
        }
        catch (BadFieldException e)
        {
            return Bad(e.Field, e.Message);
        }
    }

    private static IResult Bad(string field, string error) => Results.BadRequest(new { field, error = $"{field}: {error}" });

    private async Task<IResult> PressKeyAsync(HttpContext ctx, JsonElement body)
    {
        var key = RequiredString(body, "key", 16);
        if (!Keys.TryGetValue(key.ToLowerInvariant(), out var atmKey))
        {
            throw new BadFieldException("key", $"'{key}' is not a key of this keypad; one of {string.Join(", ", Keys.Keys)}");
        }

        // A key on the FirmwareSim rig is tapped on the emulated key matrix and waits for the driver's scanner to see it.
        await _atm.Rig.PressAsync(atmKey, ctx.RequestAborted);
        return Results.Ok(new { pressed = atmKey.ToString() });
    }

    private IResult SetFault(JsonElement body)
    {
        var name = RequiredString(body, "name", 40);
        if (!PanelFaults.Names.Contains(name, StringComparer.Ordinal))
        {
            throw new BadFieldException("name", $"'{name}' is not a fault switch; one of {string.Join(", ", PanelFaults.Names)}");
        }

        if (!body.TryGetProperty("on", out var onValue) || onValue.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
        {
            throw new BadFieldException("on", "is required: true or false");
        }

        var position = 0;
        if (PanelFaults.Unavailable(_atm, name) is { } why)
        {
            throw new BadFieldException("name", $"{name} is {why}");
        }

        if (PanelFaults.TakesPosition(_atm, name))
        {
            var positions = PanelFaults.Positions(_atm).ToList();
            if (!body.TryGetProperty("position", out var p) || p.ValueKind != JsonValueKind.Number || !p.TryGetInt32(out position) || !positions.Contains(position))
            {
                throw new BadFieldException("position", $"is required for {name}: one of the cassette positions {string.Join(", ", positions)}");
            }
        }

        PanelFaults.Set(_atm, name, onValue.GetBoolean(), position);
        return Results.Ok(new { name, on = PanelFaults.IsOn(_atm, name, position), position = position == 0 ? (int?)null : position });
    }

    /// <summary>
    /// The operator's retry of a stuck reversal, through the terminal's own API (as <c>cardless-atm terminal saf retry</c>):
    /// it is made due at once and the running forwarder sends it within <c>Terminal:ReversalRetryMax</c>.
    /// </summary>
    private IResult RetryReversal(JsonElement body)
    {
        var id = RequiredString(body, "id", 64);
        if (id.Any(c => !char.IsAsciiLetterOrDigit(c) && c != '-'))
        {
            throw new BadFieldException("id", "is not a reversal id (letters, digits and '-', as the SAF queue on the page shows them)");
        }

        var forwarder = _atm.Terminal.Reversals;
        if (forwarder.Store.Find(id) is null)
        {
            return Results.NotFound(new { field = "id", error = $"id: no reversal '{id}' in the store-and-forward queue (it may have been acknowledged already)" });
        }

        if (!forwarder.Stuck.Any(r => r.Id == id))
        {
            return Results.Conflict(new { field = "id", error = $"id: reversal '{id}' is not stuck; the terminal repeats it by itself" });
        }

        if (!Terminal.StoreAndForward.ReversalForwarder.RequestRetry(forwarder.Store, id, _time))
        {
            return Results.NotFound(new { field = "id", error = $"id: reversal '{id}' left the queue meanwhile" });
        }

        _logger.LogInformation("Panel: operator retry of reversal {Id}", id);
        return Results.Ok(new { id, message = $"Reversal {id} is due now; the terminal sends it within Terminal:ReversalRetryMax." });
    }

    /// <summary>The store-and-forward queue as the page shows it: no account, no key, only what an operator needs to act.</summary>
    private object[] SafQueue()
    {
        var forwarder = _atm.Terminal.Reversals;
        var stuck = forwarder.Stuck.Select(r => r.Id).ToHashSet(StringComparer.Ordinal);
        return [.. forwarder.Store.ReadAll().Reversals.OrderBy(r => r.QueuedAt).Select(r =>
        {
            var currency = Currency.FromNumericCode(r.CurrencyNumeric).Code;
            var isStuck = stuck.Contains(r.Id);
            return (object)new
            {
                id = r.Id,
                amount = Money.Of(r.AmountMinor, currency).ToString(),
                dispensed = Money.Of(r.DispensedMinor, currency).ToString(),
                reversed = Money.Of(r.AmountMinor - r.DispensedMinor, currency).ToString(),
                reasonCode = r.ReasonCode,
                reason = r.Reason,
                status = r.Status.ToString(),
                attempts = r.Attempts,
                lastResponse = r.LastResponse,
                nextAttempt = r.Status == Terminal.StoreAndForward.ReversalStatus.NeedsOperator ? null : r.NextAttemptAt,
                stuck = isStuck,
            };
        })];
    }

    private static int Pane(HttpContext ctx)
    {
        var text = ctx.Request.RouteValues["pane"] as string;
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var pane) || pane < 1 || pane > PhonePanes.Count)
        {
            throw new BadFieldException("pane", $"'{text}' is not a phone pane; 1 to {PhonePanes.Count}");
        }

        return pane;
    }

    /// <summary>The phone panes need the demo network's proxy and enrolled phones: attached to a terminal there are none.</summary>
    private IResult? NoPhones() => _atm.Phones.Count > 0 ? null : Results.Conflict(new
    {
        field = "pane",
        error = "pane: the phone panes need the demo network (its proxy and enrolled phones); this panel is attached to a terminal. Use a real phone, or `cardless-atm panel --demo`.",
    });

    private async Task<IResult> ScanAsync(HttpContext ctx, JsonElement body)
    {
        _ = body;
        var pane = Pane(ctx);
        if (NoPhones() is { } none)
        {
            return none;
        }

        try
        {
            var session = await _panes.ScanAsync(pane, ctx.RequestAborted);
            return Results.Ok(new { atmId = session.AtmId.ToString(), amount = session.Amount.ToString(), expiresAt = session.ExpiresAt });
        }
        catch (PhoneInputException e)
        {
            lock (_panes[pane])
            {
                _panes[pane].Status = "no-qr";
                _panes[pane].Message = e.Message;
            }

            return Results.Conflict(new { field = "screen", error = $"screen: {e.Message}" });
        }
    }

    private IResult Withdraw(HttpContext ctx, JsonElement body)
    {
        var pane = Pane(ctx);
        if (NoPhones() is { } none)
        {
            return none;
        }

        if (!body.TryGetProperty("phone", out var p) || p.ValueKind != JsonValueKind.Number || !p.TryGetInt32(out var phone) || phone < 0 || phone >= _atm.Phones.Count)
        {
            throw new BadFieldException("phone", $"is required: 0 to {_atm.Phones.Count - 1} ({string.Join(", ", _atm.Phones.Select((ph, i) => $"{i} = {ph.Name}"))})");
        }

        var account = RequiredString(body, "account", 64);
        try
        {
            AccountIds.Validate(account, "account");
        }
        catch (PhoneInputException e)
        {
            throw new BadFieldException("account", e.Message);
        }

        var pin = RequiredString(body, "pin", 64);
        if (pin.Length is < PinEntry.MinLength or > PinEntry.MaxLength || !pin.All(char.IsAsciiDigit))
        {
            throw new BadFieldException("pin", $"must be {PinEntry.MinLength} to {PinEntry.MaxLength} digits");
        }

        try
        {
            _panes.Withdraw(pane, phone, account, pin);
        }
        catch (InvalidOperationException e)
        {
            return Results.Conflict(new { field = "pane", error = $"pane {pane}: {e.Message}" });
        }

        return Results.Accepted(value: new { pane, status = "sending" });
    }

    private static string RequiredString(JsonElement body, string field, int maxLength)
    {
        if (!body.TryGetProperty(field, out var value) || value.ValueKind != JsonValueKind.String)
        {
            throw new BadFieldException(field, "is required and must be a string");
        }

        var text = value.GetString()!;
        if (text.Length == 0 || text.Length > maxLength)
        {
            throw new BadFieldException(field, $"must be 1 to {maxLength} characters");
        }

        return text;
    }

    private async Task<object> StateAsync(CancellationToken cancellationToken)
    {
        var terminal = _atm.Terminal;
        var screen = _atm.Rig.ScreenText();
        var dispenser = terminal.Devices.Dispenser;
        var units = dispenser.CashUnits;
        var probe = units.Where(u => u.Denomination.Currency.Code == _atm.Currency).MinBy(u => u.Denomination.MinorUnits)?.Denomination ?? Money.Of(1000, _atm.Currency);
        var verdict = terminal.Devices.FaultCheck.Check(probe);

        // A driver that opens its port lazily (the LCDM drivers) reports Offline until its first status read, which the
        // flow makes right before each fault check: before that check, "offline" is not a reading, and the flow's own
        // first verdict is taken on a fresh status. The page says "not read yet" instead of a fault nobody measured.
        var notReadYet = Volatile.Read(ref _flowCheckedFaults) == 0
            && terminal.Devices.Dispenser.Status.Device == DeviceState.Offline
            && verdict.Reasons.Any(r => r.Code == FaultCode.DispenserOffline);
        object? ledger = null;
        if (_atm.Host is { } hostOf)
        {
            var host = hostOf();
            var accounts = new List<object>();
            foreach (var (account, row) in _atm.Accounts.Select((a, i) => (a, i + 1)))
            {
                // The account id is a credential: the page and this answer carry it masked as the phone library masks it
                // (all but the last four digits), and rows are told apart by their number, not by the id.
                var record = await host.GetAccountAsync(account.AccountId, cancellationToken);
                accounts.Add(new { row, account = AccountIds.Mask(account.AccountId), holder = account.HolderName, balance = record is null ? null : Money.Of(record.BalanceMinor, _atm.Currency).ToString(), balanceMinor = record?.BalanceMinor });
            }

            var totals = await host.GetLedgerTotalsAsync(cancellationToken);
            ledger = new
            {
                accounts,
                balances = totals.Balances,
                approvedWithdrawals = Money.Of(totals.ApprovedWithdrawalsMinor, _atm.Currency).ToString(),
                reversals = Money.Of(totals.ReversalsMinor, _atm.Currency).ToString(),
            };
        }

        string[] journal;
        lock (_gate)
        {
            journal = [.. _journal];
        }

        var positions = PanelFaults.Positions(_atm).ToList();
        return new
        {
            mode = _atm.Mode,
            rig = _atm.Rig.Name,
            unavailable = new
            {
                touch = _atm.Rig.TouchUnavailable,
                takeNotes = _atm.Rig.TakeNotesUnavailable,
            },
            available = new
            {
                ledger = _atm.Host is not null,
                phones = _atm.Phones.Count > 0,
                hostLink = _atm.HostLink is not null,
                proxyLink = _atm.ProxyLink is not null,
            },
            terminal = new
            {
                atmId = terminal.Options.AtmId,
                state = terminal.Flow.State.ToString(),
                outOfServiceReason = terminal.Flow.OutOfServiceReason,
                hostReady = terminal.IsHostReady,
                proxyConnected = terminal.IsProxyConnected,
                reversalsWaiting = terminal.Reversals.Store.Depth,
                reversalsStuck = terminal.Reversals.StuckCount,
            },
            screen = new
            {
                version = screen.Version,
                width = _atm.Rig.ScreenWidth,
                height = _atm.Rig.ScreenHeight,
                title = screen.Title,
                lines = screen.Lines,
                secondsLeft = screen.SecondsLeft,
                tone = screen.Tone,
                hasQr = screen.HasQr,
            },
            verdict = new
            {
                probe = probe.ToString(),
                ready = verdict.IsReady,
                dispenserNotReadYet = notReadYet,
                reasons = verdict.Reasons
                    .Select(r => notReadYet && r.Code == FaultCode.DispenserOffline
                        ? new { code = NotReadYetCode, text = NotReadYetText }
                        : new { code = r.Code.ToString(), text = r.LogText }),
            },
            cashUnits = units.OrderBy(u => u.Position).Select(u => new
            {
                id = u.Id,
                position = u.Position,
                denomination = u.Denomination.ToString(),
                count = u.Count,
                presented = u.Counters.Presented,
                rejected = u.Counters.Rejected,
                unknown = u.Counters.Unknown,
                retracted = u.Counters.Retracted,
                present = u.IsPresent,
                status = u.Status.ToString(),
            }),
            dispenser = new
            {
                device = dispenser.Status.Device.ToString(),
                lastFault = dispenser.Status.LastFault,
                mechanism = _atm.Rig.Mechanism(),
            },
            faults = PanelFaults.Names.Select(n => new
            {
                name = n,
                available = PanelFaults.Unavailable(_atm, n) is null,
                unavailable = PanelFaults.Unavailable(_atm, n),
                wiredTo = n is "host-link-down" or "proxy-link-down" ? "the TCP relay on the terminal's link (LinkRelay)" : _atm.Rig.WiredTo(n),
                on = PanelFaults.TakesPosition(_atm, n) ? positions.Any(p => PanelFaults.IsOn(_atm, n, p)) : PanelFaults.IsOn(_atm, n),
                positions = PanelFaults.TakesPosition(_atm, n) ? positions.Where(p => PanelFaults.IsOn(_atm, n, p)).ToArray() : null,
            }),
            positions,
            saf = SafQueue(),
            journal,
            ledger,
            phones = _atm.Phones.Select((p, i) => new { index = i, name = p.Name }),
            panes = _panes.All.Select(p => p.Snapshot()),
        };
    }

    private sealed class BadFieldException(string field, string message) : Exception(message)
    {
        public string Field { get; } = field;
    }
}
