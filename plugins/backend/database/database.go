// Package database opens a plugin's SQL database the way Backstage's
// backend.database config describes it: SQLite (pure-Go modernc through
// bun's sqliteshim) or PostgreSQL (pgx). It hands out bun handles and hides
// the driver choice; schemas are the plugins' business.
package database

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
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
// backend.database config; ConfigOptions reads them from it.
type Options struct {
	// Client is "better-sqlite3", "sqlite3" or "pg".
	Client string
	// Connection is the plugin's connection. For SQLite: ":memory:", a
	// file path, or a map with "directory" (the file is then
	// <directory>/<PluginID>.sqlite) or "filename". For pg: a connection
	// string or a map with host, port, user, password, database and ssl.
	Connection any
	// PluginID names the plugin's database; required for the directory and
	// default pg database forms.
	PluginID string
	// Database is the pg database to use, overriding the connection's.
	// Empty: the connection's, else Prefix+PluginID.
	Database string
	// Prefix of default pg database names (backend.database.prefix);
	// default "backstage_plugin_".
	Prefix string
	// NoCreate: do not create a missing pg database
	// (backend.database.ensureExists: false).
	NoCreate bool
	// MaxConns bounds the connections of a pool (knexConfig.pool.max);
	// 0 keeps the default.
	MaxConns int
	// SkipMigrations (backend.database.skipMigrations): Migrate only checks
	// that every migration was applied, by `understage migrate`.
	SkipMigrations bool
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

	dialect        string
	skipMigrations bool
	pgConfig       *pgx.ConnConfig // what the pool connects with; nil on SQLite
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
	var db *DB
	var err error
	switch o.Client {
	case "better-sqlite3", "sqlite3", "sqlite":
		db, err = openSQLite(ctx, o)
	case "pg", "postgres", "postgresql":
		db, err = openPostgres(ctx, o)
	default:
		return nil, fmt.Errorf("database: unsupported client %q", o.Client)
	}
	if err != nil {
		return nil, err
	}
	db.skipMigrations = o.SkipMigrations
	return db, nil
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
		//
		// The memdb VFS keeps the database in one growing buffer, as a file's
		// pages; a plain in-memory database keeps every page in the page
		// cache instead, where each 4 KiB page with its header takes an 8 KiB
		// block of the pure-Go SQLite's allocator, twice the memory. The page
		// cache is then only a cache, kept small, and the rollback journal
		// stays in memory.
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
		dsn := sqliteDSN("/understage-"+hex.EncodeToString(b[:]), url.Values{"vfs": {"memdb"}, "_pragma": {"journal_mode(MEMORY)", "cache_size(-2048)"}})
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
	if o.MaxConns > 0 {
		n = o.MaxConns
	}
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
	cc, err := pgConnConfig(o)
	if err != nil {
		return nil, err
	}
	if !o.NoCreate {
		if err := ensurePostgresDatabase(ctx, cc); err != nil {
			return nil, err
		}
	}
	// JIT compiles every sub-plan of a query whose estimated cost passes
	// jit_above_cost, which a fresh database's estimates always do: a
	// catalog filter of 100 conditions then spends 16 s compiling. A
	// connection string may still ask for it.
	if _, set := cc.RuntimeParams["jit"]; !set {
		cc.RuntimeParams["jit"] = "off"
	}
	// pgx prepares and caches statements, and after five runs PostgreSQL
	// may keep one generic plan for every argument: a catalog filter on a
	// common value and one on a rare value then share one plan, which is
	// wrong for one of them by orders of magnitude. Planning each run costs
	// well under a millisecond for these queries.
	if _, set := cc.RuntimeParams["plan_cache_mode"]; !set {
		cc.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	}
	sqldb := stdlib.OpenDB(*cc)
	n := max(8, 4*runtime.NumCPU())
	if o.MaxConns > 0 {
		n = o.MaxConns
	}
	sqldb.SetMaxOpenConns(n)
	sqldb.SetMaxIdleConns(n)
	db := bun.NewDB(sqldb, pgdialect.New())
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("database: ping pg %s: %w", cc.Database, err)
	}
	o.Logger.Debug("opened postgres database", "database", cc.Database, "plugin", o.PluginID)
	return &DB{Write: db, Read: db, dialect: DialectPostgres, pgConfig: cc}, nil
}

// pgConnConfig builds the pgx connection config of o: a connection string
// as pgx parses it (URL or key=value), or a map with host, port, user,
// password, database and node-postgres's ssl option. Without ssl a map
// connection does not use TLS, as node-postgres, unless PGSSLMODE says so.
// The database is o.Database, else the connection's, else
// Prefix+PluginID.
func pgConnConfig(o Options) (*pgx.ConnConfig, error) {
	var cc *pgx.ConnConfig
	var err error
	switch c := o.Connection.(type) {
	case string:
		if c == "" {
			return nil, errors.New("database: empty pg connection string")
		}
		if cc, err = pgx.ParseConfig(c); err != nil {
			return nil, fmt.Errorf("database: pg connection string: %w", err)
		}
		named := strings.Contains(c, "dbname=")
		if strings.Contains(c, "://") {
			named = pgURLDatabase(c) != ""
		}
		if !named {
			cc.Database = "" // not pgx's environment default: the plugin's own
		}
	case map[string]any:
		for k := range c {
			if !slices.Contains(pgConnectionKeys, k) {
				return nil, fmt.Errorf("database: connection.%s is not a PostgreSQL connection option understage knows (%s)", k, strings.Join(pgConnectionKeys, ", "))
			}
		}
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
		kv := []string{"host", "127.0.0.1", "port", "5432", "user", get("user"), "password", get("password"), "dbname", get("database")}
		if h := get("host"); h != "" {
			kv[1] = h
		}
		if p := get("port"); p != "" {
			kv[3] = p
		}
		if c["ssl"] == nil || c["ssl"] == false {
			if os.Getenv("PGSSLMODE") == "" {
				kv = append(kv, "sslmode", "disable")
			}
		} else {
			kv = append(kv, "sslmode", "require")
		}
		var b strings.Builder
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				continue
			}
			fmt.Fprintf(&b, "%s='%s' ", kv[i], strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(kv[i+1]))
		}
		if cc, err = pgx.ParseConfig(b.String()); err != nil {
			return nil, fmt.Errorf("database: pg connection: %w", err)
		}
		if get("database") == "" {
			cc.Database = ""
		}
		if t, err := sslConfig(c["ssl"], cc.Host); err != nil {
			return nil, err
		} else if t != nil {
			cc.TLSConfig, cc.Fallbacks = t, nil
		}
	default:
		return nil, fmt.Errorf("database: unsupported pg connection %T", o.Connection)
	}
	switch {
	case o.Database != "":
		cc.Database = o.Database
	case cc.Database == "":
		if o.PluginID == "" {
			return nil, errors.New("database: pg connection without database needs a plugin id")
		}
		prefix := o.Prefix
		if prefix == "" {
			prefix = DefaultPrefix
		}
		cc.Database = prefix + o.PluginID
	}
	return cc, nil
}

// DefaultPrefix is Backstage's prefix of per-plugin database names.
const DefaultPrefix = "backstage_plugin_"

// pgConnectionKeys are the keys of a pg connection map understage reads.
var pgConnectionKeys = []string{"host", "port", "user", "password", "database", "ssl"}

// pgURLDatabase is the database path of a postgres:// URL.
func pgURLDatabase(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(u.Path, "/")
}

// sslConfig turns node-postgres's ssl option into a TLS config: true
// verifies the server with the system's roots; an object may set
// rejectUnauthorized (false: no verification), ca, cert and key (PEM
// text). nil means no TLS.
func sslConfig(v any, host string) (*tls.Config, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case bool:
		if !t {
			return nil, nil
		}
		return &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}, nil
	case map[string]any:
		c := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		var cert, key string
		for k, v := range t {
			switch k {
			case "rejectUnauthorized":
				b, ok := v.(bool)
				if !ok {
					return nil, errors.New("database: connection.ssl.rejectUnauthorized must be a boolean")
				}
				c.InsecureSkipVerify = !b //nolint:gosec // node-postgres's rejectUnauthorized: false, asked for in config
			case "ca":
				pool := x509.NewCertPool()
				pems, _ := v.([]any)
				if s, ok := v.(string); ok {
					pems = []any{s}
				}
				for _, p := range pems {
					s, _ := p.(string)
					if !pool.AppendCertsFromPEM([]byte(s)) {
						return nil, errors.New("database: connection.ssl.ca holds no PEM certificate")
					}
				}
				if len(pems) == 0 {
					return nil, errors.New("database: connection.ssl.ca must be PEM text or a list of them")
				}
				c.RootCAs = pool
			case "cert":
				cert, _ = v.(string)
			case "key":
				key, _ = v.(string)
			default:
				return nil, fmt.Errorf("database: connection.ssl.%s is not supported (rejectUnauthorized, ca, cert, key)", k)
			}
		}
		if cert != "" || key != "" {
			pair, err := tls.X509KeyPair([]byte(cert), []byte(key))
			if err != nil {
				return nil, fmt.Errorf("database: connection.ssl cert and key: %w", err)
			}
			c.Certificates = []tls.Certificate{pair}
		}
		return c, nil
	}
	return nil, errors.New("database: connection.ssl must be a boolean or an object")
}

// ensurePostgresDatabase creates cc's database through the maintenance
// database when it does not exist yet.
func ensurePostgresDatabase(ctx context.Context, cc *pgx.ConnConfig) error {
	admin := cc.Copy()
	admin.Database = "postgres"
	db := stdlib.OpenDB(*admin)
	defer db.Close()
	var exists bool
	if err := db.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", cc.Database).Scan(&exists); err != nil {
		return fmt.Errorf("database: failed to connect to the database to make sure that '%s' exists: %w", cc.Database, err)
	}
	if exists {
		return nil
	}
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+QuoteIdent(cc.Database)); err != nil && !strings.Contains(err.Error(), "already exists") {
		return fmt.Errorf("database: create %s: %w", cc.Database, err)
	}
	return nil
}

// QuoteIdent quotes a PostgreSQL identifier.
func QuoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
