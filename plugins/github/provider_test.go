package github_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/plugins/github"
	"github.com/understage/understage/plugins/github/githubtest"
)

// fakeStore records the mutations providers apply. Only the mutation
// methods are implemented; anything else panics through the nil embed.
type fakeStore struct {
	catalog.ProcessingStore
	mu    sync.Mutex
	calls []mutation
}

type mutation struct {
	provider string
	entities []catalog.DeferredEntity
}

func (s *fakeStore) ApplyFullMutation(_ context.Context, provider string, ents []catalog.DeferredEntity) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, mutation{provider, slices.Clone(ents)})
	return nil
}

func (s *fakeStore) mutations() []mutation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func (s *fakeStore) last(t *testing.T) mutation {
	t.Helper()
	m := s.mutations()
	if len(m) == 0 {
		t.Fatal("no mutation applied")
	}
	return m[len(m)-1]
}

var quiet = slog.New(slog.DiscardHandler)

// providersFor builds the providers of a config whose integrations point at
// srv (host github.test), with sleeps recorded instead of waited.
func providersFor(t testing.TB, srv *githubtest.Server, catalogCfg map[string]any, sl *sleepLog) []github.Provider {
	t.Helper()
	if sl == nil {
		sl = &sleepLog{}
	}
	return providersWith(t, srv, catalogCfg, github.ClientOptions{Sleep: sl.sleep})
}

func providersWith(t testing.TB, srv *githubtest.Server, catalogCfg map[string]any, co github.ClientOptions) []github.Provider {
	t.Helper()
	cfg := config.FromValue(map[string]any{
		"integrations": map[string]any{"github": []any{
			map[string]any{"host": "github.test", "apiBaseUrl": srv.APIURL()},
		}},
		"catalog": map[string]any{"providers": catalogCfg},
	}, "app-config.yaml")
	co.MaxRateLimitWait = time.Hour
	ps, err := github.Providers(context.Background(), cfg, github.ProviderOptions{Logger: quiet, Client: co})
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

var everyHour = map[string]any{"frequency": map[string]any{"hours": 1}, "timeout": "PT5M"}

func discoveryCfg(extra map[string]any) map[string]any {
	c := map[string]any{"organization": "acme", "host": "github.test", "schedule": everyHour}
	for k, v := range extra {
		c[k] = v
	}
	return map[string]any{"github": map[string]any{"main": c}}
}

func addRepos(srv *githubtest.Server, org string, n int) {
	for i := range n {
		srv.AddRepo(githubtest.Repo{Owner: org, Name: fmt.Sprintf("repo-%03d", i), Files: map[string]string{
			"catalog-info.yaml": fmt.Sprintf("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: comp-%03d}\nspec: {type: service, owner: me, lifecycle: production}\n", i),
		}})
	}
}

func targets(m mutation) []string {
	var out []string
	for _, e := range m.entities {
		out = append(out, e.Entity.Object("spec").String("target"))
	}
	slices.Sort(out)
	return out
}

func TestDiscoveryProvider(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := githubtest.New(t)
	addRepos(srv, "acme", 50)
	srv.AddRepo(githubtest.Repo{Owner: "other", Name: "elsewhere"})
	ps := providersFor(t, srv, discoveryCfg(nil), nil)
	if len(ps) != 1 || ps[0].Name() != "github-provider:main" {
		t.Fatalf("providers = %v", ps)
	}
	p := ps[0]
	store := &fakeStore{}
	if err := p.Run(ctx, store); err != nil {
		t.Fatal(err)
	}
	m := store.last(t)
	if m.provider != "github-provider:main" || len(m.entities) != 50 {
		t.Fatalf("mutation by %s with %d entities", m.provider, len(m.entities))
	}
	// The entity Backstage's locationSpecToLocationEntity builds for the
	// target, keyed by the provider name.
	e := m.entities[7]
	target := "https://github.test/acme/repo-007/blob/main/catalog-info.yaml"
	want := `{"apiVersion":"backstage.io/v1alpha1","kind":"Location","metadata":{"annotations":{` +
		`"backstage.io/managed-by-location":"url:` + target + `","backstage.io/managed-by-origin-location":"url:` + target + `"},` +
		`"name":"generated-`
	if got := string(ojson.MustMarshal(e.Entity)); !strings.HasPrefix(got, want) ||
		!strings.HasSuffix(got, `"spec":{"type":"url","target":"`+target+`","presence":"optional"}}`) {
		t.Fatalf("entity = %s", got)
	}
	if e.LocationKey != "github-provider:main" {
		t.Fatalf("locationKey = %q", e.LocationKey)
	}

	// An unchanged organisation costs only conditional requests answered
	// 304, and no write.
	srv.ResetLog()
	if err := p.Run(ctx, store); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if len(reqs) == 0 {
		t.Fatal("second pass made no request")
	}
	for _, r := range reqs {
		if !r.Conditional || r.Status != http.StatusNotModified {
			t.Fatalf("second pass request %+v is not a conditional 304", r)
		}
	}
	if n := len(store.mutations()); n != 1 {
		t.Fatalf("unchanged pass applied a mutation (%d in all)", n)
	}

	// A new repository is picked up by the next pass.
	addRepos(srv, "acme", 51)
	if err := p.Run(ctx, store); err != nil {
		t.Fatal(err)
	}
	if m := store.last(t); len(m.entities) != 51 || !slices.Contains(targets(m), "https://github.test/acme/repo-050/blob/main/catalog-info.yaml") {
		t.Fatalf("after adding a repository: %d entities", len(m.entities))
	}
}

func TestDiscoveryFilters(t *testing.T) {
	t.Parallel()
	srv := githubtest.New(t)
	for _, r := range []githubtest.Repo{
		{Name: "svc-a", Topics: []string{"backstage", "team-a"}},
		{Name: "svc-b", Topics: []string{"backstage", "experiment"}},
		{Name: "svc-fork", Fork: true, Topics: []string{"backstage"}},
		{Name: "svc-old", Archived: true},
		{Name: "lib-x", Private: true, DefaultBranch: "trunk"},
		{Name: "docs"},
	} {
		r.Owner = "acme"
		srv.AddRepo(r)
	}
	url := func(name string) string {
		branch := "main"
		if name == "lib-x" {
			branch = "trunk"
		}
		return "https://github.test/acme/" + name + "/blob/" + branch + "/catalog-info.yaml"
	}
	urls := func(names ...string) []string {
		var out []string
		for _, n := range names {
			out = append(out, url(n))
		}
		slices.Sort(out)
		return out
	}
	tests := []struct {
		name    string
		filters map[string]any
		extra   map[string]any
		want    []string
	}{
		{"defaults drop archived only", nil, nil, urls("svc-a", "svc-b", "svc-fork", "lib-x", "docs")},
		{"repository regex is anchored", map[string]any{"repository": "svc-.*"}, nil, urls("svc-a", "svc-b", "svc-fork")},
		{"regex without wildcard matches whole names", map[string]any{"repository": "svc"}, nil, nil},
		{"topic include", map[string]any{"topic": map[string]any{"include": []any{"backstage"}}}, nil, urls("svc-a", "svc-b", "svc-fork")},
		{"topic exclude", map[string]any{"topic": map[string]any{"exclude": []any{"experiment"}}}, nil, urls("svc-a", "svc-fork", "lib-x", "docs")},
		{"exclude wins over include", map[string]any{"topic": map[string]any{"include": []any{"backstage"}, "exclude": []any{"experiment"}}}, nil, urls("svc-a", "svc-fork")},
		{"no forks", map[string]any{"allowForks": false}, nil, urls("svc-a", "svc-b", "lib-x", "docs")},
		{"archived allowed", map[string]any{"allowArchived": true}, nil, urls("svc-a", "svc-b", "svc-fork", "svc-old", "lib-x", "docs")},
		{"visibility", map[string]any{"visibility": []any{"private"}}, nil, urls("lib-x")},
		{"branch replaces the default branch", map[string]any{"branch": "release", "repository": "docs"}, nil,
			[]string{"https://github.test/acme/docs/blob/release/catalog-info.yaml"}},
		{"glob catalog path", map[string]any{"repository": "docs"}, map[string]any{"catalogPath": "/**/catalog-info.yaml"},
			[]string{"https://github.test/acme/docs/blob/main/**/catalog-info.yaml"}},
		{"catalog path without slash", map[string]any{"repository": "docs"}, map[string]any{"catalogPath": "meta/c.yaml"},
			[]string{"https://github.test/acme/docs/blob/main/meta/c.yaml"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			extra := map[string]any{}
			if tc.filters != nil {
				extra["filters"] = tc.filters
			}
			for k, v := range tc.extra {
				extra[k] = v
			}
			p := providersFor(t, srv, discoveryCfg(extra), nil)[0]
			store := &fakeStore{}
			if err := p.Run(context.Background(), store); err != nil {
				t.Fatal(err)
			}
			if got := targets(store.last(t)); !slices.Equal(got, tc.want) {
				t.Fatalf("targets = %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestDiscoveryValidateLocationsExist(t *testing.T) {
	t.Parallel()
	srv := githubtest.New(t)
	srv.AddRepo(githubtest.Repo{Owner: "acme", Name: "has", Files: map[string]string{"catalog-info.yaml": "kind: Component\n"}})
	srv.AddRepo(githubtest.Repo{Owner: "acme", Name: "empty-file", Files: map[string]string{"catalog-info.yaml": ""}})
	srv.AddRepo(githubtest.Repo{Owner: "acme", Name: "none", Files: map[string]string{"README.md": "x"}})
	p := providersFor(t, srv, discoveryCfg(map[string]any{"validateLocationsExist": true}), nil)[0]
	store := &fakeStore{}
	if err := p.Run(context.Background(), store); err != nil {
		t.Fatal(err)
	}
	if got := targets(store.last(t)); !slices.Equal(got, []string{"https://github.test/acme/has/blob/main/catalog-info.yaml"}) {
		t.Fatalf("targets = %v", got)
	}
}

func TestDiscoveryListingFailureKeepsEntities(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := githubtest.New(t)
	addRepos(srv, "acme", 150) // two pages
	p := providersFor(t, srv, discoveryCfg(nil), nil)[0]
	store := &fakeStore{}
	if err := p.Run(ctx, store); err != nil {
		t.Fatal(err)
	}
	for _, status := range []int{http.StatusInternalServerError, http.StatusNotFound, http.StatusUnauthorized} {
		srv.Fail("/orgs/acme/repos", status, -1)
		if err := p.Run(ctx, store); err == nil {
			t.Fatalf("listing answered %d, run succeeded", status)
		}
		srv.ClearFailures()
	}
	// A failure after the first page must not emit the first page alone.
	addRepos(srv, "acme", 160) // changes both pages
	pages := providersWith(t, srv, discoveryCfg(nil), github.ClientOptions{HTTPClient: &http.Client{Transport: failPage2{}}})[0]
	if err := pages.Run(ctx, store); err == nil {
		t.Fatal("run with a failing second page succeeded")
	}
	for i, m := range store.mutations() {
		if len(m.entities) != 150 || i > 0 {
			t.Fatalf("mutation %d emitted %d entities; only the first pass may write", i, len(m.entities))
		}
	}
}

// failPage2 answers every request for a second listing page with a 500.
type failPage2 struct{}

func (failPage2) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Query().Get("page") == "2" {
		return &http.Response{StatusCode: http.StatusInternalServerError, Status: "500 Internal Server Error",
			Header: http.Header{"Content-Type": {"application/json"}}, Request: r,
			Body: io.NopCloser(strings.NewReader(`{"message":"boom"}`))}, nil
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestDiscoveryRateLimitBackOff(t *testing.T) {
	t.Parallel()
	srv := githubtest.New(t)
	addRepos(srv, "acme", 5)
	sl := &sleepLog{}
	p := providersFor(t, srv, discoveryCfg(nil), sl)[0]
	srv.ExhaustRateLimit(1, 40*time.Second)
	store := &fakeStore{}
	if err := p.Run(context.Background(), store); err != nil {
		t.Fatal(err)
	}
	if s := sl.all(); len(s) != 1 || s[0] <= 0 || s[0] > 42*time.Second {
		t.Fatalf("sleeps = %v, want one wait for the reset", s)
	}
	if got := statuses(srv.Requests()); !slices.Equal(got, []int{403, 200}) {
		t.Fatalf("statuses = %v", got)
	}
	if n := len(store.last(t).entities); n != 5 {
		t.Fatalf("%d entities", n)
	}
	srv.SecondaryRateLimit(1, 9)
	addRepos(srv, "acme", 6)
	if err := p.Run(context.Background(), store); err != nil {
		t.Fatal(err)
	}
	if s := sl.all(); len(s) != 2 || s[1] != 9*time.Second {
		t.Fatalf("sleeps = %v, want Retry-After honoured", s)
	}
}
