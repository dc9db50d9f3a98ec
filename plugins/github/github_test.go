package github_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/github"
	"github.com/understage/understage/plugins/github/githubtest"
)

type testBundle struct {
	srv    *githubtest.Server
	client *github.Client
	reader *github.Reader
	sleeps *sleepLog
}

type sleepLog struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleepLog) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return ctx.Err()
}

func (s *sleepLog) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.d)
}

func setup(t *testing.T, mutate ...func(*github.Integration, *github.ClientOptions)) *testBundle {
	t.Helper()
	srv := githubtest.New(t)
	srv.Token = "s3cret"
	srv.AddRepo(githubtest.Repo{Owner: "acme", Name: "shop", DefaultBranch: "trunk", Files: map[string]string{
		"catalog-info.yaml":            "kind: Component\nmetadata: {name: shop}\n",
		"docs/index.md":                "# Shop",
		"services/a/catalog-info.yaml": "kind: Component\nmetadata: {name: a}\n",
		"services/b/catalog-info.yaml": "kind: Component\nmetadata: {name: b}\n",
		"services/b/README.md":         "b",
	}, Branches: map[string]map[string]string{
		"release": {"catalog-info.yaml": "kind: Component\nmetadata: {name: shop-release}\n"},
	}})
	sl := &sleepLog{}
	integ := github.Integration{Host: "github.test", APIBaseURL: srv.APIURL(), Token: "s3cret"}
	opts := github.ClientOptions{Sleep: sl.sleep, MaxRateLimitWait: time.Hour, Logger: slog.New(slog.DiscardHandler)}
	for _, m := range mutate {
		m(&integ, &opts)
	}
	c, err := github.NewClient(integ, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &testBundle{srv: srv, client: c, reader: github.NewReader(c), sleeps: sl}
}

func TestParseURL(t *testing.T) {
	t.Parallel()
	integ := github.Integration{Host: "github.com"}.WithDefaults()
	ghe := github.Integration{Host: "ghe.example.com"}.WithDefaults()
	tests := []struct {
		name  string
		integ github.Integration
		url   string
		want  github.Location
		err   bool
	}{
		{name: "blob", integ: integ, url: "https://github.com/o/r/blob/main/a/catalog-info.yaml",
			want: github.Location{Owner: "o", Repo: "r", Ref: "main", Path: "a/catalog-info.yaml"}},
		{name: "tree", integ: integ, url: "https://github.com/o/r/tree/v1.2/docs",
			want: github.Location{Owner: "o", Repo: "r", Ref: "v1.2", Path: "docs"}},
		{name: "root without ref", integ: integ, url: "https://github.com/o/r",
			want: github.Location{Owner: "o", Repo: "r"}},
		{name: "dot git suffix", integ: integ, url: "https://github.com/o/r.git",
			want: github.Location{Owner: "o", Repo: "r"}},
		{name: "raw", integ: integ, url: "https://raw.githubusercontent.com/o/r/main/x/y.yaml",
			want: github.Location{Owner: "o", Repo: "r", Ref: "main", Path: "x/y.yaml"}},
		{name: "enterprise raw", integ: ghe, url: "https://ghe.example.com/raw/o/r/dev/c.yaml",
			want: github.Location{Owner: "o", Repo: "r", Ref: "dev", Path: "c.yaml"}},
		{name: "enterprise blob", integ: ghe, url: "https://ghe.example.com/o/r/blob/dev/c.yaml",
			want: github.Location{Owner: "o", Repo: "r", Ref: "dev", Path: "c.yaml"}},
		{name: "query and fragment ignored", integ: integ, url: "https://github.com/o/r/blob/main/c.yaml?raw=true#L3",
			want: github.Location{Owner: "o", Repo: "r", Ref: "main", Path: "c.yaml"}},
		{name: "other host", integ: integ, url: "https://gitlab.com/o/r/blob/main/c.yaml", err: true},
		{name: "traversal", integ: integ, url: "https://github.com/o/r/blob/main/../../../users/x", err: true},
		{name: "encoded traversal", integ: integ, url: "https://github.com/o/r/blob/main/%2e%2e/%2e%2e/x", err: true},
		{name: "encoded slash in owner", integ: integ, url: "https://github.com/o%2F..%2Fx/r/blob/main/c", err: true},
		{name: "no repo", integ: integ, url: "https://github.com/o", err: true},
		{name: "unknown verb", integ: integ, url: "https://github.com/o/r/issues/1", err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.integ.ParseURL(tc.url)
			if tc.err {
				if err == nil {
					t.Fatalf("ParseURL(%s) = %+v, want error", tc.url, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseURL(%s) = %+v, %v; want %+v", tc.url, got, err, tc.want)
			}
		})
	}
}

func TestReadIntegrations(t *testing.T) {
	t.Parallel()
	cfg := config.FromValue(map[string]any{"integrations": map[string]any{"github": []any{
		map[string]any{"host": "ghe.example.com", "token": "x"},
		map[string]any{"host": "github.com", "apiBaseUrl": "http://127.0.0.1:9/"},
	}}}, "app-config.yaml")
	got, err := github.ReadIntegrations(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := []github.Integration{
		{Host: "ghe.example.com", APIBaseURL: "https://ghe.example.com/api/v3", RawBaseURL: "https://ghe.example.com/raw", Token: "x"},
		{Host: "github.com", APIBaseURL: "http://127.0.0.1:9", RawBaseURL: "https://raw.githubusercontent.com"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	def, err := github.ReadIntegrations(config.FromValue(map[string]any{}, "x.yaml"))
	if err != nil || len(def) != 1 || def[0].APIBaseURL != "https://api.github.com" {
		t.Fatalf("default integrations = %+v, %v", def, err)
	}
	bad := config.FromValue(map[string]any{"integrations": map[string]any{"github": []any{
		map[string]any{"host": "a.example.com", "apiBaseUrl": "ftp://x"}}}}, "x.yaml")
	if _, err := github.ReadIntegrations(bad); err == nil {
		t.Fatal("ftp apiBaseUrl accepted")
	}
}

func TestReadURL(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tests := []struct {
		name string
		url  string
		want string
		kind *backend.Kind
	}{
		{name: "blob on default branch", url: "https://github.test/acme/shop/blob/trunk/catalog-info.yaml",
			want: "kind: Component\nmetadata: {name: shop}\n"},
		{name: "other branch", url: "https://github.test/acme/shop/blob/release/catalog-info.yaml",
			want: "kind: Component\nmetadata: {name: shop-release}\n"},
		{name: "raw url", url: "https://github.test/raw/acme/shop/trunk/docs/index.md", want: "# Shop"},
		{name: "nested", url: "https://github.test/acme/shop/blob/trunk/services/a/catalog-info.yaml",
			want: "kind: Component\nmetadata: {name: a}\n"},
		{name: "missing file", url: "https://github.test/acme/shop/blob/trunk/nope.yaml", kind: backend.ErrNotFound},
		{name: "missing repo", url: "https://github.test/acme/nope/blob/trunk/c.yaml", kind: backend.ErrNotFound},
		{name: "missing branch", url: "https://github.test/acme/shop/blob/gone/c.yaml", kind: backend.ErrNotFound},
		{name: "directory", url: "https://github.test/acme/shop/blob/trunk/services", kind: backend.ErrNotFound},
		{name: "traversal", url: "https://github.test/acme/shop/blob/trunk/%2e%2e/x", kind: backend.ErrInput},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := b.reader.ReadURL(ctx, tc.url, catalog.ReadOptions{})
			if tc.kind != nil {
				if backend.KindOf(err) != tc.kind {
					t.Fatalf("err = %v (kind %v), want %s", err, backend.KindOf(err), tc.kind.Name)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(res.Data) != tc.want || res.ETag == "" {
				t.Fatalf("got %q etag %q, want %q", res.Data, res.ETag, tc.want)
			}
		})
	}
	for _, r := range b.srv.Requests() {
		if r.Auth != "Bearer s3cret" {
			t.Fatalf("request %s without the token: %q", r.Path, r.Auth)
		}
	}
}

func TestReadURLConditional(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	// No ref: the default branch is looked up.
	u := "https://github.test/acme/shop"
	if _, err := b.reader.ReadURL(ctx, u, catalog.ReadOptions{}); backend.KindOf(err) != backend.ErrInput {
		t.Fatalf("repo root read as file: %v", err)
	}
	u = "https://github.test/acme/shop/blob/trunk/catalog-info.yaml"
	first, err := b.reader.ReadURL(ctx, u, catalog.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b.srv.ResetLog()
	_, err = b.reader.ReadURL(ctx, u, catalog.ReadOptions{ETag: first.ETag})
	if !errors.Is(err, backend.ErrNotModified) {
		t.Fatalf("conditional read: %v, want not modified", err)
	}
	reqs := b.srv.Requests()
	if len(reqs) != 1 || !reqs[0].Conditional || reqs[0].Status != http.StatusNotModified {
		t.Fatalf("requests = %+v, want one conditional 304", reqs)
	}
	b.srv.SetFile("acme/shop", "catalog-info.yaml", "changed")
	res, err := b.reader.ReadURL(ctx, u, catalog.ReadOptions{ETag: first.ETag})
	if err != nil || string(res.Data) != "changed" || res.ETag == first.ETag {
		t.Fatalf("after change: %q %q %v", res.Data, res.ETag, err)
	}
}

func TestSearchAndTree(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	res, err := b.reader.Search(ctx, "https://github.test/acme/shop/blob/trunk/**/catalog-info.yaml", catalog.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var urls []string
	for _, f := range res.Files {
		urls = append(urls, f.URL+"="+strings.TrimSpace(string(f.Data)))
	}
	want := []string{
		"https://github.test/acme/shop/blob/trunk/catalog-info.yaml=kind: Component\nmetadata: {name: shop}",
		"https://github.test/acme/shop/blob/trunk/services/a/catalog-info.yaml=kind: Component\nmetadata: {name: a}",
		"https://github.test/acme/shop/blob/trunk/services/b/catalog-info.yaml=kind: Component\nmetadata: {name: b}",
	}
	if !slices.Equal(urls, want) {
		t.Fatalf("search = %q\nwant %q", urls, want)
	}
	// Default branch resolution for a search URL without a ref is covered by
	// a direct tree URL; a repeat with the ETag is one conditional 304.
	b.srv.ResetLog()
	if _, err := b.reader.Search(ctx, "https://github.test/acme/shop/blob/trunk/**/catalog-info.yaml",
		catalog.ReadOptions{ETag: res.ETag}); !errors.Is(err, backend.ErrNotModified) {
		t.Fatalf("repeat search: %v", err)
	}
	if n := b.srv.Count(func(r githubtest.Request) bool { return !r.Conditional || r.Status != 304 }); n != 0 {
		t.Fatalf("repeat search made %d unconditional or non-304 requests: %+v", n, b.srv.Requests())
	}

	none, err := b.reader.Search(ctx, "https://github.test/acme/shop/blob/trunk/*.json", catalog.ReadOptions{})
	if err != nil || len(none.Files) != 0 {
		t.Fatalf("no match = %+v, %v", none, err)
	}
	single, err := b.reader.Search(ctx, "https://github.test/acme/shop/blob/trunk/missing.yaml", catalog.ReadOptions{})
	if err != nil || len(single.Files) != 0 {
		t.Fatalf("missing single file = %+v, %v", single, err)
	}

	tree, err := b.reader.ReadTree(ctx, "https://github.test/acme/shop/tree/trunk/services/b", catalog.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range tree.Files {
		paths = append(paths, f.Path)
	}
	sort.Strings(paths)
	if !slices.Equal(paths, []string{"README.md", "catalog-info.yaml"}) || tree.ETag == "" {
		t.Fatalf("tree = %v etag %q", paths, tree.ETag)
	}
	// Without a ref, the default branch (trunk) is read.
	root, err := b.reader.ReadTree(ctx, "https://github.test/acme/shop", catalog.ReadOptions{})
	if err != nil || len(root.Files) != 5 {
		t.Fatalf("root tree: %d files, %v", len(root.Files), err)
	}
	if _, err := b.reader.ReadTree(ctx, "https://github.test/acme/shop/tree/trunk/nothing", catalog.ReadOptions{}); backend.KindOf(err) != backend.ErrNotFound {
		t.Fatalf("empty dir: %v", err)
	}
}

// TestDiscoveryPassIsConditional is the acceptance check of issue 3: a second
// pass over an unchanged organisation makes only conditional requests, all
// answered 304.
func TestDiscoveryPassIsConditional(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	const n = 150 // two pages of 100
	for i := range n {
		b.srv.AddRepo(githubtest.Repo{Owner: "big", Name: fmt.Sprintf("repo-%03d", i), Files: map[string]string{
			"catalog-info.yaml": fmt.Sprintf("metadata: {name: r%d}\n", i), "src/main.go": "package main"}})
	}
	etags := map[string]string{}
	pass := func() (found, unchanged int) {
		repos, err := b.client.ListOrgRepos(ctx, "big")
		if err != nil {
			t.Fatal(err)
		}
		if len(repos) != n {
			t.Fatalf("listed %d repositories, want %d", len(repos), n)
		}
		for _, r := range repos {
			u := fmt.Sprintf("https://github.test/big/%s/blob/%s/**/catalog-info.yaml", r.GetName(), r.GetDefaultBranch())
			res, err := b.reader.Search(ctx, u, catalog.ReadOptions{ETag: etags[u]})
			if errors.Is(err, backend.ErrNotModified) {
				unchanged++
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			etags[u] = res.ETag
			found += len(res.Files)
		}
		return found, unchanged
	}
	if found, _ := pass(); found != n {
		t.Fatalf("first pass found %d files", found)
	}
	if pages := b.srv.Count(func(r githubtest.Request) bool { return r.Path == "/orgs/big/repos" }); pages != 2 {
		t.Fatalf("first pass listed %d pages, want 2", pages)
	}
	b.srv.ResetLog()
	if _, unchanged := pass(); unchanged != n {
		t.Fatalf("second pass: %d unchanged, want %d", unchanged, n)
	}
	reqs := b.srv.Requests()
	if len(reqs) != n+2 {
		t.Fatalf("second pass made %d requests, want %d", len(reqs), n+2)
	}
	for _, r := range reqs {
		if !r.Conditional || r.Status != http.StatusNotModified {
			t.Fatalf("second pass request %+v is not a conditional 304", r)
		}
	}
	// One changed repository costs exactly its own reads.
	b.srv.SetFile("big/repo-007", "catalog-info.yaml", "metadata: {name: changed}\n")
	b.srv.ResetLog()
	if _, unchanged := pass(); unchanged != n-1 {
		t.Fatalf("third pass: %d unchanged, want %d", unchanged, n-1)
	}
	if full := b.srv.Count(func(r githubtest.Request) bool { return r.Status == http.StatusOK }); full != 2 {
		t.Fatalf("third pass made %d full answers, want tree + blob", full)
	}
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u := "https://github.test/acme/shop/blob/trunk/docs/index.md"

	t.Run("primary limit waits for the reset", func(t *testing.T) {
		b := setup(t)
		b.srv.ExhaustRateLimit(1, 30*time.Second)
		res, err := b.reader.ReadURL(ctx, u, catalog.ReadOptions{})
		if err != nil || string(res.Data) != "# Shop" {
			t.Fatalf("read = %q, %v", res.Data, err)
		}
		s := b.sleeps.all()
		if len(s) != 1 || s[0] <= 0 || s[0] > 32*time.Second {
			t.Fatalf("sleeps = %v, want one wait up to the reset", s)
		}
		if got := statuses(b.srv.Requests()); !slices.Equal(got, []int{403, 200}) {
			t.Fatalf("statuses = %v", got)
		}
	})
	t.Run("secondary limit honours Retry-After", func(t *testing.T) {
		b := setup(t)
		b.srv.SecondaryRateLimit(2, 7)
		if _, err := b.reader.ReadURL(ctx, u, catalog.ReadOptions{}); err != nil {
			t.Fatal(err)
		}
		if s := b.sleeps.all(); !slices.Equal(s, []time.Duration{7 * time.Second, 7 * time.Second}) {
			t.Fatalf("sleeps = %v", s)
		}
	})
	t.Run("a reset beyond the bound fails at once", func(t *testing.T) {
		b := setup(t, func(_ *github.Integration, o *github.ClientOptions) { o.MaxRateLimitWait = time.Minute })
		b.srv.ExhaustRateLimit(1, 2*time.Hour)
		if _, err := b.reader.ReadURL(ctx, u, catalog.ReadOptions{}); err == nil {
			t.Fatal("read succeeded through an exhausted limit")
		}
		if len(b.sleeps.all()) != 0 {
			t.Fatalf("slept %v", b.sleeps.all())
		}
		// The next request does not even reach GitHub before the reset.
		b.srv.ResetLog()
		if _, err := b.reader.ReadURL(ctx, u, catalog.ReadOptions{}); !errors.Is(err, backend.ErrUnavailable) {
			t.Fatalf("second read: %v", err)
		}
		if n := len(b.srv.Requests()); n != 0 {
			t.Fatalf("%d requests sent while exhausted", n)
		}
	})
	t.Run("cancelled context stops the wait", func(t *testing.T) {
		b := setup(t)
		b.srv.ExhaustRateLimit(5, 30*time.Second)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := b.reader.ReadURL(cctx, u, catalog.ReadOptions{}); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	})
}

func statuses(reqs []githubtest.Request) []int {
	var out []int
	for _, r := range reqs {
		out = append(out, r.Status)
	}
	return out
}

func TestServerErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.srv.Fail("/repos/acme/shop/contents", http.StatusInternalServerError, -1)
	_, err := b.reader.ReadURL(ctx, "https://github.test/acme/shop/blob/trunk/catalog-info.yaml", catalog.ReadOptions{})
	if err == nil || backend.KindOf(err) == backend.ErrNotFound || errors.Is(err, backend.ErrNotModified) {
		t.Fatalf("500 gave %v", err)
	}
	bad := setup(t, func(i *github.Integration, _ *github.ClientOptions) { i.Token = "wrong" })
	_, err = bad.reader.ReadURL(ctx, "https://github.test/acme/shop/blob/trunk/catalog-info.yaml", catalog.ReadOptions{})
	if backend.KindOf(err) != backend.ErrAuthentication {
		t.Fatalf("bad token gave %v", err)
	}
}

func TestEnterpriseLayout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, err := github.NewClient(github.Integration{Host: "ghe.test", APIBaseURL: b.srv.EnterpriseAPIURL(), Token: "s3cret"},
		github.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := github.NewReader(c).ReadURL(context.Background(), "https://ghe.test/acme/shop/blob/trunk/docs/index.md", catalog.ReadOptions{})
	if err != nil || string(res.Data) != "# Shop" {
		t.Fatalf("read = %q, %v", res.Data, err)
	}
}

func TestOrgListing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.srv.AddUser(githubtest.User{Login: "ann", Name: "Ann A", Email: "ann@example.com"})
	for i := range 120 {
		b.srv.AddMember("acme", fmt.Sprintf("user%03d", i))
	}
	b.srv.AddMember("acme", "ann")
	b.srv.AddTeam("acme", githubtest.Team{Slug: "eng", Name: "Engineering", Members: []string{"ann"}})
	b.srv.AddTeam("acme", githubtest.Team{Slug: "web", Parent: "eng", Members: []string{"ann", "user001"}})
	members, err := b.client.ListOrgMembers(ctx, "acme")
	if err != nil || len(members) != 121 {
		t.Fatalf("members: %d, %v", len(members), err)
	}
	u, err := b.client.GetUser(ctx, "ann")
	if err != nil || u.GetName() != "Ann A" || u.GetEmail() != "ann@example.com" {
		t.Fatalf("user = %+v, %v", u, err)
	}
	teams, err := b.client.ListTeams(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tm := range teams {
		got = append(got, fmt.Sprintf("%s(%s)<%s>%v", tm.GetSlug(), tm.GetName(), tm.Parent, tm.Members))
	}
	want := []string{"eng(Engineering)<>[ann]", "web(web)<eng>[ann user001]"}
	if !slices.Equal(got, want) {
		t.Fatalf("teams = %v, want %v", got, want)
	}
	if _, err := b.client.ListTeams(ctx, "nobody"); backend.KindOf(err) != backend.ErrNotFound {
		t.Fatalf("unknown org: %v", err)
	}
}
