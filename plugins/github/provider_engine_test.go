package github_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/processing"
	"github.com/understage/understage/catalog/sqlstore"
	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/plugins/github"
	"github.com/understage/understage/plugins/github/githubtest"
)

// storeRefresher is what the catalog does with the webhook's URLs: refresh
// the generated Location entity of each target (unknown ones are absent).
type storeRefresher struct{ store *sqlstore.Store }

func (r storeRefresher) RefreshLocations(ctx context.Context, urls []string) error {
	for _, u := range urls {
		sum := sha1.Sum([]byte("url:" + u))
		err := r.store.RequestRefresh(ctx, "location:default/generated-"+hex.EncodeToString(sum[:]))
		if err != nil && !strings.Contains(strings.ToLower(err.Error()), "not found") {
			return err
		}
	}
	return nil
}

// TestDiscoveryThroughEngine drives the real store and engine: discovered
// repositories end up as stitched entities, a failing listing keeps them,
// and a push refreshes the changed file.
func TestDiscoveryThroughEngine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := githubtest.New(t)
	addRepos(srv, "acme", 20)
	srv.AddRepo(githubtest.Repo{Owner: "acme", Name: "no-catalog", Files: map[string]string{"README.md": "x"}})

	db, err := database.Open(ctx, database.Options{Client: "better-sqlite3",
		Connection: filepath.Join(t.TempDir(), "catalog.sqlite"), PluginID: "catalog"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := sqlstore.New(ctx, db, quiet)
	if err != nil {
		t.Fatal(err)
	}
	client, err := github.NewClient(github.Integration{Host: "github.test", APIBaseURL: srv.APIURL()},
		github.ClientOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	readers := catalog.NewURLReaders()
	reader := github.NewReader(client)
	readers.Register("github", reader.Claims, reader)
	eng := processing.New(processing.Options{Store: store, Logger: quiet,
		Readers: map[string]processing.LocationReader{"url": processing.URLLocationReader{Readers: readers}}})
	drain := func() {
		t.Helper()
		dctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := eng.Drain(dctx); err != nil {
			t.Fatal(err)
		}
	}
	components := func() map[string]map[string]string {
		t.Helper()
		res, err := store.ListEntities(ctx, catalog.EntitiesRequest{
			Filter: catalog.Field{Key: "kind", Op: catalog.OpIn, Values: []string{"component"}}})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]map[string]string{}
		for _, raw := range res.Entities {
			var e struct {
				Metadata struct {
					Name        string            `json:"name"`
					Annotations map[string]string `json:"annotations"`
				} `json:"metadata"`
			}
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatal(err)
			}
			out[e.Metadata.Name] = e.Metadata.Annotations
		}
		return out
	}

	p := providersFor(t, srv, discoveryCfg(nil), nil)[0]
	if err := p.Run(ctx, store); err != nil {
		t.Fatal(err)
	}
	drain()
	got := components()
	if len(got) != 20 {
		t.Fatalf("%d components stitched, want 20", len(got))
	}
	loc := "url:https://github.test/acme/repo-003/blob/main/catalog-info.yaml"
	if a := got["comp-003"]; a["backstage.io/managed-by-location"] != loc || a["backstage.io/managed-by-origin-location"] != loc {
		t.Fatalf("comp-003 annotations = %v", a)
	}

	// A listing that fails keeps every entity.
	srv.Fail("/orgs/acme/repos", http.StatusInternalServerError, -1)
	if err := p.Run(ctx, store); err == nil {
		t.Fatal("failing listing succeeded")
	}
	drain()
	if n := len(components()); n != 20 {
		t.Fatalf("%d components after a failed listing", n)
	}
	srv.ClearFailures()

	// A push refreshes the changed file's location only.
	srv.SetFile("acme/repo-003", "catalog-info.yaml",
		"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: renamed}\nspec: {type: service, owner: me, lifecycle: production}\n")
	hook := httptest.NewServer(github.NewWebhook(github.WebhookOptions{Secrets: []string{secret},
		Providers: github.DiscoveryProviders([]github.Provider{p}), Refresher: storeRefresher{store}, Logger: quiet}))
	t.Cleanup(hook.Close)
	b := &webhookBundle{srv: hook}
	if status, body := b.post(t, "push", push("repo-003", "refs/heads/main", commit(nil, []string{"catalog-info.yaml"}, nil)), signed); status != http.StatusAccepted {
		t.Fatalf("%d %s", status, body)
	}
	srv.ResetLog()
	drain()
	got = components()
	if _, ok := got["renamed"]; !ok || len(got) != 20 {
		t.Fatalf("after push: %v", slices.Sorted(maps.Keys(got)))
	}
	if _, ok := got["comp-003"]; ok {
		t.Fatal("old entity still there after the push")
	}
	// Only the pushed repository was read again.
	for _, r := range srv.Requests() {
		if !strings.Contains(r.Path, "/repo-003") {
			t.Fatalf("drain after the push read %s", r.Path)
		}
	}
}

// BenchmarkDiscovery500 is a discovery pass over 500 repositories against
// the local GitHub server: a first pass (empty caches, every page full)
// and an unchanged pass (conditional requests answered 304, no write).
func BenchmarkDiscovery500(b *testing.B) {
	srv := githubtest.New(b)
	addRepos(srv, "acme", 500)
	ctx := context.Background()
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			p := providersFor(b, srv, discoveryCfg(nil), nil)[0]
			store := &fakeStore{}
			b.StartTimer()
			if err := p.Run(ctx, store); err != nil {
				b.Fatal(err)
			}
			if n := len(store.calls[0].entities); n != 500 {
				b.Fatalf("%d entities", n)
			}
		}
	})
	b.Run("unchanged", func(b *testing.B) {
		p := providersFor(b, srv, discoveryCfg(nil), nil)[0]
		store := &fakeStore{}
		if err := p.Run(ctx, store); err != nil {
			b.Fatal(err)
		}
		srv.ResetLog()
		for b.Loop() {
			if err := p.Run(ctx, store); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if n := srv.Count(func(r githubtest.Request) bool { return r.Status != http.StatusNotModified }); n != 0 {
			b.Fatalf("%d requests were not 304", n)
		}
		b.ReportMetric(float64(len(srv.Requests()))/float64(b.N), "requests/op")
	})
}
