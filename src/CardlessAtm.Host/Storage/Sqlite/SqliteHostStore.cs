using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CardlessAtm.Host.Storage.Sqlite;

/// <summary>
/// SQLite implementation of <see cref="IHostStore"/>: WAL journal, <c>synchronous=FULL</c> (a commit
/// is on disk before its task completes), versioned migrations at open.
/// </summary>
/// <remarks>
/// SQLite allows one writer at a time, and each durable commit costs an fsync. All writes therefore
/// go through a single writer thread that <em>group-commits</em>: it takes every write queued at
/// that moment (up to <see cref="MaxBatchSize"/>), runs each inside its own savepoint of one
/// database transaction, commits once, and only then completes the callers' tasks. A callback that
/// throws is rolled back to its savepoint alone; a failed commit fails every caller in the batch.
/// Reads use their own pooled connections and see the last committed state (WAL snapshot).
/// </remarks>
public sealed class SqliteHostStore : IHostStore
{
    /// <summary>Most writes folded into one commit.</summary>
    public const int MaxBatchSize = 256;

    private readonly string _connectionString;
    private readonly SqliteConnection _writerConnection;
    private readonly SqliteLedger _writerLedger;
    private readonly Channel<IWriteItem> _queue = Channel.CreateUnbounded<IWriteItem>(
        new UnboundedChannelOptions { SingleReader = true });
    private readonly Thread _writerThread;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private int _disposed;

    private SqliteHostStore(string connectionString, SqliteConnection writerConnection, TimeProvider time, ILogger logger)
    {
        _connectionString = connectionString;
        _writerConnection = writerConnection;
        _time = time;
        _logger = logger;
        _writerLedger = new SqliteLedger(writerConnection, time, cacheStatements: true);
        _writerThread = new Thread(WriterLoop) { IsBackground = true, Name = "host-ledger-writer" };
        _writerThread.Start();
    }

    /// <summary>The database file.</summary>
    public string DatabasePath { get; private init; } = "";

    /// <summary>Schema version after migration.</summary>
    public int SchemaVersion { get; private init; }

    /// <summary>
    /// Creates a missing database file empty and owner-only (0600) before SQLite opens it: SQLite would make it with
    /// the process umask (often 0644), and it gives the -wal and -shm files the database file's mode.
    /// </summary>
    private static void CreateOwnerOnly(string fullPath)
    {
        if (OperatingSystem.IsWindows() || File.Exists(fullPath))
        {
            return;
        }

        try
        {
            using var _ = new FileStream(fullPath, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite });
        }
        catch (IOException) when (File.Exists(fullPath))
        {
            // Another process created it first; SQLite opens that one.
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new StoreUnavailableException($"Cannot create the host database '{fullPath}': {ex.Message}", ex);
        }
    }

    /// <summary>Opens (creating if needed) the database file and brings its schema up to date.</summary>
    /// <param name="databasePath">Path of the SQLite file.</param>
    /// <param name="time">Clock for timestamps and business days; <see cref="TimeProvider.System"/> if null.</param>
    /// <param name="logger">Logger; none if null.</param>
    /// <exception cref="StoreUnavailableException">The file cannot be opened, or its schema is newer than this program.</exception>
    public static SqliteHostStore Open(string databasePath, TimeProvider? time = null, ILogger? logger = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(databasePath);
        time ??= TimeProvider.System;
        logger ??= NullLogger.Instance;
        var fullPath = Path.GetFullPath(databasePath);
        var connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = fullPath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();

        CreateOwnerOnly(fullPath);
        SqliteConnection? connection = null;
        try
        {
            connection = new SqliteConnection(connectionString);
            connection.Open();
            Execute(connection, "PRAGMA journal_mode=WAL;");
            Execute(connection, "PRAGMA synchronous=FULL;");
            Execute(connection, "PRAGMA foreign_keys=ON;");
            Execute(connection, "PRAGMA busy_timeout=30000;");
            var version = Migrate(connection, time, logger);
            return new SqliteHostStore(connectionString, connection, time, logger)
            {
                DatabasePath = fullPath,
                SchemaVersion = version,
            };
        }
        catch (SqliteException ex)
        {
            connection?.Dispose();
            throw new StoreUnavailableException($"Cannot open the host database '{fullPath}': {ex.Message}", ex);
        }
        catch
        {
            connection?.Dispose();
            throw;
        }
    }

    private static int Migrate(SqliteConnection connection, TimeProvider time, ILogger logger)
    {
        Execute(connection, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_utc TEXT NOT NULL) STRICT;");
        using (var cmd = connection.CreateCommand())
        {
            cmd.CommandText = "SELECT COALESCE(MAX(version), 0) FROM schema_version;";
            var current = Convert.ToInt32(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
            var newest = SqliteMigrations.All[^1].Version;
            if (current > newest)
            {
                throw new StoreUnavailableException(
                    $"The host database has schema version {current}, newer than this program knows ({newest}); refusing to start with an older program.");
            }

            foreach (var migration in SqliteMigrations.All.Where(m => m.Version > current))
            {
                using var tx = connection.BeginTransaction(deferred: false);
                using (var step = connection.CreateCommand())
                {
                    step.Transaction = tx;
                    step.CommandText = migration.Sql;
                    step.ExecuteNonQuery();
                }

                using (var record = connection.CreateCommand())
                {
                    record.Transaction = tx;
                    record.CommandText = "INSERT INTO schema_version (version, description, applied_utc) VALUES ($v, $d, $t);";
                    record.Parameters.AddWithValue("$v", migration.Version);
                    record.Parameters.AddWithValue("$d", migration.Description);
                    record.Parameters.AddWithValue("$t", time.GetUtcNow().ToString("O"));
                    record.ExecuteNonQuery();
                }

                tx.Commit();
                logger.LogInformation("Host database migrated to schema version {Version}: {Description}", migration.Version, migration.Description);
            }

            return newest;
        }
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    /// <inheritdoc />
    public Task<T> WriteAsync<T>(Func<ILedgerWriter, T> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        cancellationToken.ThrowIfCancellationRequested();
        var item = new WriteItem<T>(work, cancellationToken);
        ObjectDisposedException.ThrowIf(!_queue.Writer.TryWrite(item), this);
        return item.Task;
    }

    /// <inheritdoc />
    public Task<T> ReadAsync<T>(Func<ILedgerReader, T> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            using var connection = new SqliteConnection(_connectionString);
            connection.Open();
            using var tx = connection.BeginTransaction(deferred: true);
            var ledger = new SqliteLedger(connection, _time);
            ledger.Begin(tx);
            var result = work(ledger);
            tx.Commit();
            return Task.FromResult(result);
        }
        catch (SqliteException ex)
        {
            return Task.FromException<T>(new StoreUnavailableException($"Host database read failed: {ex.Message}", ex));
        }
        catch (Exception ex)
        {
            return Task.FromException<T>(ex);
        }
    }

    private void WriterLoop()
    {
        var batch = new List<IWriteItem>(MaxBatchSize);
        var reader = _queue.Reader;
        while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            batch.Clear();
            while (batch.Count < MaxBatchSize && reader.TryRead(out var item))
            {
                if (!item.CancelIfRequested())
                {
                    batch.Add(item);
                }
            }

            if (batch.Count > 0)
            {
                RunBatch(batch);
            }
        }
    }

    private void RunBatch(List<IWriteItem> batch)
    {
        SqliteTransaction tx;
        try
        {
            tx = _writerConnection.BeginTransaction(deferred: false);
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "Host database: cannot begin a write transaction");
            var failure = new StoreUnavailableException($"Host database cannot begin a transaction: {ex.Message}", ex);
            foreach (var item in batch)
            {
                item.Fail(failure);
            }

            return;
        }

        using (tx)
        {
            _writerLedger.Begin(tx);
            foreach (var item in batch)
            {
                tx.Save("w");
                try
                {
                    item.Run(_writerLedger);
                    tx.Release("w");
                }
                catch (Exception ex)
                {
                    tx.Rollback("w");
                    tx.Release("w");
                    item.SetError(ex is SqliteException sx
                        ? new StoreUnavailableException($"Host database write failed: {sx.Message}", sx)
                        : ex);
                }
            }

            try
            {
                tx.Commit();
            }
            catch (Exception ex)
            {
                _logger.LogError(ex, "Host database: commit of {Count} writes failed; none took effect", batch.Count);
                var failure = new StoreUnavailableException($"Host database commit failed: {ex.Message}", ex);
                foreach (var item in batch)
                {
                    item.Fail(failure);
                }

                return;
            }
            finally
            {
                _writerLedger.End();
            }
        }

        foreach (var item in batch)
        {
            item.Complete();
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _queue.Writer.TryComplete();
        await Task.Run(_writerThread.Join);
        _writerLedger.DisposeStatements();
        _writerConnection.Dispose();
        SqliteConnection.ClearPool(new SqliteConnection(_connectionString));
    }

    private interface IWriteItem
    {
        bool CancelIfRequested();

        void Run(ILedgerWriter writer);

        void SetError(Exception error);

        void Fail(Exception error);

        void Complete();
    }

    private sealed class WriteItem<T>(Func<ILedgerWriter, T> work, CancellationToken cancellationToken) : IWriteItem
    {
        private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private T? _result;
        private Exception? _error;

        public Task<T> Task => _completion.Task;

        public bool CancelIfRequested()
        {
            if (!cancellationToken.IsCancellationRequested)
            {
                return false;
            }

            _completion.TrySetCanceled(cancellationToken);
            return true;
        }

        public void Run(ILedgerWriter writer) => _result = work(writer);

        public void SetError(Exception error) => _error = error;

        public void Fail(Exception error) => _completion.TrySetException(error);

        public void Complete()
        {
            if (_error is not null)
            {
                _completion.TrySetException(_error);
            }
            else
            {
                _completion.TrySetResult(_result!);
            }
        }
    }
}
