package database_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/plugins/backend/database/databasetest"
)

// migrationFS builds a migrations tree with the same files for both dialects.
func migrationFS(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for name, body := range files {
		for _, dir := range []string{"sqlite", "postgres"} {
			m[dir+"/"+name] = &fstest.MapFile{Data: []byte(body)}
		}
	}
	return m
}

func versions(t *testing.T, db *database.DB, table string) []string {
	t.Helper()
	rows, err := db.Write.DB.QueryContext(context.Background(), `SELECT version FROM `+table+` ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func migrateTargets() []struct {
	name string
	opts func(t *testing.T) database.Options
} {
	return []struct {
		name string
		opts func(t *testing.T) database.Options
	}{
		{"sqlite", func(t *testing.T) database.Options {
			return database.Options{Client: "better-sqlite3", Connection: filepath.Join(t.TempDir(), "m.sqlite")}
		}},
		{"pg", func(t *testing.T) database.Options { return databasetest.PG(t) }},
	}
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	first := map[string]string{
		"0002_more.sql": "-- a comment; with a semicolon\nALTER TABLE things ADD COLUMN note TEXT;\nINSERT INTO things (name, note) VALUES ('a;b', 'x');\n",
		"0001_init.sql": "CREATE TABLE things (\n  name TEXT PRIMARY KEY\n);\n",
		"README.md":     "not a migration",
	}
	for _, tc := range migrateTargets() {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db, err := database.Open(ctx, tc.opts(t))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := database.Migrate(ctx, db, "demo_migrations", migrationFS(first)); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(versions(t, db, "demo_migrations"), ","); got != "0001_init,0002_more" {
				t.Fatalf("versions %q", got)
			}
			// Running again applies nothing: a second INSERT would violate the key.
			if err := database.Migrate(ctx, db, "demo_migrations", migrationFS(first)); err != nil {
				t.Fatalf("second run: %v", err)
			}
			// A later release adds a migration; only it runs.
			next := map[string]string{"0003_next.sql": "INSERT INTO things (name) VALUES ('c');"}
			for k, v := range first {
				next[k] = v
			}
			if err := database.Migrate(ctx, db, "demo_migrations", migrationFS(next)); err != nil {
				t.Fatal(err)
			}
			var n int
			if err := db.Write.DB.QueryRowContext(ctx, `SELECT count(*) FROM things`).Scan(&n); err != nil || n != 2 {
				t.Fatalf("things rows %d: %v", n, err)
			}
			// Another plugin's history is kept apart.
			if err := database.Migrate(ctx, db, "other_migrations", migrationFS(map[string]string{"0001_init.sql": "CREATE TABLE others (id TEXT);"})); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(versions(t, db, "other_migrations"), ","); got != "0001_init" {
				t.Fatalf("other versions %q", got)
			}
		})
	}
}

func TestMigrateFailureRollsBack(t *testing.T) {
	t.Parallel()
	bad := map[string]string{
		"0001_init.sql":   "CREATE TABLE things (name TEXT PRIMARY KEY);",
		"0002_broken.sql": "CREATE TABLE half (id TEXT);\nTHIS IS NOT SQL;",
	}
	for _, tc := range migrateTargets() {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db, err := database.Open(ctx, tc.opts(t))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			err = database.Migrate(ctx, db, "demo_migrations", migrationFS(bad))
			if err == nil || !strings.Contains(err.Error(), "migration 0002_broken.sql") {
				t.Fatalf("error %v, want one naming 0002_broken.sql", err)
			}
			if got := strings.Join(versions(t, db, "demo_migrations"), ","); got != "0001_init" {
				t.Fatalf("versions %q", got)
			}
			// The failed migration's first statement was rolled back with it.
			if _, err := db.Write.DB.ExecContext(ctx, `CREATE TABLE half (id TEXT)`); err != nil {
				t.Fatalf("half survived the rollback: %v", err)
			}
		})
	}
}

func TestMigrateErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := database.Open(ctx, database.Options{Client: "sqlite3", Connection: ":memory:"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tests := []struct {
		name, table string
		fs          fstest.MapFS
		want        string
	}{
		{"table not an identifier", "x; DROP TABLE y", migrationFS(nil), "not a plain identifier"},
		{"table empty", "", migrationFS(nil), "not a plain identifier"},
		{"no folder for the dialect", "demo_migrations", fstest.MapFS{"postgres/0001.sql": {Data: []byte("SELECT 1;")}}, "read migrations"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := database.Migrate(ctx, db, tc.table, tc.fs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// Replicas starting together migrate the same database at once; the
// advisory lock makes one wait for the other instead of both creating the
// same table.
func TestMigrateConcurrentPG(t *testing.T) {
	t.Parallel()
	opts := databasetest.PG(t)
	ctx := context.Background()
	files := migrationFS(map[string]string{
		"0001_init.sql": "CREATE TABLE things (name TEXT PRIMARY KEY);\nINSERT INTO things VALUES ('a');",
		"0002_more.sql": "CREATE TABLE more (id TEXT);",
	})
	const replicas = 4
	dbs := make([]*database.DB, replicas)
	for i := range dbs {
		db, err := database.Open(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		dbs[i] = db
	}
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i, db := range dbs {
		wg.Go(func() { errs[i] = database.Migrate(ctx, db, "demo_migrations", files) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	if got := strings.Join(versions(t, dbs[0], "demo_migrations"), ","); got != "0001_init,0002_more" {
		t.Fatalf("versions %q", got)
	}
}
