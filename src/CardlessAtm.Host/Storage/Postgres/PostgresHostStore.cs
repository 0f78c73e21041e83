using System.Data;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace CardlessAtm.Host.Storage.Postgres;

/// <summary>
/// PostgreSQL implementation of <see cref="IHostStore"/> (<c>Host:Store:Kind = Postgres</c>), safe for several host
/// processes on one database.
/// </summary>
/// <remarks>
/// <para>
/// Every write is one <c>SERIALIZABLE</c> transaction: whatever a decision read (balance, daily usage, the QR
/// session, the original of a reversal) still holds when it commits, or PostgreSQL aborts it with
/// <c>serialization_failure</c>; that and <c>deadlock_detected</c> re-run the callback on a fresh transaction, at most
/// <see cref="MaxAttempts"/> times. Unique keys (QR nonce, request key, reversal original) and conditional updates
/// (balance never negative, never more reversed than approved) hold even without it.
/// </para>
/// <para>
/// Durability: <c>synchronous_commit</c> is left as the server has it (on by default: a commit is in the WAL on disk
/// before its task completes). Group commit: <see cref="Connections"/> dedicated threads, each with its own connection,
/// run writes (and reads) at once, so several commits are in flight from one process and PostgreSQL flushes their WAL
/// together. The callbacks use Npgsql's synchronous API on those threads, never on the thread pool.
/// </para>
/// </remarks>
public sealed class PostgresHostStore : IHostStore
{
    /// <summary>The setting that holds the connection string (named in every start-up error).</summary>
    public const string ConnectionStringSetting = "Host:Store:ConnectionString";

    /// <summary>Connections (and threads) each host process keeps; the number of transactions in flight at once.</summary>
    public const int Connections = 4;

    /// <summary>Most runs of one write callback when PostgreSQL reports a serialisation failure or a deadlock.</summary>
    public const int MaxAttempts = 20;

    /// <summary>The longest pause between two runs of a write callback.</summary>
    public static readonly TimeSpan MaxRetryPause = TimeSpan.FromMilliseconds(200);

    private const long MigrationLockKey = 0x43_41_52_44_4C_45_53_53; // "CARDLESS"

    private readonly Channel<IWorkItem> _queue = Channel.CreateUnbounded<IWorkItem>(new UnboundedChannelOptions { SingleReader = false });
    private readonly List<(NpgsqlConnection Connection, Thread Thread)> _workers = [];
    private readonly NpgsqlDataSource _dataSource;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private int _disposed;

    private PostgresHostStore(NpgsqlDataSource dataSource, TimeProvider time, ILogger logger)
    {
        _dataSource = dataSource;
        _time = time;
        _logger = logger;
    }

    /// <summary>Schema version after migration.</summary>
    public int SchemaVersion { get; private set; }

    /// <summary>Connects, brings the schema up to date, and opens the worker connections.</summary>
    /// <param name="connectionString">An Npgsql connection string (<see cref="ConnectionStringSetting"/>).</param>
    /// <param name="time">Clock for timestamps and business days; <see cref="TimeProvider.System"/> if null.</param>
    /// <param name="logger">Logger; none if null.</param>
    /// <param name="connections">Worker connections (transactions in flight at once); <see cref="Connections"/> by default.</param>
    /// <exception cref="ConfigurationException">
    /// The connection string is malformed, the server cannot be reached or refuses the login, or the database's
    /// schema is newer than this program. The message names <see cref="ConnectionStringSetting"/> and never the password.
    /// </exception>
    public static PostgresHostStore Open(string connectionString, TimeProvider? time = null, ILogger? logger = null, int connections = Connections)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(connections, 1);
        time ??= TimeProvider.System;
        logger ??= NullLogger.Instance;
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new ConfigurationException(ConnectionStringSetting, "is empty; it must be a PostgreSQL connection string (Host=...;Database=...;Username=...)");
        }

        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidCastException)
        {
            throw new ConfigurationException(ConnectionStringSetting, $"is not a valid PostgreSQL connection string ({Redact(ex.Message, null)})");
        }

        var password = builder.Password;
        if (string.IsNullOrWhiteSpace(builder.Host))
        {
            throw new ConfigurationException(ConnectionStringSetting, "names no Host");
        }

        if (builder.MaxPoolSize < connections + 2)
        {
            builder.MaxPoolSize = connections + 2;
        }

        builder.Enlist = false;
        var where = $"{builder.Host}:{builder.Port}/{builder.Database ?? builder.Username}";
        var dataSource = NpgsqlDataSource.Create(builder.ConnectionString);
        var store = new PostgresHostStore(dataSource, time, logger);
        try
        {
            store.SchemaVersion = Migrate(dataSource, time, logger, where);
            for (var i = 0; i < connections; i++)
            {
                store.StartWorker(i);
            }

            return store;
        }
        catch (NpgsqlException ex)
        {
            store.StopWorkers();
            dataSource.Dispose();
            throw new ConfigurationException(ConnectionStringSetting, $"cannot use the PostgreSQL database {where}: {Redact(ex.Message, password)}");
        }
        catch
        {
            store.StopWorkers();
            dataSource.Dispose();
            throw;
        }
    }

    /// <summary>A message with the password (if it appears) cut out: Npgsql's messages may quote connection details.</summary>
    private static string Redact(string message, string? password)
    {
        var line = message.ReplaceLineEndings(" ");
        return string.IsNullOrEmpty(password) ? line : line.Replace(password, "***", StringComparison.Ordinal);
    }

    private static int Migrate(NpgsqlDataSource dataSource, TimeProvider time, ILogger logger, string where)
    {
        using var connection = dataSource.OpenConnection();
        using var tx = connection.BeginTransaction(IsolationLevel.ReadCommitted);

        // Two host processes starting at once: the second waits here until the first has migrated.
        Execute(connection, tx, $"SELECT pg_advisory_xact_lock({MigrationLockKey})");
        Execute(connection, tx, "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, description text NOT NULL, applied_utc timestamptz NOT NULL)");
        int current;
        using (var cmd = new NpgsqlCommand("SELECT COALESCE(MAX(version), 0) FROM schema_version", connection, tx))
        {
            current = Convert.ToInt32(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        }

        var newest = PostgresMigrations.All[^1].Version;
        if (current > newest)
        {
            throw new ConfigurationException(
                ConnectionStringSetting,
                $"the host database {where} has schema version {current}, newer than this program knows ({newest}); refusing to start with an older program");
        }

        foreach (var migration in PostgresMigrations.All.Where(m => m.Version > current))
        {
            Execute(connection, tx, migration.Sql);
            using var record = new NpgsqlCommand("INSERT INTO schema_version (version, description, applied_utc) VALUES (@v, @d, @t)", connection, tx);
            record.Parameters.AddWithValue("v", migration.Version);
            record.Parameters.AddWithValue("d", migration.Description);
            record.Parameters.AddWithValue("t", time.GetUtcNow().ToUniversalTime());
            record.ExecuteNonQuery();
            logger.LogInformation("Host database migrated to schema version {Version}: {Description}", migration.Version, migration.Description);
        }

        tx.Commit();
        return newest;
    }

    private static void Execute(NpgsqlConnection connection, NpgsqlTransaction tx, string sql)
    {
        using var cmd = new NpgsqlCommand(sql, connection, tx);
        cmd.ExecuteNonQuery();
    }

    private void StartWorker(int index)
    {
        var connection = _dataSource.OpenConnection();
        var thread = new Thread(() => WorkerLoop(connection)) { IsBackground = true, Name = $"host-ledger-pg-{index}" };
        _workers.Add((connection, thread));
        thread.Start();
    }

    private void StopWorkers()
    {
        _queue.Writer.TryComplete();
        foreach (var (connection, thread) in _workers)
        {
            thread.Join();
            connection.Dispose();
        }

        _workers.Clear();
    }

    /// <inheritdoc />
    public Task<T> WriteAsync<T>(Func<ILedgerWriter, T> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        return Enqueue(new WorkItem<T>(work, write: true, cancellationToken));
    }

    /// <inheritdoc />
    public Task<T> ReadAsync<T>(Func<ILedgerReader, T> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        return Enqueue(new WorkItem<T>(work, write: false, cancellationToken));
    }

    private Task<T> Enqueue<T>(WorkItem<T> item)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        item.CancellationToken.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(!_queue.Writer.TryWrite(item), this);
        return item.Task;
    }

    // A dedicated thread (not the thread pool) waits for work and runs Npgsql's synchronous API on its own connection.
    private void WorkerLoop(NpgsqlConnection connection)
    {
        var ledger = new PostgresLedger(connection, _time);
        var reader = _queue.Reader;
        while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            while (reader.TryRead(out var item))
            {
                if (!item.CancelIfRequested())
                {
                    Run(connection, ledger, item);
                }
            }
        }
    }

    private void Run(NpgsqlConnection connection, PostgresLedger ledger, IWorkItem item)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                if (connection.State != ConnectionState.Open)
                {
                    connection.Close();
                    connection.Open();
                }

                using var tx = connection.BeginTransaction(item.IsWrite ? IsolationLevel.Serializable : IsolationLevel.RepeatableRead);
                ledger.Begin(tx);
                try
                {
                    item.Run(ledger);
                    tx.Commit();
                }
                finally
                {
                    ledger.End();
                }

                item.Complete();
                return;
            }
            catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected && attempt < MaxAttempts)
            {
                // Another transaction (of this process or another) touched what this one read: run it again on the
                // newest state, after a short random pause so the two do not collide again in step.
                _logger.LogDebug("Host database: {SqlState} on attempt {Attempt}; running the write again", ex.SqlState, attempt);
                Thread.Sleep(RetryPause(attempt, Random.Shared));
            }
            catch (NpgsqlException ex)
            {
                _logger.LogError("Host database: {Kind} failed: {SqlState} {Message}", item.IsWrite ? "write" : "read", (ex as PostgresException)?.SqlState, ex.Message);
                item.Fail(new StoreUnavailableException($"Host database {(item.IsWrite ? "write" : "read")} failed: {ex.Message}", ex));
                return;
            }
            catch (Exception ex)
            {
                item.Fail(ex);
                return;
            }
        }
    }

    /// <summary>
    /// The random pause before run <paramref name="attempt"/> + 1: up to 4 ms after the first failure, doubling with each
    /// one up to <see cref="MaxRetryPause"/> ("full jitter"). A pause that grew only by a few ms per attempt let the
    /// writers of two busy host processes on hot accounts keep aborting each other until all 20 runs were spent (the
    /// two-host soak answered 91 to valid withdrawals); a doubling pause spreads them out. Worst case about 3 s in all.
    /// </summary>
    internal static TimeSpan RetryPause(int attempt, Random random)
    {
        var ceiling = Math.Min(MaxRetryPause.TotalMilliseconds, 2 << Math.Clamp(attempt, 1, 16));
        return TimeSpan.FromMilliseconds(random.Next(1, (int)ceiling + 1));
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await Task.Run(StopWorkers);
        await _dataSource.DisposeAsync();
    }

    private interface IWorkItem
    {
        bool IsWrite { get; }

        bool CancelIfRequested();

        void Run(PostgresLedger ledger);

        void Fail(Exception error);

        void Complete();
    }

    private sealed class WorkItem<T>(Delegate work, bool write, CancellationToken cancellationToken) : IWorkItem
    {
        private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private T? _result;

        public Task<T> Task => _completion.Task;

        public CancellationToken CancellationToken => cancellationToken;

        public bool IsWrite => write;

        public bool CancelIfRequested()
        {
            if (!cancellationToken.IsCancellationRequested)
            {
                return false;
            }

            _completion.TrySetCanceled(cancellationToken);
            return true;
        }

        public void Run(PostgresLedger ledger) => _result = write
            ? ((Func<ILedgerWriter, T>)work)(ledger)
            : ((Func<ILedgerReader, T>)work)(ledger);

        public void Fail(Exception error) => _completion.TrySetException(error);

        public void Complete() => _completion.TrySetResult(_result!);
    }
}
