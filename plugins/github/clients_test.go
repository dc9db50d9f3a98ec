package github_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/github"
	"github.com/understage/understage/plugins/github/githubtest"
)

// One client per host and token: every consumer that asks a Clients for a
// host gets the same client, so the second reader's read of a file is a
// conditional request answered from the first one's cache, and an action's
// (autocomplete's) repeated call with one user token reuses its client too.
func TestClientsShareOneClientPerHost(t *testing.T) {
	srv := githubtest.New(t)
	srv.AddRepo(githubtest.Repo{Owner: "acme", Name: "shop", DefaultBranch: "trunk",
		Files: map[string]string{"catalog-info.yaml": "kind: Component\nmetadata: {name: shop}\n"}})
	integ := github.Integration{Host: "github.test", APIBaseURL: srv.APIURL()}
	cs := github.NewClients([]github.Integration{integ}, github.ClientOptions{Logger: slog.New(slog.DiscardHandler)})
	ctx := context.Background()

	a, ok, err := cs.For("github.test")
	if err != nil || !ok {
		t.Fatalf("For: %v %v", ok, err)
	}
	b, _, _ := cs.For("GITHUB.test")
	if a != b {
		t.Fatal("two clients for one host")
	}
	if _, ok, _ := cs.For("other.test"); ok {
		t.Fatal("a client for an unconfigured host")
	}
	u1, _ := cs.WithToken(integ, "user-1")
	u1again, _ := cs.WithToken(integ, "user-1")
	u2, _ := cs.WithToken(integ, "user-2")
	if u1 != u1again || u1 == u2 || u1 == a {
		t.Fatal("clients per token are not kept one per token")
	}

	const file = "https://github.test/acme/shop/blob/trunk/catalog-info.yaml"
	conditional := func() int {
		return srv.Count(func(r githubtest.Request) bool { return r.Conditional && r.Status == 304 })
	}
	if _, err := github.NewReader(a).ReadURL(ctx, file, catalog.ReadOptions{}); err != nil {
		t.Fatal(err)
	}
	before := conditional()
	if _, err := github.NewReader(b).ReadURL(ctx, file, catalog.ReadOptions{}); err != nil {
		t.Fatal(err)
	}
	if conditional() == before {
		t.Fatal("the second reader did not reuse the first one's cache")
	}

	// A separately built client has its own cache: its first read is not
	// conditional. This is what building a client per call site did.
	other, err := github.NewClient(integ, github.ClientOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	before = conditional()
	if _, err := github.NewReader(other).ReadURL(ctx, file, catalog.ReadOptions{}); err != nil {
		t.Fatal(err)
	}
	if conditional() != before {
		t.Fatal("a fresh client sent a conditional request")
	}

	// Actions' autocomplete through the shared Clients: the second call
	// with one token is answered from the same client's cache.
	complete := github.Autocomplete(github.ActionOptions{Integrations: []github.Integration{integ}, Clients: cs})
	for range 2 {
		if _, err := complete(ctx, "owners", "user-1", map[string]string{"host": "github.test"}); err != nil {
			t.Fatal(err)
		}
	}
	srv.ResetLog()
	if _, err := complete(ctx, "owners", "user-1", map[string]string{"host": "github.test"}); err != nil {
		t.Fatal(err)
	}
	if n := srv.Count(func(r githubtest.Request) bool { return !r.Conditional && r.Method == "GET" }); n != 0 {
		t.Fatalf("%d unconditional requests on a repeated call with one token", n)
	}
}
