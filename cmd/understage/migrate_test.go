package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMigrateCommand: `understage migrate` prepares every plugin's
// database and exits; `serve` with backend.database.skipMigrations refuses
// an unmigrated database, naming the command, and serves a migrated one.
func TestMigrateCommand(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "app-config.yaml")
	conf := fmt.Sprintf("backend:\n  listen: {host: 127.0.0.1, port: 0}\n  database:\n    client: better-sqlite3\n    connection: {directory: %q}\n    skipMigrations: true\n", filepath.Join(dir, "data"))
	if err := os.WriteFile(cfgPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	serve := func() (int, string) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		stderr := &cancelOn{word: "msg=listening", cancel: cancel}
		code := run(ctx, []string{"serve", "--config", cfgPath, "--log-format", "text"}, &bytes.Buffer{}, stderr)
		return code, stderr.String()
	}
	if code, out := serve(); code != 1 || !strings.Contains(out, "understage migrate") {
		t.Fatalf("serve before migrate: exit %d, want 1 naming `understage migrate`\n%s", code, out)
	}
	for i := range 2 { // a second run finds nothing to do
		var stderr bytes.Buffer
		if code := run(context.Background(), []string{"migrate", "--config", cfgPath, "--log-format", "text"}, &bytes.Buffer{}, &stderr); code != 0 {
			t.Fatalf("migrate #%d: exit %d\n%s", i+1, code, stderr.String())
		}
		for _, p := range []string{"catalog", "auth", "scaffolder"} {
			if !strings.Contains(stderr.String(), "msg=\"database migrated\" plugin="+p) {
				t.Errorf("migrate #%d: no line for %s\n%s", i+1, p, stderr.String())
			}
		}
	}
	if code, out := serve(); code != 0 || !strings.Contains(out, "msg=stopped") {
		t.Fatalf("serve after migrate: exit %d\n%s", code, out)
	}
}
