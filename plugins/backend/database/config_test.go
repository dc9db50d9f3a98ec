package database_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/plugins/backend/database/databasetest"
)

func loadYAML(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.LoadBytes([]byte(yaml), filepath.Join(t.TempDir(), "app-config.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestConfigOptions reads backend.database per plugin as Backstage's
// database service does.
func TestConfigOptions(t *testing.T) {
	t.Parallel()
	pgBase := "    client: pg\n    connection: {host: db.example.com, port: 5433, user: u, password: pw, database: shared}\n"
	tests := []struct {
		name   string
		yaml   string
		plugin string
		want   database.Options
		err    string
	}{
		{name: "no database config", yaml: "backend: {}\n", plugin: "catalog",
			want: database.Options{Client: "better-sqlite3", Connection: ":memory:", PluginID: "catalog"}},
		{name: "sqlite directory", yaml: "backend:\n  database:\n    client: better-sqlite3\n    connection: {directory: /data}\n", plugin: "auth",
			want: database.Options{Client: "better-sqlite3", Connection: map[string]any{"directory": "/data"}, PluginID: "auth"}},
		{name: "pg: the base connection's database is not used", yaml: "backend:\n  database:\n" + pgBase, plugin: "catalog",
			want: database.Options{Client: "pg", PluginID: "catalog", Database: "backstage_plugin_catalog",
				Connection: map[string]any{"host": "db.example.com", "port": float64(5433), "user": "u", "password": "pw"}}},
		{name: "pg: pluginDivisionMode database is the default", yaml: "backend:\n  database:\n" + pgBase + "    pluginDivisionMode: database\n", plugin: "catalog",
			want: database.Options{Client: "pg", PluginID: "catalog", Database: "backstage_plugin_catalog",
				Connection: map[string]any{"host": "db.example.com", "port": float64(5433), "user": "u", "password": "pw"}}},
		{name: "pg: prefix", yaml: "backend:\n  database:\n" + pgBase + "    prefix: bs_\n", plugin: "scaffolder",
			want: database.Options{Client: "pg", PluginID: "scaffolder", Database: "bs_scaffolder", Prefix: "bs_",
				Connection: map[string]any{"host": "db.example.com", "port": float64(5433), "user": "u", "password": "pw"}}},
		{name: "pg: a plugin connection overrides fields and names its database",
			yaml:   "backend:\n  database:\n" + pgBase + "    plugin:\n      catalog:\n        connection: {host: other.example.com, database: cat}\n        ensureExists: false\n",
			plugin: "catalog",
			want: database.Options{Client: "pg", PluginID: "catalog", Database: "cat", NoCreate: true,
				Connection: map[string]any{"host": "other.example.com", "port": float64(5433), "user": "u", "password": "pw", "database": "cat"}}},
		{name: "pg: other plugins keep the base", yaml: "backend:\n  database:\n" + pgBase + "    plugin:\n      catalog:\n        connection: {database: cat}\n",
			plugin: "auth",
			want: database.Options{Client: "pg", PluginID: "auth", Database: "backstage_plugin_auth",
				Connection: map[string]any{"host": "db.example.com", "port": float64(5433), "user": "u", "password": "pw"}}},
		{name: "a plugin with its own client takes nothing from the base",
			yaml:   "backend:\n  database:\n" + pgBase + "    plugin:\n      auth:\n        client: better-sqlite3\n        connection: ':memory:'\n",
			plugin: "auth",
			want:   database.Options{Client: "better-sqlite3", Connection: ":memory:", PluginID: "auth"}},
		{name: "base ensureExists and pool size, plugin pool size wins",
			yaml:   "backend:\n  database:\n" + pgBase + "    ensureExists: false\n    knexConfig: {pool: {max: 3}}\n    plugin:\n      catalog: {knexConfig: {pool: {max: 5}}}\n",
			plugin: "catalog",
			want: database.Options{Client: "pg", PluginID: "catalog", Database: "backstage_plugin_catalog", NoCreate: true, MaxConns: 5,
				Connection: map[string]any{"host": "db.example.com", "port": float64(5433), "user": "u", "password": "pw"}}},
		{name: "pg connection string: its database is not used", yaml: "backend:\n  database:\n    client: pg\n    connection: postgres://u@h:5432/shared\n", plugin: "catalog",
			want: database.Options{Client: "pg", PluginID: "catalog", Database: "backstage_plugin_catalog", Connection: "postgres://u@h:5432/shared"}},
		{name: "pg without connection", yaml: "backend:\n  database:\n    client: pg\n", plugin: "catalog", err: "backend.database.connection"},
		{name: "object over a connection string", yaml: "backend:\n  database:\n    client: pg\n    connection: postgres://u@h/x\n    plugin:\n      catalog: {connection: {database: c}}\n",
			plugin: "catalog", err: "backend.database.plugin.catalog.connection"},
		{name: "pool max below 1", yaml: "backend:\n  database:\n    client: pg\n    connection: {host: h}\n    knexConfig: {pool: {max: 0}}\n",
			plugin: "catalog", err: "knexConfig.pool.max"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := database.ConfigOptions(loadYAML(t, tt.yaml), tt.plugin, nil)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, want an error about %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Numbers from YAML arrive as ojson numbers turned into float64.
			if m, ok := got.Connection.(map[string]any); ok {
				for k, v := range m {
					if n, ok := v.(interface{ Float() float64 }); ok {
						m[k] = n.Float()
					}
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

// pgAdmin opens the local server's maintenance database (skips without it).
func pgAdmin(t *testing.T) *sql.DB {
	t.Helper()
	databasetest.PG(t) // skips when PostgreSQL is unreachable
	db, err := sql.Open("pgx", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestPostgresDatabaseNaming opens plugins' databases through config on
// the local server: one database per plugin, <prefix><plugin>, created
// when missing unless ensureExists is false; pool.max bounds the pool.
func TestPostgresDatabaseNaming(t *testing.T) {
	admin := pgAdmin(t)
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	prefix := "understage_prefix_" + hex.EncodeToString(b[:]) + "_"
	t.Cleanup(func() {
		for _, p := range []string{"catalog", "auth"} {
			if _, err := admin.Exec("DROP DATABASE IF EXISTS " + database.QuoteIdent(prefix+p) + " WITH (FORCE)"); err != nil {
				t.Error(err)
			}
		}
	})
	yaml := fmt.Sprintf(`backend:
  database:
    client: pg
    connection: {host: 127.0.0.1, port: 5432, user: postgres, database: postgres}
    prefix: %s
    knexConfig: {pool: {max: 3}}
    plugin:
      auth: {ensureExists: false}
`, prefix)
	cfg := loadYAML(t, yaml)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	o, err := database.ConfigOptions(cfg, "catalog", nil)
	if err != nil {
		t.Fatal(err)
	}
	db, err := database.Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var name string
	if err := db.Read.QueryRowContext(ctx, "SELECT current_database()").Scan(&name); err != nil || name != prefix+"catalog" {
		t.Fatalf("catalog's database is %q (%v), want %s", name, err, prefix+"catalog")
	}
	if n := db.Write.DB.Stats().MaxOpenConnections; n != 3 {
		t.Errorf("pool max %d, want 3", n)
	}

	o, err = database.ConfigOptions(cfg, "auth", nil)
	if err != nil {
		t.Fatal(err)
	}
	if db, err := database.Open(ctx, o); err == nil {
		db.Close()
		t.Fatal("auth's database was created although ensureExists is false")
	} else if !strings.Contains(err.Error(), prefix+"auth") {
		t.Errorf("error does not name the database: %v", err)
	}
}

// TestPostgresSSL connects to the local server (which offers TLS with a
// self-signed certificate) with node-postgres's ssl forms.
func TestPostgresSSL(t *testing.T) {
	admin := pgAdmin(t)
	var on string
	if err := admin.QueryRow("SHOW ssl").Scan(&on); err != nil || on != "on" {
		t.Skipf("the local PostgreSQL does not offer TLS (ssl = %q, %v)", on, err)
	}
	name := databasetest.PG(t).Connection.(map[string]any)["database"].(string)
	conn := func(ssl any) database.Options {
		c := map[string]any{"host": "127.0.0.1", "port": 5432, "user": "postgres", "database": name}
		if ssl != nil {
			c["ssl"] = ssl
		}
		return database.Options{Client: "pg", Connection: c, PluginID: "catalog"}
	}
	usesTLS := func(t *testing.T, o database.Options) (bool, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db, err := database.Open(ctx, o)
		if err != nil {
			return false, err
		}
		defer db.Close()
		var tls bool
		err = db.Read.QueryRowContext(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&tls)
		return tls, err
	}
	if os.Getenv("PGSSLMODE") == "" {
		if tls, err := usesTLS(t, conn(nil)); err != nil || tls {
			t.Errorf("without ssl: TLS %v, %v; want a plain connection, as node-postgres", tls, err)
		}
	}
	if tls, err := usesTLS(t, conn(map[string]any{"rejectUnauthorized": false})); err != nil || !tls {
		t.Errorf("ssl {rejectUnauthorized: false}: TLS %v, %v", tls, err)
	}
	if _, err := usesTLS(t, conn(true)); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("ssl true with a self-signed server certificate: %v, want a verification error", err)
	}
	for _, bad := range []any{map[string]any{"ca": "not PEM"}, map[string]any{"sslmode": "require"}, "yes"} {
		if _, err := usesTLS(t, conn(bad)); err == nil || !strings.Contains(err.Error(), "connection.ssl") {
			t.Errorf("ssl %v: %v, want an error about connection.ssl", bad, err)
		}
	}
}

// TestSQLiteConnectionForms opens SQLite databases through config: a
// plugin connection's filename, the base connection's directory
// (<directory>/<plugin>.sqlite), and a plugin's own client.
func TestSQLiteConnectionForms(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := loadYAML(t, fmt.Sprintf(`backend:
  database:
    client: better-sqlite3
    connection: {directory: %q}
    plugin:
      auth:
        connection: {filename: %q}
`, dir, filepath.Join(dir, "sub", "auth-keys.db")))
	for plugin, file := range map[string]string{"catalog": "catalog.sqlite", "auth": "sub/auth-keys.db"} {
		o, err := database.ConfigOptions(cfg, plugin, nil)
		if err != nil {
			t.Fatal(err)
		}
		db, err := database.Open(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		if _, err := os.Stat(filepath.Join(dir, file)); err != nil {
			t.Errorf("%s: %v", plugin, err)
		}
	}
}
