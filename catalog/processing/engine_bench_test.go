package processing_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/understage/understage/catalog/model"
	"github.com/understage/understage/catalog/orggen"
	"github.com/understage/understage/catalog/processing"
	"github.com/understage/understage/catalog/sqlstore"
	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/plugins/backend/database/databasetest"
)

func writeGenerated(tb testing.TB, dir string, n int) string {
	tb.Helper()
	var b strings.Builder
	types := []string{"service", "website", "library"}
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: gen-%05d\n  description: Generated component %d\n  tags: [gen, t%d]\nspec:\n  type: %s\n  lifecycle: production\n  owner: team-%d\n  system: system-%d\n", i, i, i%10, types[i%3], i%20, i%50)
	}
	p := filepath.Join(dir, "gen.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

// BenchmarkIngest measures a whole ingest of N generated components from a
// file location into SQLite: reading, processing, writing and stitching.
func BenchmarkIngest10k(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		file := writeGenerated(b, dir, 10000)
		ctx := context.Background()
		db, err := database.Open(ctx, database.Options{Client: "better-sqlite3", Connection: filepath.Join(dir, "c.sqlite"), PluginID: "catalog"})
		if err != nil {
			b.Fatal(err)
		}
		store, err := sqlstore.New(ctx, db, nil)
		if err != nil {
			b.Fatal(err)
		}
		rules, _ := model.NewRules(nil, nil)
		eng := processing.New(processing.Options{Store: store, Readers: map[string]processing.LocationReader{"file": processing.FileReader{}}, Rules: rules})
		p := &processing.ConfigLocationsProvider{Locations: []processing.LocationSpec{{Type: "file", Target: file}}}
		b.StartTimer()
		if err := p.Connect(ctx, store); err != nil {
			b.Fatal(err)
		}
		runUntilIdle(ctx, b, eng)
		b.StopTimer()
		db.Close()
	}
}

// BenchmarkIngestOrg measures a whole ingest of a generated organisation
// (catalog/orggen; UNDERSTAGE_BENCH_N entities, default 5000) into SQLite
// (in memory, as cmd/benchcmp -db memory runs, and in a file) and PostgreSQL, with relations and their stitching. With -cpuprofile it
// shows where ingest time goes as the catalog grows.
func BenchmarkIngestOrg(b *testing.B) {
	n := 5000
	if v, err := strconv.Atoi(os.Getenv("UNDERSTAGE_BENCH_N")); err == nil && v > 0 {
		n = v
	}
	for _, tc := range []struct {
		name string
		opts func(dir string) database.Options
	}{
		{"memory", func(string) database.Options {
			return database.Options{Client: "better-sqlite3", Connection: ":memory:"}
		}},
		{"sqlite", func(dir string) database.Options {
			return database.Options{Client: "better-sqlite3", Connection: filepath.Join(dir, "c.sqlite")}
		}},
		{"pg", func(string) database.Options { return databasetest.PG(b) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				dir := b.TempDir()
				_, parts, _, err := orggen.Write(dir, n)
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				o := tc.opts(dir)
				o.PluginID = "catalog"
				db, err := database.Open(ctx, o)
				if err != nil {
					b.Fatal(err)
				}
				store, err := sqlstore.New(ctx, db, nil)
				if err != nil {
					b.Fatal(err)
				}
				rules, _ := model.NewRules([]model.Rule{{Allow: []model.RuleKind{{Kind: "Component"}, {Kind: "System"}, {Kind: "API"}, {Kind: "Resource"}, {Kind: "Location"}, {Kind: "Group"}, {Kind: "User"}, {Kind: "Domain"}}}}, nil)
				eng := processing.New(processing.Options{Store: store, Readers: map[string]processing.LocationReader{"file": processing.FileReader{}}, Rules: rules, AllowedLocationTypes: []string{"url", "file"}})
				var locs []processing.LocationSpec
				for _, part := range parts {
					locs = append(locs, processing.LocationSpec{Type: "file", Target: part})
				}
				p := &processing.ConfigLocationsProvider{Locations: locs}
				b.StartTimer()
				if err := p.Connect(ctx, store); err != nil {
					b.Fatal(err)
				}
				runUntilIdle(ctx, b, eng)
				b.StopTimer()
				db.Close()
			}
		})
	}
}

// runUntilIdle runs the engine's rounds until one finds nothing to do.
func runUntilIdle(ctx context.Context, b *testing.B, eng *processing.Engine) {
	b.Helper()
	for {
		worked, err := eng.RunOnce(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if !worked {
			return
		}
	}
}
