package github_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/plugins/github"
	"github.com/understage/understage/plugins/github/githubtest"
)

func TestAutocomplete(t *testing.T) {
	srv := githubtest.New(t)
	srv.Token = "user-token"
	// More than one page of repositories (100 per page).
	for i := range 105 {
		srv.AddRepo(githubtest.Repo{Owner: "acme", Name: fmt.Sprintf("r%03d", i)})
	}
	srv.AddRepo(githubtest.Repo{Owner: "zeta", Name: "svc", Branches: map[string]map[string]string{"dev": {}, "release/1": {}}})
	opts := github.ActionOptions{Integrations: []github.Integration{
		{Host: "github.com", APIBaseURL: srv.APIURL(), Token: "integration-token"},
		{Host: "ghe.example.com", APIBaseURL: srv.EnterpriseAPIURL()},
	}}
	complete := github.Autocomplete(opts)
	ids := func(res []any) []string {
		var out []string
		for _, r := range res {
			out = append(out, r.(*ojson.Object).String("id"))
		}
		return out
	}
	tests := []struct {
		name, resource string
		context        map[string]string
		token          string
		want           func([]string) bool
		kind           *backend.Kind
		msg            string
	}{
		{name: "repositories", resource: "repositoriesWithOwner", token: "user-token",
			want: func(got []string) bool { return len(got) == 106 && got[0] == "acme/r000" && got[105] == "zeta/svc" }},
		{name: "branches", resource: "branches", token: "user-token", context: map[string]string{"owner": "zeta", "repository": "svc"},
			want: func(got []string) bool { return fmt.Sprint(got) == "[main dev release/1]" }},
		{name: "owners on an enterprise host", resource: "owners", token: "user-token", context: map[string]string{"host": "ghe.example.com"},
			want: func(got []string) bool { return fmt.Sprint(got) == "[acme zeta]" }},
		{name: "branches without context", resource: "branches", token: "user-token", context: map[string]string{"owner": "zeta"},
			kind: backend.ErrInput, msg: "Missing owner and/or repository context parameter"},
		{name: "unknown resource", resource: "tags", token: "user-token", kind: backend.ErrInput, msg: "Invalid resource: tags"},
		{name: "unknown host is checked first", resource: "tags", token: "user-token", context: map[string]string{"host": "nope.example"},
			kind: backend.ErrInput, msg: "No integration for host nope.example"},
		{name: "the user's token, not the integration's", resource: "owners", token: "stale",
			kind: backend.ErrAuthentication, msg: "Bad credentials"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tc.context
			if ctx == nil {
				ctx = map[string]string{}
			}
			res, err := complete(context.Background(), tc.resource, tc.token, ctx)
			if tc.msg != "" {
				if err == nil || backend.KindOf(err) != tc.kind || err.Error() != tc.msg {
					t.Fatalf("err = %v (%v), want %q", err, backend.KindOf(err), tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(res); !tc.want(got) {
				t.Errorf("ids = %v", got)
			}
		})
	}
}
