// Package database opens a plugin's SQL database the way Backstage's
// backend.database config describes it: SQLite (pure-Go modernc through
// bun's sqliteshim) or PostgreSQL (pgx). It hands out bun handles and hides
// the driver choice; schemas are the plugins' business.
package database

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib" // also registers the "pgx" database/sql driver
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"github.com/uptrace/bun/driver/sqliteshim"
)

// Dialect names returned by DB.Dialect.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "pg"
)

// Options says which database to open. The fields mirror Backstage's
// backend.database config.
type Options struct {
	// Client is "better-sqlite3", "sqlite3" or "pg".
	Client string
	// Connection is backend.database.connection. For SQLite: ":memory:", a
	// file path, or a map with "directory" (the file is then
	// <directory>/<PluginID>.sqlite). For pg: a connection string or a map
	// with host, port, user, password and database (database defaults to
	// backstage_plugin_<PluginID>, created when missing).
	Connection any
	// PluginID names the plugin's database; required for the directory and
	// default pg database forms.
	PluginID string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// DB holds a plugin's database handles.
type DB struct {
	// Write is the handle for writes. On SQLite it has a single connection
	// (SQLite allows one writer; queueing in Go beats busy-waiting in SQLite)
	// and its transactions begin IMMEDIATE so they never fail to upgrade a
	// read lock.
	Write *bun.DB
	// Read is a pool for reads. On PostgreSQL, and for in-memory SQLite, it
	// is the same handle as Write.
	Read *bun.DB

	dialect string
}

// Dialect is "sqlite" or "pg".
func (d *DB) Dialect() string { return d.dialect }

// Close closes both handles.
func (d *DB) Close() error {
	err := d.Write.Close()
	if d.Read != d.Write {
		err = errors.Join(err, d.Read.Close())
	}
	return err
}

// Open opens the database described by o and checks that it answers.
func Open(ctx context.Context, o Options) (*DB, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	switch o.Client {
	case "better-sqlite3", "sqlite3", "sqlite":
		return openSQLite(ctx, o)
	case "pg", "postgres", "postgresql":
		return openPostgres(ctx, o)
	default:
		return nil, fmt.Errorf("database: unsupported client %q", o.Client)
	}
}

// sqlitePragmas are applied to every connection. busy_timeout comes first:
// setting journal_mode needs a lock, and without the timeout a concurrent
// opener would fail at once with SQLITE_BUSY instead of waiting.
var sqlitePragmas = []string{
	"busy_timeout(10000)",
	"journal_mode(WAL)",
	"synchronous(NORMAL)",
	"foreign_keys(ON)",
	// 16 MiB of page cache (the default is 2 MiB): bulk writes to indexed
	// tables otherwise spill pages to the OS on every statement.
	"cache_size(-16384)",
	"temp_store(MEMORY)",
}

// readerCacheSize overrides cache_size on read connections: there are
// several of them, reads are served from the OS page cache just as well, and
// a full 16 MiB cache each would dominate the process's memory.
const readerCacheSize = "cache_size(-2048)"

func sqliteDSN(file string, extra url.Values) string {
	q := url.Values{}
	for _, p := range sqlitePragmas {
		q.Add("_pragma", p)
	}
	for k, vs := range extra {
		for _, v := range vs {
			q.Add(k, v)
		}
	}
	return "file:" + file + "?" + q.Encode()
}

func openSQLite(ctx context.Context, o Options) (*DB, error) {
	file, err := sqliteFile(o)
	if err != nil {
		return nil, err
	}
	if file == ":memory:" {
		// A private in-memory database exists per connection, so both roles
		// share one connection. The name is random so that two Opens in one
		// process never see each other's data.
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
		dsn := sqliteDSN("understage-"+hex.EncodeToString(b[:]), url.Values{"mode": {"memory"}})
		sqldb, err := sql.Open(sqliteshim.ShimName, dsn)
		if err != nil {
			return nil, fmt.Errorf("database: open sqlite: %w", err)
		}
		sqldb.SetMaxOpenConns(1)
		sqldb.SetMaxIdleConns(1)
		sqldb.SetConnMaxLifetime(0)
		sqldb.SetConnMaxIdleTime(0)
		db := bun.NewDB(sqldb, sqlitedialect.New())
		if err := db.PingContext(ctx); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("database: ping sqlite: %w", err)
		}
		return &DB{Write: db, Read: db, dialect: DialectSQLite}, nil
	}
	if dir := filepath.Dir(file); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
	}
	wdb, err := sql.Open(sqliteshim.ShimName, sqliteDSN(file, url.Values{"_txlock": {"immediate"}}))
	if err != nil {
		return nil, fmt.Errorf("database: open sqlite: %w", err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxIdleTime(0)
	wdb.SetConnMaxLifetime(0)
	write := bun.NewDB(wdb, sqlitedialect.New())
	// Ping the writer first: it creates the file and switches it to WAL
	// before any reader opens it.
	if err := write.PingContext(ctx); err != nil {
		_ = write.Close()
		return nil, fmt.Errorf("database: ping sqlite %s: %w", file, err)
	}
	rdb, err := sql.Open(sqliteshim.ShimName, sqliteDSN(file, url.Values{"_pragma": {"query_only(1)", readerCacheSize}}))
	if err != nil {
		_ = write.Close()
		return nil, fmt.Errorf("database: open sqlite: %w", err)
	}
	n := max(4, runtime.NumCPU())
	rdb.SetMaxOpenConns(n)
	rdb.SetMaxIdleConns(n)
	rdb.SetConnMaxIdleTime(0)
	rdb.SetConnMaxLifetime(0)
	read := bun.NewDB(rdb, sqlitedialect.New())
	if err := read.PingContext(ctx); err != nil {
		_ = write.Close()
		_ = read.Close()
		return nil, fmt.Errorf("database: ping sqlite %s: %w", file, err)
	}
	o.Logger.Debug("opened sqlite database", "file", file, "plugin", o.PluginID)
	return &DB{Write: write, Read: read, dialect: DialectSQLite}, nil
}

func sqliteFile(o Options) (string, error) {
	switch c := o.Connection.(type) {
	case nil:
		return ":memory:", nil
	case string:
		if c == "" {
			return ":memory:", nil
		}
		return c, nil
	case map[string]any:
		if f, ok := c["filename"].(string); ok && f != "" {
			return f, nil
		}
		dir, _ := c["directory"].(string)
		if dir == "" {
			return "", errors.New("database: sqlite connection needs directory or filename")
		}
		if o.PluginID == "" {
			return "", errors.New("database: sqlite directory connection needs a plugin id")
		}
		return filepath.Join(dir, o.PluginID+".sqlite"), nil
	default:
		return "", fmt.Errorf("database: unsupported sqlite connection %T", o.Connection)
	}
}

func openPostgres(ctx context.Context, o Options) (*DB, error) {
	dsn, dbName, create, err := postgresDSN(o)
	if err != nil {
		return nil, err
	}
	if create {
		if err := ensurePostgresDatabase(ctx, dsn, dbName); err != nil {
			return nil, err
		}
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("database: pg connection: %w", err)
	}
	// JIT compiles every sub-plan of a query whose estimated cost passes
	// jit_above_cost, which a fresh database's estimates always do: a
	// catalog filter of 100 conditions then spends 16 s compiling. A
	// connection string may still ask for it.
	if _, set := cfg.RuntimeParams["jit"]; !set {
		cfg.RuntimeParams["jit"] = "off"
	}
	sqldb := stdlib.OpenDB(*cfg)
	sqldb.SetMaxOpenConns(max(8, 4*runtime.NumCPU()))
	sqldb.SetMaxIdleConns(max(8, 4*runtime.NumCPU()))
	db := bun.NewDB(sqldb, pgdialect.New())
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("database: ping pg: %w", err)
	}
	o.Logger.Debug("opened postgres database", "database", dbName, "plugin", o.PluginID)
	return &DB{Write: db, Read: db, dialect: DialectPostgres}, nil
}

// postgresDSN builds a pgx URL. It reports the database name and whether it
// is the default per-plugin one that Backstage creates on demand.
func postgresDSN(o Options) (dsn, dbName string, create bool, err error) {
	switch c := o.Connection.(type) {
	case string:
		if c == "" {
			return "", "", false, errors.New("database: empty pg connection string")
		}
		return c, "", false, nil
	case map[string]any:
		get := func(k string) string {
			switch v := c[k].(type) {
			case string:
				return v
			case nil:
				return ""
			default:
				return fmt.Sprint(v)
			}
		}
		host, port := get("host"), get("port")
		if host == "" {
			host = "127.0.0.1"
		}
		if port == "" {
			port = "5432"
		}
		dbName = get("database")
		if dbName == "" {
			if o.PluginID == "" {
				return "", "", false, errors.New("database: pg connection without database needs a plugin id")
			}
			dbName = "backstage_plugin_" + o.PluginID
			create = true
		}
		u := url.URL{Scheme: "postgres", Host: host + ":" + port, Path: "/" + dbName}
		if user := get("user"); user != "" {
			if pw := get("password"); pw != "" {
				u.User = url.UserPassword(user, pw)
			} else {
				u.User = url.User(user)
			}
		}
		q := url.Values{}
		if ssl := get("sslmode"); ssl != "" {
			q.Set("sslmode", ssl)
		} else {
			q.Set("sslmode", "disable")
		}
		if schema := get("schema"); schema != "" {
			q.Set("search_path", schema)
		}
		u.RawQuery = q.Encode()
		return u.String(), dbName, create, nil
	default:
		return "", "", false, fmt.Errorf("database: unsupported pg connection %T", o.Connection)
	}
}

// ensurePostgresDatabase creates dbName through the maintenance database
// when it does not exist yet.
func ensurePostgresDatabase(ctx context.Context, dsn, dbName string) error {
	u, err := url.Parse(dsn)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	u.Path = "/postgres"
	admin, err := sql.Open("pgx", u.String())
	if err != nil {
		return fmt.Errorf("database: open pg: %w", err)
	}
	defer admin.Close()
	var exists bool
	if err := admin.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", dbName).Scan(&exists); err != nil {
		return fmt.Errorf("database: look up %s: %w", dbName, err)
	}
	if exists {
		return nil
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+QuoteIdent(dbName)); err != nil && !strings.Contains(err.Error(), "already exists") {
		return fmt.Errorf("database: create %s: %w", dbName, err)
	}
	return nil
}

// QuoteIdent quotes a PostgreSQL identifier.
func QuoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
