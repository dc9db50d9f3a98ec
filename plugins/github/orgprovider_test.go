package github_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/plugins/github/githubtest"
)

func orgServer(t *testing.T) *githubtest.Server {
	t.Helper()
	srv := githubtest.New(t)
	srv.AddUser(githubtest.User{Login: "alice", Name: "Alice Liddell", Email: "alice@acme.test", Bio: "Platform lead"})
	srv.AddUser(githubtest.User{Login: "bob"})
	srv.AddMember("acme", "alice")
	srv.AddMember("acme", "bob")
	srv.AddTeam("acme", githubtest.Team{Slug: "platform", Name: "Platform", Description: "Platform team", Members: []string{"alice"}})
	srv.AddTeam("acme", githubtest.Team{Slug: "infra", Name: "Infra", Parent: "platform", Members: []string{"alice", "bob"}})
	srv.AddMember("beta", "bob")
	srv.AddTeam("beta", githubtest.Team{Slug: "infra", Name: "Beta Infra", Members: []string{"bob"}})
	return srv
}

func orgCfg(orgs ...any) map[string]any {
	return map[string]any{"githubOrg": map[string]any{"id": "production", "githubUrl": "https://github.test",
		"orgs": orgs, "schedule": everyHour}}
}

func TestOrgProviderSingleOrg(t *testing.T) {
	t.Parallel()
	srv := orgServer(t)
	ps := providersFor(t, srv, orgCfg("acme"), nil)
	if len(ps) != 1 || ps[0].Name() != "GithubMultiOrgEntityProvider:production" {
		t.Fatalf("providers = %v", ps)
	}
	store := &fakeStore{}
	if err := ps[0].Run(context.Background(), store); err != nil {
		t.Fatal(err)
	}
	m := store.last(t)
	if m.provider != "GithubMultiOrgEntityProvider:production" {
		t.Fatalf("provider = %s", m.provider)
	}
	// One org under one provider: groups stay in the default namespace and
	// memberships are bare names, as Backstage emits them.
	want := []string{
		`{"metadata":{"annotations":{"backstage.io/managed-by-location":"url:https://github.test/alice","backstage.io/managed-by-origin-location":"url:https://github.test/alice","github.com/user-login":"alice"},"name":"alice","description":"Platform lead"},"apiVersion":"backstage.io/v1alpha1","kind":"User","spec":{"profile":{"displayName":"Alice Liddell","email":"alice@acme.test","picture":"https://avatars.example.test/alice"},"memberOf":["platform","infra"]}}`,
		`{"metadata":{"annotations":{"backstage.io/managed-by-location":"url:https://github.test/bob","backstage.io/managed-by-origin-location":"url:https://github.test/bob","github.com/user-login":"bob"},"name":"bob"},"apiVersion":"backstage.io/v1alpha1","kind":"User","spec":{"profile":{"picture":"https://avatars.example.test/bob"},"memberOf":["infra"]}}`,
		`{"metadata":{"annotations":{"backstage.io/managed-by-location":"url:https://github.test/orgs/acme/teams/platform","backstage.io/managed-by-origin-location":"url:https://github.test/orgs/acme/teams/platform","github.com/team-slug":"acme/platform","backstage.io/edit-url":"https://github.test/orgs/acme/teams/platform/edit"},"name":"platform","description":"Platform team"},"apiVersion":"backstage.io/v1alpha1","kind":"Group","spec":{"type":"team","profile":{"displayName":"Platform"},"children":["infra"],"members":["default/alice"]}}`,
		`{"metadata":{"annotations":{"backstage.io/managed-by-location":"url:https://github.test/orgs/acme/teams/infra","backstage.io/managed-by-origin-location":"url:https://github.test/orgs/acme/teams/infra","github.com/team-slug":"acme/infra","backstage.io/edit-url":"https://github.test/orgs/acme/teams/infra/edit"},"name":"infra"},"apiVersion":"backstage.io/v1alpha1","kind":"Group","spec":{"type":"team","profile":{"displayName":"Infra"},"children":[],"parent":"platform","members":["default/alice","default/bob"]}}`,
	}
	if len(m.entities) != len(want) {
		t.Fatalf("%d entities, want %d", len(m.entities), len(want))
	}
	for i, e := range m.entities {
		if got := string(ojson.MustMarshal(e.Entity)); got != want[i] {
			t.Errorf("entity %d:\n got %s\nwant %s", i, got, want[i])
		}
		if e.LocationKey != "github-multi-org-provider:production" {
			t.Errorf("locationKey = %q", e.LocationKey)
		}
	}

	// Unchanged org data costs conditional requests only.
	srv.ResetLog()
	if err := ps[0].Run(context.Background(), store); err != nil {
		t.Fatal(err)
	}
	for _, r := range srv.Requests() {
		if !r.Conditional || r.Status != http.StatusNotModified {
			t.Fatalf("second pass request %+v is not a conditional 304", r)
		}
	}
}

func TestOrgProviderMultiOrg(t *testing.T) {
	t.Parallel()
	srv := orgServer(t)
	p := providersFor(t, srv, orgCfg("acme", "beta"), nil)[0]
	store := &fakeStore{}
	if err := p.Run(context.Background(), store); err != nil {
		t.Fatal(err)
	}
	got := map[string]*ojson.Object{}
	for _, e := range store.last(t).entities {
		md := e.Entity.Object("metadata")
		got[e.Entity.String("kind")+":"+md.String("namespace")+"/"+md.String("name")] = e.Entity
	}
	if len(got) != 5 {
		t.Fatalf("entities = %v", keysOf(got))
	}
	// Users are listed once across orgs; groups live in their org's
	// namespace and memberships name it.
	bob := got["User:/bob"]
	if bob == nil {
		t.Fatalf("no bob in %v", keysOf(got))
	}
	memberOf, _ := bob.Object("spec").Get("memberOf")
	if mo := string(ojson.MustMarshal(memberOf)); mo != `["acme/infra","beta/infra"]` {
		t.Fatalf("bob memberOf = %s", mo)
	}
	for _, k := range []string{"Group:acme/platform", "Group:acme/infra", "Group:beta/infra"} {
		if got[k] == nil {
			t.Fatalf("missing %s in %v", k, keysOf(got))
		}
	}
	if loc := got["Group:beta/infra"].Object("metadata").Object("annotations").String("backstage.io/managed-by-location"); loc != "url:https://github.test/orgs/beta/teams/infra" {
		t.Fatalf("location = %s", loc)
	}
}

func TestOrgProviderFailureKeepsEntities(t *testing.T) {
	t.Parallel()
	srv := orgServer(t)
	p := providersFor(t, srv, orgCfg("acme"), nil)[0]
	store := &fakeStore{}
	if err := p.Run(context.Background(), store); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/orgs/acme/members", "/orgs/acme/teams", "/users/bob", "/orgs/acme/teams/infra/members"} {
		srv.Fail(path, http.StatusInternalServerError, -1)
		if err := p.Run(context.Background(), store); err == nil {
			t.Fatalf("run with %s failing succeeded", path)
		}
		srv.ClearFailures()
	}
	if n := len(store.mutations()); n != 1 {
		t.Fatalf("%d mutations, want only the first run's", n)
	}
}

func keysOf(m map[string]*ojson.Object) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
