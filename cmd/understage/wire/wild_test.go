package wire_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/understage/understage/cmd/understage/wire"
	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/plugins/backend/database/databasetest"
)

// TestWildConfigs starts understage with app-configs that reproduce what
// people write (testdata/wild): each either starts, logging the keys that
// have no effect and warning about unknown ones, or is refused at start-up
// with an error naming every key understage cannot honour.
func TestWildConfigs(t *testing.T) {
	tests := []struct {
		files    []string
		pg       bool     // uses the local PostgreSQL
		refused  []string // keys the start-up error names, in order
		accepted []string // keys logged as having no effect
		unknown  []string // keys warned about
		sections []string // other plugins' sections, logged
	}{
		{files: []string{"everything-demo.yaml"},
			refused: []string{"integrations.gitlab", "integrations.azure", "catalog.processors", "auth.providers.google", "auth.providers.github"}},
		{files: []string{"helm-production.yaml", "overlay-test-database.yaml"}, pg: true,
			unknown: []string{"backend.lighthouseHostname"}, sections: []string{"sentry", "lighthouse"},
			accepted: []string{"techdocs"}},
		{files: []string{"github-discovery.yaml"},
			unknown: []string{"permission.rbac"}, accepted: []string{"techdocs"}},
		{files: []string{"github-app.yaml"},
			refused: []string{"integrations.github[0].apps[0].appId", "integrations.github[0].apps[0].clientId",
				"integrations.github[0].apps[0].clientSecret", "integrations.github[0].apps[0].privateKey", "auth.providers.auth0"}},
		{files: []string{"operations.yaml"},
			refused: []string{"scaffolder.taskTimeout"}},
		{files: []string{"operations.yaml", "overlay-no-timeout.yaml"},
			// The overlay's scaffolder comes first: a later file's keys lead
			// the merged config, as in Backstage.
			accepted: []string{"scaffolder.EXPERIMENTAL_recoverTasks", "catalog.stitchingStrategy",
				"backend.database.knexConfig.pool.min", "backend.database.knexConfig.pool.acquireTimeoutMillis"},
			unknown: []string{"catalog.pollingInterval", "catalog.stitchTimeout"}},
		{files: []string{"local-dev.yaml"}},
		{files: []string{"misindented.yaml"}, unknown: []string{"backend.listen.database"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.files, "+"), func(t *testing.T) {
			dir := t.TempDir()
			env := wildEnv(t, dir)
			if tt.pg {
				pgEnv(t, env)
			}
			var paths []string
			for _, f := range tt.files {
				p := filepath.Join("testdata", "wild", f)
				if f == "overlay-no-timeout.yaml" {
					p = filepath.Join(dir, f)
				}
				paths = append(paths, p)
			}
			cfg, err := config.Load(t.Context(), paths, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			b, err := wire.New(ctx, cfg, slog.New(slog.NewJSONHandler(&logs, nil)))
			if len(tt.refused) > 0 {
				if err == nil {
					b.Close()
					t.Fatal("started")
				}
				var named []string
				for _, line := range strings.Split(err.Error(), "\n")[1:] {
					key, _, _ := strings.Cut(strings.TrimPrefix(line, "  - "), ": ")
					named = append(named, key)
				}
				if !slices.Equal(named, tt.refused) {
					t.Errorf("refused %q\nwant    %q\n%v", named, tt.refused, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			defer b.Close()
			var accepted, unknown, sections []string
			dec := json.NewDecoder(&logs)
			for dec.More() {
				var rec map[string]any
				if err := dec.Decode(&rec); err != nil {
					t.Fatal(err)
				}
				switch rec["msg"] {
				case "config key has no effect in understage":
					accepted = append(accepted, rec["key"].(string))
				case "unknown config key":
					unknown = append(unknown, rec["key"].(string))
				case "config sections of plugins understage does not have are ignored":
					sections = strings.Split(rec["sections"].(string), ", ")
				}
			}
			for _, c := range []struct {
				what      string
				got, want []string
			}{{"accepted", accepted, tt.accepted}, {"unknown", unknown, tt.unknown}, {"sections", sections, tt.sections}} {
				if strings.Join(c.got, ",") != strings.Join(c.want, ",") {
					t.Errorf("%s %q, want %q", c.what, c.got, c.want)
				}
			}
		})
	}
}

// wildEnv is the environment the wild configs read, with their catalog
// files written under dir.
func wildEnv(t *testing.T, dir string) map[string]string {
	t.Helper()
	env := map[string]string{
		"GITHUB_TOKEN": "ghp_example", "GITLAB_TOKEN": "glpat", "AZURE_TOKEN": "az", "CI_TOKEN": "ci", "METRICS_TOKEN": "m",
		"GOOGLE_CLIENT_ID": "g", "GOOGLE_CLIENT_SECRET": "gs", "GITHUB_CLIENT_ID": "h", "GITHUB_CLIENT_SECRET": "hs",
		"CI_STATIC_TOKEN": "ci-static-token-0123", "BACKEND_SECRET": "c2VjcmV0c2VjcmV0c2VjcmV0",
		"GH_APP_CLIENT_ID": "Iv1", "GH_APP_CLIENT_SECRET": "s", "GH_APP_PRIVATE_KEY": "k", "GH_APP_WEBHOOK_SECRET": "w",
		"AUTH_SESSION_SECRET": "sess", "AUTH0_CLIENT_ID": "a", "AUTH0_CLIENT_SECRET": "as",
		"DATA_DIR": filepath.Join(dir, "data"), "WORK_DIR": filepath.Join(dir, "work"), "CATALOG_DIR": filepath.Join(dir, "catalog"),
	}
	writeFile(t, filepath.Join(dir, "catalog", "all.yaml"), componentsYAML)
	writeFile(t, filepath.Join(dir, "catalog", "org.yaml"), "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team-a}\nspec: {type: team, children: []}\n")
	writeFile(t, filepath.Join(dir, "overlay-no-timeout.yaml"), "scaffolder:\n  taskTimeout: null\n")
	return env
}

// TestEveryKeyReadIsInTheTable builds the backend from the wild configs
// while recording every config key it reads, present or not: each must be in
// the key table, or an operator who sets it would be told it is unknown.
func TestEveryKeyReadIsInTheTable(t *testing.T) {
	for _, files := range [][]string{{"local-dev.yaml"}, {"github-discovery.yaml"}, {"misindented.yaml"}} {
		t.Run(strings.Join(files, "+"), func(t *testing.T) {
			dir := t.TempDir()
			env := wildEnv(t, dir)
			var paths []string
			for _, f := range files {
				paths = append(paths, filepath.Join("testdata", "wild", f))
			}
			cfg, err := config.Load(t.Context(), paths, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
			if err != nil {
				t.Fatal(err)
			}
			reads := cfg.TrackReads()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			b, err := wire.New(ctx, cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if err := b.Engine.Drain(ctx); err != nil {
				t.Fatal(err)
			}
			keys := reads()
			if len(keys) < 50 {
				t.Fatalf("only %d keys recorded: %q", len(keys), keys)
			}
			for _, k := range keys {
				if !config.KeyKnown(k) {
					t.Errorf("the backend reads %s, which plugins/backend/config/keys.go does not list", k)
				}
			}
		})
	}
}

// pgEnv points the POSTGRES_* variables at the local server and gives the
// plugins' databases a prefix of their own, dropped when the test ends.
func pgEnv(t *testing.T, env map[string]string) {
	t.Helper()
	databasetest.PG(t) // skips without a server
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	prefix := "understage_wild_" + hex.EncodeToString(b[:]) + "_"
	env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_USER"], env["POSTGRES_PASSWORD"] = "127.0.0.1", "5432", "postgres", "unused"
	env["TEST_DB_PREFIX"] = prefix
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
		if err != nil {
			t.Error(err)
			return
		}
		defer admin.Close()
		for _, p := range []string{"catalog", "auth", "scaffolder"} {
			if _, err := admin.Exec("DROP DATABASE IF EXISTS " + database.QuoteIdent(prefix+p) + " WITH (FORCE)"); err != nil {
				t.Error(err)
			}
		}
	})
}
